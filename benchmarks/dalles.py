"""JPEG 2000 decode throughput per core: the CPU limit of classifying a département on GPU.

A département is a few hundred BD ORTHO dalles of 25,000 × 25,000 px (about 150 gigapixels,
formats README), decoded on the CPU before the model sees them. Measured on a synthetic
lossy JPEG 2000 dalle (a 5,000 px side, 1/25 of a real one, written here: RGB, the default
lossy compression of GDAL's OpenJPEG driver), decoded with one thread:

- bare: the whole dalle read by GDAL/OpenJPEG in one call (the best the library does);
- ours: the same pixels read through our mosaic (a VRT, `apps/inference/mosaic.py`) in the
  windows the model reads (2,048 px blocks), as a run reads them.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

SIDE = 5_000
WINDOW = 2_048
DEPARTEMENT_GIGAPIXELS = 150


def _dalle(path: Path):
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(7)
    # A smooth picture with texture (random noise does not compress like photos).
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    base = 128 + 60 * np.sin(x / 97) * np.cos(y / 131)
    bands = [
        np.clip(base + k * 20 + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        for k in range(3)
    ]
    with rasterio.open(
        path,
        "w",
        driver="JP2OpenJPEG",
        width=SIDE,
        height=SIDE,
        count=3,
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_origin(700_000, 6_600_000, 0.2, 0.2),
    ) as out:
        out.write(np.stack(bands))


def _timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_dalles(args) -> dict:
    import rasterio
    from rasterio.windows import Window

    os.environ["GDAL_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        dalle = Path(tmp) / "dalle.jp2"
        _dalle(dalle)
        vrt = Path(tmp) / "rgb.vrt"
        subprocess.run(["gdalbuildvrt", "-q", str(vrt), str(dalle)], check=True)

        def bare():
            with rasterio.Env(GDAL_NUM_THREADS=1), rasterio.open(dalle) as ds:
                ds.read()

        def ours():
            with rasterio.Env(GDAL_NUM_THREADS=1), rasterio.open(vrt) as ds:
                for row in range(0, SIDE, WINDOW):
                    for col in range(0, SIDE, WINDOW):
                        w = Window(col, row, min(WINDOW, SIDE - col), min(WINDOW, SIDE - row))
                        ds.read([1, 2, 3], window=w)

        def reduced(factor):
            # JPEG 2000 keeps each resolution level: GDAL reads a lower one as an overview,
            # decoding fewer wavelet levels (a model at 40 cm instead of 20 cm).
            def read():
                with rasterio.Env(GDAL_NUM_THREADS=1), rasterio.open(dalle) as ds:
                    ds.read(out_shape=(3, SIDE // factor, SIDE // factor))

            return read

        bare_s, ours_s = _timed(bare), _timed(ours)
        half_s, quarter_s = _timed(reduced(2)), _timed(reduced(4))
        size_mb = dalle.stat().st_size / 1e6
    pixels = SIDE * SIDE
    per_core = pixels / ours_s
    return {
        # Ground covered per second when decoding at 1/2 and 1/4 of the resolution.
        "half_res_megapixels_per_core_s": round(pixels / half_s / 1e6, 1),
        "quarter_res_megapixels_per_core_s": round(pixels / quarter_s / 1e6, 1),
        "dalle_px": SIDE,
        "dalle_mb": round(size_mb, 1),
        "bare_s": round(bare_s, 3),
        "ours_s": round(ours_s, 3),
        "ratio": round(ours_s / bare_s, 2),
        "megapixels_per_core_s": round(per_core / 1e6, 1),
        "departement_core_hours": round(DEPARTEMENT_GIGAPIXELS * 1e9 / per_core / 3600, 1),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
    }


def render_dalles(r) -> str:
    return "\n".join(
        [
            "## JPEG 2000 dalles: decode throughput per core",
            "",
            f"A synthetic lossy BD ORTHO-like dalle of {r['dalle_px']:,} px a side "
            f"({r['dalle_mb']} MB), decoded with one thread (commit {r['commit']}).",
            "",
            "| read | seconds | ratio |",
            "|---|---|---|",
            f"| bare: GDAL/OpenJPEG, the whole dalle in one call | {r['bare_s']} | 1.00 |",
            f"| ours: through the run's VRT, in 2,048 px windows | {r['ours_s']} | {r['ratio']} |",
            "",
            f"**{r['megapixels_per_core_s']} megapixels per second per core**: a département "
            f"of about 150 gigapixels needs about {r['departement_core_hours']} core-hours of "
            "decoding per photo (RGB, then IRC) — the CPU cores a GPU node needs to keep its "
            "model fed.",
            *(
                [
                    "",
                    "Decoding a lower resolution level of the same dalle (ground covered per "
                    f"second per core): 1/2 resolution {r['half_res_megapixels_per_core_s']} "
                    f"Mpx/s, 1/4 resolution {r['quarter_res_megapixels_per_core_s']} Mpx/s.",
                ]
                if "half_res_megapixels_per_core_s" in r
                else []
            ),
        ]
    )
