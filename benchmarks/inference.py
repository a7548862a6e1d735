"""Inference pipeline throughput (reading the rasters to polygons) against a bare model
forward over the same windows, in the same run; time per stage; the time 150 gigapixels
(a département at 20 cm) would take at that speed.

The bare forward reads nothing: the same 512-px windows (with their overlapping margins) are
loaded into memory first, then only normalisation, the forward and the arg-max are timed —
the floor any pipeline pays on this device. On a CUDA machine: `benchmarks/inference_gpu.sh`.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

DEPARTEMENT_PX = 150e9


def _imagery(root: Path) -> dict:
    from apps.inference.ml.synthetic import render_geopackage

    out = root / "var" / "data" / "bench_imagery"
    paths = {n: out / f"{n}.tif" for n in ("rgb", "nir", "elevation")}
    if not all(p.exists() for p in paths.values()):
        demo = root / "var" / "data" / "demo" / "ocsge_M1.gpkg"
        if not demo.exists():
            raise SystemExit("the demo département is needed first: make demo-data")
        print("rendering the benchmark imagery (demo M1 at 2.5 m) …", flush=True)
        render_geopackage(demo, out, res=2.5, seed=1, log=lambda *_: None)
    return paths


def _model(root: Path):
    import torch

    from apps.inference.ml.checkpoint import ModelMeta, load_checkpoint
    from apps.inference.ml.unet import UNet

    demo = root / "var" / "models" / "demo_unet.pt"
    if demo.exists():
        return (*load_checkpoint(demo), "demo checkpoint")
    torch.manual_seed(0)  # throughput does not depend on the weights
    meta = ModelMeta(
        encoder="resnet18",
        classes=[(i, str(i)) for i in range(1, 18)],
        mean=[120] * 4 + [50],
        std=[50] * 4 + [30],
        tile_size=512,
    )
    return UNet("resnet18", 5, 17).eval(), meta, "random weights"


def bench_inference(args, root: Path) -> dict:
    import django

    django.setup()
    import numpy as np
    import rasterio
    import torch
    from rasterio.windows import Window

    from apps.inference.ml.predict import (
        Sources,
        _read,
        check_sources,
        pick_device,
        predict_to_cog,
        tile_windows,
    )
    from ocsge.vectorize import vectorize_classes

    paths = _imagery(root)
    sources = Sources(paths["rgb"], paths["nir"], paths["elevation"])
    grid = check_sources(sources)
    model, meta, weights = _model(root)
    device = pick_device(args.device)
    size = min(args.inference_px, grid["width"], grid["height"])
    area = Window((grid["width"] - size) // 2, (grid["height"] - size) // 2, size, size)
    tile, margin, batch = meta.tile_size, 64, 4
    print(f"{size}×{size} px on {device} ({weights})", flush=True)

    # Bare forward: the same windows, read beforehand.
    windows = list(tile_windows(grid["width"], grid["height"], tile - 2 * margin, area))
    with (
        rasterio.open(paths["rgb"]) as rgb,
        rasterio.open(paths["nir"]) as nir,
        rasterio.open(paths["elevation"]) as dem,
    ):
        arrays = [  # the 5-band stack of each window (`_read` gives its data mask too)
            _read(
                (rgb, nir, dem),
                Window(w.col_off - margin, w.row_off - margin, tile, tile),
                grid["width"],
                grid["height"],
                tile,
            )[0]
            for w in windows
        ]
    model = model.to(device).eval()
    mean = torch.tensor(meta.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, device=device).view(1, -1, 1, 1)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)

    def forward(x):
        x = (torch.from_numpy(x).to(device) - mean) / std
        if cuda:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(x.contiguous(memory_format=torch.channels_last))
        else:
            logits = model(x)
        conf, idx = torch.softmax(logits.float(), dim=1).max(dim=1)
        return idx.cpu(), conf.cpu()

    stacks = [np.stack(arrays[i : i + batch]) for i in range(0, len(arrays), batch)]
    del arrays

    def bare_forward() -> float:
        with torch.inference_mode():
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            for x in stacks:
                forward(x)
            if cuda:
                torch.cuda.synchronize()
            return time.perf_counter() - start

    def pipeline_run(tmp: Path) -> tuple[float, object, float, int]:
        # Our pipeline: rasters → class and confidence COGs → polygons (what a block does).
        start = time.perf_counter()
        out_c, out_f = tmp / "c.tif", tmp / "f.tif"
        stages = predict_to_cog(
            model,
            meta,
            sources,
            out_c,
            out_f,
            area=area,
            margin=margin,
            batch_size=batch,
            device=device,
        )
        t = time.perf_counter()
        with rasterio.open(out_c) as c, rasterio.open(out_f) as f:
            polygons = vectorize_classes(c.read(1), f.read(1), c.transform)
        vectorize = time.perf_counter() - t
        return time.perf_counter() - start, stages, vectorize, len(polygons)

    with torch.inference_mode():
        forward(stacks[0])  # warm-up
    # Runs alternate (bare, ours, bare, ours, …) and medians are compared: on a shared
    # machine the speed drifts by tens of per cent within minutes.
    bare_runs, ours_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(max(1, args.repeat)):
            bare_runs.append(bare_forward())
            run = pipeline_run(Path(tmp))
            ours_runs.append(run)
            print(
                f"run {i + 1}: bare forward {bare_runs[-1]:.1f} s, pipeline {run[0]:.1f} s "
                f"({run[3]} polygons)",
                flush=True,
            )
    bare = statistics.median(bare_runs)
    pipeline, stages, vectorize, n_polygons = sorted(ours_runs, key=lambda r: r[0])[
        len(ours_runs) // 2
    ]
    pixels = size * size
    ours = pixels / pipeline
    return {
        "device": str(device),
        "torch": torch.__version__,
        "weights": weights,
        "pixels": pixels,
        "windows": len(windows),
        "bare_s": round(bare, 2),
        "pipeline_s": round(pipeline, 2),
        "bare_mpx_s": round(pixels / bare / 1e6, 3),
        "pipeline_mpx_s": round(ours / 1e6, 3),
        "ratio": round(bare / pipeline, 3),
        "stages_s": {
            "read": round(stages.read, 2),
            "wait_read": round(stages.wait_read, 2),
            "compute": round(stages.compute, 2),
            "write_cog": round(stages.write, 2),
            "vectorize": round(vectorize, 2),
        },
        "polygons": n_polygons,
        "runs": len(ours_runs),
        "bare_runs_s": [round(t, 2) for t in bare_runs],
        "pipeline_runs_s": [round(r[0], 2) for r in ours_runs],
        "departement_150gpx_h": round(DEPARTEMENT_PX / ours / 3600, 1),
    }


def render_inference(r) -> str:
    s = r["stages_s"]
    return "\n".join(
        [
            "## Inference pipeline (issue: inference)",
            "",
            f"{r['pixels'] / 1e6:.1f} Mpx of synthetic imagery (5 bands), {r['windows']} windows "
            f"of 512 px with 64-px margins, on `{r['device']}` (torch {r['torch']}, "
            f"{r['weights']}).",
            "",
            "| work | ours | bare forward (same windows, no I/O) | ratio |",
            "| --- | --- | --- | --- |",
            f"| rasters → polygons | {r['pipeline_s']} s ({r['pipeline_mpx_s']} Mpx/s) | "
            f"{r['bare_s']} s ({r['bare_mpx_s']} Mpx/s) | {r['ratio']}× |",
            "",
            f"Stages (s): reading {s['read']} (of which the model waited {s['wait_read']}), "
            f"model {s['compute']}, writing COGs {s['write_cog']}, vectorising {s['vectorize']} "
            f"({r['polygons']} polygons). At this speed a département of 150 gigapixels takes "
            f"{r['departement_150gpx_h']} h on one such device. On a machine of 2 cores the "
            "reading and writing threads (decoding, deflating the COGs) take cores from the "
            "model, which the bare forward has to itself: the model's stage is slower than the "
            "bare forward here; on the GPU node they run on cores of their own (plan below).",
            "",
            _runs_line(r),
        ]
    )


def _runs_line(r) -> str:
    if "runs" not in r:
        return "One run of each (before medians were kept)."
    return (
        f"Medians of {r['runs']} runs, alternately (bare forward first); the stages are those "
        "of the median pipeline run. All runs, in seconds: bare "
        + ", ".join(map(str, r["bare_runs_s"]))
        + "; ours "
        + ", ".join(map(str, r["pipeline_runs_s"]))
        + "."
    )
