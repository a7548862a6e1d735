"""Synthetic aerial photos (RGB, near infrared, elevation) rendered from a class raster.

No real photos can be downloaded here, so the pipeline runs end to end on imagery rendered
from a generated département's land cover: a colour and texture per model class (roof tiles,
asphalt, crop rows, vine rows, tree crowns, rippled water), lighting variations, noise, cast
shadows of buildings and trees, and a terrain model plus object heights.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Model class -> (R, G, B, NIR) mean reflectance (0-255), object height (m), texture kind.
APPEARANCE: dict[int, tuple[tuple[int, int, int, int], float, str]] = {
    1: ((170, 95, 80, 85), 8.0, "roof"),  # Bâtiment
    2: ((88, 88, 92, 60), 0.0, "smooth"),  # Zone imperméable
    3: ((176, 164, 140, 125), 0.0, "grain"),  # Zone perméable
    4: ((70, 175, 215, 25), 0.0, "smooth"),  # Piscine
    5: ((222, 226, 232, 150), 3.0, "rows"),  # Serre
    6: ((168, 135, 102, 110), 0.0, "grain"),  # Sol nu
    7: ((38, 68, 88, 12), 0.0, "water"),  # Surface eau
    8: ((246, 246, 250, 230), 0.0, "smooth"),  # Neige
    9: ((32, 72, 44, 135), 18.0, "crowns"),  # Conifère
    10: ((66, 118, 52, 195), 16.0, "crowns"),  # Feuillu
    11: ((128, 112, 74, 118), 0.5, "grain"),  # Coupe
    12: ((96, 124, 64, 165), 1.5, "crowns"),  # Broussaille
    13: ((112, 166, 84, 205), 0.0, "grain"),  # Pelouse
    14: ((158, 176, 92, 215), 0.3, "rows"),  # Culture
    15: ((136, 104, 76, 95), 0.0, "rows"),  # Terre labourée
    16: ((104, 124, 72, 170), 1.5, "vines"),  # Vigne
    17: ((128, 128, 128, 128), 0.0, "grain"),  # Autre
}

# Themes of the synthetic département (ocsge.synth.THEMES) -> model class.
THEME_TO_CLASS = {
    1: 1,
    2: 1,
    3: 1,
    4: 2,
    5: 3,
    6: 2,
    7: 13,
    8: 10,
    9: 13,
    10: 14,
    11: 16,
    12: 15,
    13: 10,
    14: 9,
    15: 10,
    16: 12,
    17: 7,
    18: 7,
    19: 3,
    20: 6,
    21: 6,
    22: 11,
    23: 2,
}


def themes_to_classes(themes: np.ndarray, seed: int = 0) -> np.ndarray:
    """Model-class raster of a theme raster (0 stays 0: outside). Mixed forest becomes a
    mosaic of broadleaf and conifer crowns."""
    lut = np.zeros(256, dtype=np.uint8)
    for theme, cls in THEME_TO_CLASS.items():
        lut[theme] = cls
    classes = lut[themes]
    mixed = themes == 15
    if mixed.any():
        rng = np.random.default_rng(seed)
        coarse = rng.random((themes.shape[0] // 4 + 1, themes.shape[1] // 4 + 1)) < 0.4
        conifer = np.kron(coarse, np.ones((4, 4), dtype=bool))[: themes.shape[0], : themes.shape[1]]
        classes[mixed & conifer] = 9
    return classes


def _smooth_noise(rng, shape, sigma):
    """Smooth noise of unit standard deviation."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return n / (n.std() + 1e-9)


def _waves(x, y, seed: int, wavelength: float, count: int = 6) -> np.ndarray:
    """A smooth field of unit-ish amplitude from sinusoids in map coordinates (metres): the
    same value at the same place whatever block is being rendered, so blocks join."""
    rng = np.random.default_rng(seed)
    total = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.float32)
    for _ in range(count):
        angle, phase = rng.uniform(0, 2 * np.pi, 2)
        k = 2 * np.pi / (wavelength * rng.uniform(0.6, 1.6))
        total += np.sin(k * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    return total / np.sqrt(count / 2)


def render(
    classes: np.ndarray,
    res: float,
    seed: int = 0,
    terrain_base: float = 120.0,
    origin: tuple[float, float] = (0.0, 0.0),
    field_seed: int | None = None,
):
    """RGB (3, H, W) uint8, NIR (1, H, W) uint8 and elevation (1, H, W) float32 in metres.

    `origin` is the map position (x, y) of the upper-left pixel: terrain and lighting depend on
    map coordinates and `field_seed` only, so a large area rendered block by block (one
    `seed` per block, one `field_seed` for all) has no seams.
    """
    field_seed = seed if field_seed is None else field_seed
    rng = np.random.default_rng(seed)
    h, w = classes.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mx = origin[0] + xx[0:1, :] * res  # map coordinates (rows and columns broadcast)
    my = origin[1] - yy[:, 0:1] * res
    colour = np.zeros((4, h, w), dtype=np.float32)
    height = np.zeros((h, w), dtype=np.float32)
    comp_seed = rng.integers(1 << 30)
    for cls, (mean, obj_h, texture) in APPEARANCE.items():
        mask = classes == cls
        if not mask.any():
            continue
        for b in range(4):
            colour[b][mask] = mean[b]
        if obj_h:
            height[mask] = obj_h
        if texture == "roof":
            # Each building gets a roof colour: tiles or slate/zinc.
            labels, n = ndimage.label(mask)
            r = np.random.default_rng(comp_seed).random(n + 1)
            grey = (r[labels] < 0.35) & mask
            colour[0][grey], colour[1][grey], colour[2][grey] = 118, 118, 124
            height[mask] = 5 + 7 * r[labels][mask]
        elif texture == "rows":
            stripes = np.sin((xx * 0.7 + yy * 0.3) * res * 2.0)[mask] * 12
            colour[:, mask] += stripes
        elif texture == "vines":
            stripes = (np.sin(xx * res * 2 * np.pi / 2.5)[mask] > 0.2) * 25 - 12
            colour[:, mask] += stripes
            height[mask] = np.where(stripes > 0, 1.6, 0.2)
        elif texture == "crowns":
            crowns = _smooth_noise(rng, (h, w), max(1.0, 1.5 / res))[mask]
            colour[:, mask] += crowns * 14
            height[mask] = obj_h + crowns * 2
        elif texture == "water":
            ripple = np.sin(xx * 0.9 + yy * 0.4)[mask] * 3
            colour[:, mask] += ripple
    # Field- and lighting-scale variations, then sensor noise.
    colour *= 1 + 0.05 * _waves(mx, my, field_seed + 1, 300.0)[None]
    colour += rng.normal(0, 6, colour.shape).astype(np.float32)
    # Cast shadows towards the north-west... seen from above: sun in the south-east.
    shift = max(1, int(round(4 / res)))
    above = np.zeros_like(height)
    above[shift:, shift:] = height[:-shift, :-shift]
    shadow = (above - height) > 2.0
    colour[:, shadow] *= 0.55
    terrain = terrain_base + 30 * _waves(mx, my, field_seed + 2, 4000.0)
    dem = (terrain + height)[None].astype(np.float32)
    colour = np.clip(colour, 0, 255).astype(np.uint8)
    return colour[:3], colour[3:4], dem


def classes_from_codes(code_cs: np.ndarray, code_us: np.ndarray) -> np.ndarray:
    """Model class of each polygon of a generated vintage, from its CS/US codes."""
    from ocsge.synth import THEMES

    by_pair = {}
    for theme, (cs, us, _building) in THEMES.items():
        by_pair.setdefault((cs, us), THEME_TO_CLASS[theme])
    return np.array(
        [by_pair.get((c, u), 17) for c, u in zip(code_cs, code_us, strict=True)], dtype=np.uint8
    )


def render_geopackage(
    gpkg, outdir, res: float = 1.25, seed: int = 0, block: int = 4096, log=print
) -> dict:
    """Render RGB, NIR and elevation GeoTIFFs (tiled, deflate) of a generated vintage.

    The vintage's polygons are rasterized block by block at `res` metres and each block is
    rendered with `render(origin=...)`; outputs: rgb.tif (3 bands), nir.tif, elevation.tif.
    """
    from pathlib import Path

    import rasterio
    import rasterio.features
    import shapely
    from affine import Affine
    from rasterio.windows import Window

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    from ocsge.ogr import pyogrio

    meta, _fids, wkb, (code_cs, code_us) = pyogrio.raw.read(
        gpkg, layer="OCCUPATION_SOL", columns=["code_cs", "code_us"]
    )
    crs = meta["crs"] or "EPSG:2154"  # the photos in the polygons' CRS (a DROM's own, or L93)
    values = classes_from_codes(code_cs, code_us)
    geoms = shapely.from_wkb(wkb)
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    width, height = int(np.ceil((x1 - x0) / res)), int(np.ceil((y1 - y0) / res))
    transform = Affine(res, 0, x0, 0, -res, y1)
    tree = shapely.STRtree(geoms)
    common = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "crs": crs,
        "transform": transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    paths = {
        "rgb": outdir / "rgb.tif",
        "nir": outdir / "nir.tif",
        "elevation": outdir / "elevation.tif",
    }
    with (
        rasterio.open(paths["rgb"], "w", count=3, dtype="uint8", **common) as rgb_ds,
        rasterio.open(paths["nir"], "w", count=1, dtype="uint8", **common) as nir_ds,
        rasterio.open(paths["elevation"], "w", count=1, dtype="float32", **common) as dem_ds,
    ):
        blocks = [(r, c) for r in range(0, height, block) for c in range(0, width, block)]
        for k, (r, c) in enumerate(blocks, start=1):
            win = Window(c, r, min(block, width - c), min(block, height - r))
            wt = rasterio.windows.transform(win, transform)
            bx0, by1 = wt.c, wt.f
            box = shapely.box(bx0, by1 - win.height * res, bx0 + win.width * res, by1)
            idx = tree.query(box)
            classes = np.zeros((int(win.height), int(win.width)), dtype=np.uint8)
            if len(idx):
                classes = rasterio.features.rasterize(
                    zip(geoms[idx], values[idx], strict=True),
                    out_shape=classes.shape,
                    transform=wt,
                    dtype="uint8",
                )
            rgb, nir, dem = render(
                classes, res, seed=seed * 1000 + k, origin=(bx0, by1), field_seed=seed
            )
            outside = classes == 0
            rgb[:, outside] = 0
            nir[:, outside] = 0
            rgb_ds.write(rgb, window=win)
            nir_ds.write(nir, window=win)
            dem_ds.write(dem, window=win)
            log(f"  block {k}/{len(blocks)}")
    return {"width": width, "height": height, "paths": paths}
