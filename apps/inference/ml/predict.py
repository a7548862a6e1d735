"""Tiled inference over aerial photos: RGB + NIR + elevation rasters → class and confidence
Cloud-Optimised GeoTIFFs.

- The 5-band stack is read with rasterio windows from separate, aligned rasters (GeoTIFF,
  COG, or JPEG 2000 when GDAL reads it).
- Windows of `tile` pixels overlap by `margin` on each side; only each window's centre is kept,
  so the mosaic has no seams. Borders are mirrored.
- A reader thread prefetches the next batches and a writer thread writes finished ones, so the
  device does not wait on the disk. On CUDA: bf16 autocast and channels_last.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import torch
from rasterio.windows import Window

from .checkpoint import ModelMeta

CLASS_NODATA = 0
CONF_NODATA = 255


class InputError(ValueError):
    """The input rasters cannot be used together; the message says why."""


@dataclass
class Sources:
    rgb: Path
    nir: Path
    elevation: Path

    def paths(self):
        return {"rgb": Path(self.rgb), "nir": Path(self.nir), "elevation": Path(self.elevation)}


@dataclass
class StageTimes:
    read: float = 0.0
    compute: float = 0.0
    write: float = 0.0
    wait_read: float = 0.0
    total: float = 0.0
    pixels: int = 0
    tiles: int = 0
    extra: dict = field(default_factory=dict)


def pick_device(requested: str | None = None) -> torch.device:
    if requested and requested != "auto":
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_sources(sources: Sources) -> dict:
    """Open the three rasters, check bands and alignment; return the common grid."""
    need = {"rgb": 3, "nir": 1, "elevation": 1}
    grids = {}
    for name, path in sources.paths().items():
        if not path.is_file():
            raise InputError(f"{name} raster not found: {path}")
        try:
            with rasterio.open(path) as ds:
                grids[name] = (ds.crs, ds.transform, ds.width, ds.height, ds.count)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"{name} raster unreadable ({path.name}): {exc}") from exc
        if grids[name][4] < need[name]:
            raise InputError(
                f"{name} raster {path.name} has {grids[name][4]} band(s), {need[name]} needed"
            )
    crs, transform, width, height, _ = grids["rgb"]
    if crs is None:
        raise InputError("the RGB raster has no coordinate reference system")
    for name in ("nir", "elevation"):
        c, t, w, h, _ = grids[name]
        if c != crs:
            raise InputError(f"{name} raster is in {c}, the RGB raster in {crs}: not aligned")
        if (w, h) != (width, height) or not t.almost_equals(transform, precision=1e-6):
            raise InputError(
                f"{name} raster is not aligned with the RGB raster "
                f"({w}×{h} at {tuple(t)[:6]} vs {width}×{height} at {tuple(transform)[:6]})"
            )
    return {"crs": crs, "transform": transform, "width": width, "height": height}


def _read(datasets, window: Window, full_w: int, full_h: int, size: int):
    """Read the 5-band stack for `window` (may overrun the raster), mirrored to `size`, and
    where the photos have data (their mask: nodata, or no dalle there — a mosaic's alpha);
    False outside the raster."""
    c0, r0 = int(window.col_off), int(window.row_off)
    c1, r1 = c0 + int(window.width), r0 + int(window.height)
    rc0, rr0, rc1, rr1 = max(c0, 0), max(r0, 0), min(c1, full_w), min(r1, full_h)
    win = Window(rc0, rr0, rc1 - rc0, rr1 - rr0)
    rgb, nir, dem = datasets
    stack = np.concatenate(
        [
            rgb.read([1, 2, 3], window=win),
            nir.read([1], window=win),
            dem.read([1], window=win),
        ]
    ).astype(np.float32)
    valid = rgb.dataset_mask(window=win) > 0
    pad = (
        (0, 0),
        (rr0 - r0, size - (rr0 - r0) - stack.shape[1]),
        (rc0 - c0, size - (rc0 - c0) - stack.shape[2]),
    )
    if any(p for p in pad[1] + pad[2]):
        mode = "reflect" if min(stack.shape[1:]) > max(max(pad[1]), max(pad[2])) else "edge"
        stack = np.pad(stack, pad, mode=mode)
        valid = np.pad(valid, pad[1:], mode="constant", constant_values=False)
    return stack, valid


def tile_windows(width: int, height: int, core: int, area: Window | None = None):
    """Core windows (col, row, w, h) covering `area` (default: the whole raster)."""
    a = area or Window(0, 0, width, height)
    c0, r0 = int(a.col_off), int(a.row_off)
    c1, r1 = min(c0 + int(a.width), width), min(r0 + int(a.height), height)
    for row in range(r0, r1, core):
        for col in range(c0, c1, core):
            yield Window(col, row, min(core, c1 - col), min(core, r1 - row))


def predict_to_cog(
    model: torch.nn.Module,
    meta: ModelMeta,
    sources: Sources,
    out_class: Path,
    out_conf: Path,
    *,
    area: Window | None = None,
    tile: int | None = None,
    margin: int = 64,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    prefetch: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> StageTimes:
    """Classify `area` of the sources; write class ids and confidence (0–100 %) as COGs."""
    grid = check_sources(sources)
    tile = tile or meta.tile_size
    if tile % 32 or tile <= 2 * margin:
        raise InputError(f"tile {tile} must be a multiple of 32 and larger than 2×margin")
    core = tile - 2 * margin
    dev = pick_device(device) if not isinstance(device, torch.device) else device
    model = model.to(dev).eval()
    cuda = dev.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    mean = torch.tensor(meta.mean, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    class_ids = torch.tensor(meta.class_ids, dtype=torch.uint8, device=dev)
    a = area or Window(0, 0, grid["width"], grid["height"])
    aw = min(int(a.width), grid["width"] - int(a.col_off))
    ah = min(int(a.height), grid["height"] - int(a.row_off))
    windows = list(tile_windows(grid["width"], grid["height"], core, a))
    batches = [windows[i : i + batch_size] for i in range(0, len(windows), batch_size)]
    times = StageTimes(tiles=len(windows), pixels=aw * ah)
    transform = rasterio.windows.transform(Window(a.col_off, a.row_off, aw, ah), grid["transform"])
    profile = {
        "driver": "GTiff",
        "width": aw,
        "height": ah,
        "count": 1,
        "dtype": "uint8",
        "crs": grid["crs"],
        "transform": transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    tmp_class = Path(out_class).with_suffix(".tmp.tif")
    tmp_conf = Path(out_conf).with_suffix(".tmp.tif")
    start = time.perf_counter()
    read_q: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    write_q: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    errors: list[BaseException] = []

    def reader():
        try:
            with ExitStack() as stack:
                ds = [stack.enter_context(rasterio.open(p)) for p in sources.paths().values()]
                for batch in batches:
                    t = time.perf_counter()
                    read = [
                        _read(
                            ds,
                            Window(w.col_off - margin, w.row_off - margin, tile, tile),
                            grid["width"],
                            grid["height"],
                            tile,
                        )
                        for w in batch
                    ]
                    times.read += time.perf_counter() - t
                    arrays, valid = zip(*read, strict=True)
                    read_q.put((batch, np.stack(arrays), np.stack(valid)))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            read_q.put(None)

    def writer():
        try:
            with (
                rasterio.open(tmp_class, "w", nodata=CLASS_NODATA, **profile) as dc,
                rasterio.open(tmp_conf, "w", nodata=CONF_NODATA, **profile) as df,
            ):
                while (item := write_q.get()) is not None:
                    t = time.perf_counter()
                    batch, classes, confs = item
                    for w, c, f in zip(batch, classes, confs, strict=True):
                        h, wd = int(w.height), int(w.width)
                        out = Window(
                            int(w.col_off) - int(a.col_off), int(w.row_off) - int(a.row_off), wd, h
                        )
                        dc.write(c[margin : margin + h, margin : margin + wd], 1, window=out)
                        df.write(f[margin : margin + h, margin : margin + wd], 1, window=out)
                    times.write += time.perf_counter() - t
        except BaseException as exc:
            errors.append(exc)
            while write_q.get() is not None:  # drain so the producer never blocks
                pass

    threads = [
        threading.Thread(target=reader, daemon=True),
        threading.Thread(target=writer, daemon=True),
    ]
    for th in threads:
        th.start()
    done = 0
    try:
        with torch.inference_mode():
            while True:
                t = time.perf_counter()
                item = read_q.get()
                times.wait_read += time.perf_counter() - t
                if item is None or errors:
                    break
                batch, arrays, valid = item
                t = time.perf_counter()
                x = torch.from_numpy(arrays).to(dev, non_blocking=True)
                x = (x - mean) / std
                if cuda:
                    x = x.contiguous(memory_format=torch.channels_last)
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        logits = model(x)
                else:
                    logits = model(x)
                prob = torch.softmax(logits.float(), dim=1)
                conf, idx = prob.max(dim=1)
                classes = class_ids[idx].cpu().numpy()
                confs = (conf * 100).round().to(torch.uint8).cpu().numpy()
                # No photo there (nodata, a missing dalle): not classified, never a polygon.
                classes[~valid] = CLASS_NODATA
                confs[~valid] = CONF_NODATA
                times.compute += time.perf_counter() - t
                write_q.put((batch, classes, confs))
                done += len(batch)
                if progress:
                    progress(done, len(windows))
    finally:
        write_q.put(None)
        for th in threads:
            th.join()
    if errors:
        for p in (tmp_class, tmp_conf):
            p.unlink(missing_ok=True)
        raise errors[0]
    t = time.perf_counter()
    for tmp, out in ((tmp_class, out_class), (tmp_conf, out_conf)):
        rasterio.shutil.copy(
            tmp, out, driver="COG", compress="DEFLATE", blocksize=512, overview_resampling="nearest"
        )
        tmp.unlink()
    times.write += time.perf_counter() - t
    times.total = time.perf_counter() - start
    return times


def predict_array(
    model: torch.nn.Module, meta: ModelMeta, stack: np.ndarray, device: str | torch.device = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-array prediction (no tiling): (class ids, confidence 0–100). For tests and
    small areas; sides must be multiples of 32."""
    dev = torch.device(device)
    x = torch.from_numpy(stack[None].astype(np.float32)).to(dev)
    mean = torch.tensor(meta.mean, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    with torch.inference_mode():
        prob = torch.softmax(model.to(dev).eval()((x - mean) / std).float(), dim=1)
    conf, idx = prob.max(dim=1)
    ids = np.asarray(meta.class_ids, dtype=np.uint8)[idx[0].cpu().numpy()]
    return ids, (conf[0] * 100).round().to(torch.uint8).cpu().numpy()
