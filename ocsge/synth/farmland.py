"""Farmland: fields as a warped grid of parcels (crops and meadows, other herbaceous land,
vineyards on the slopes), farms with their buildings and access tracks, and a quarry."""

from __future__ import annotations

import numpy as np
import shapely

from .canvas import Canvas

FARMLAND = (10, 11, 12)


def draw_fields(canvas: Canvas) -> None:
    """Fields continue across tiles: their indices are taken in the département's grid, and
    each field's pseudo-random number is a hash of its indices."""
    px, cover = canvas.px, canvas.cover
    gx0, gy0 = canvas.offset_px
    yy, xx = canvas.axes()
    field_px = px(canvas.outline_rng.uniform(180, 260))
    salt = float(canvas.outline_rng.random() * 100)
    warp_x = (canvas.noise(1, 1500, 2) - 0.5) * px(300)
    warp_y = (canvas.noise(2, 1500, 2) - 0.5) * px(300)
    fcol = ((xx + gx0 + warp_x) // (field_px * 1.6)).astype(np.float32)
    frow = ((yy + gy0 + warp_y) // field_px).astype(np.float32)
    del warp_x, warp_y
    h = np.sin(fcol * 12.9898 + frow * 78.233 + salt) * 43758.5453
    u = h - np.floor(h)
    h = np.sin(fcol * 39.3468 + frow * 11.135 + salt) * 24634.6345
    u2 = h - np.floor(h)
    del fcol, frow, h
    slope = canvas.noise(3, 4000, 2)
    cover[:] = np.where(u < 0.55, 10, 12)
    cover[(slope > 0.72) & (u2 < 0.7)] = 11


def draw_quarry(canvas: Canvas) -> None:
    """A quarry: bare ground, its mineral pit in the middle."""
    rng, n = canvas.rng, canvas.n
    qx, qy = canvas.world(n * rng.uniform(0.2, 0.8), n * rng.uniform(0.2, 0.8))
    quarry = shapely.Point(qx, qy).buffer(rng.uniform(150, 260), quad_segs=5)
    canvas.burn([quarry], 20)
    canvas.burn([shapely.Point(qx, qy).buffer(90, quad_segs=4)], 19)


def place_farms(canvas: Canvas):
    """Farms and hamlets on the farmland: (yards, buildings, access tracks)."""
    rng, n = canvas.rng, canvas.n
    yards, buildings, tracks = [], [], []
    for _ in range(int(canvas.size_km**2 * 4)):
        ix, iy = rng.uniform(0.05, 0.95, 2) * n
        if not canvas.inside[int(iy), int(ix)] or canvas.cover[int(iy), int(ix)] not in FARMLAND:
            continue
        fx, fy = canvas.world(ix, iy)
        yards.append(shapely.Point(fx, fy).buffer(45, quad_segs=4))
        for _k in range(int(rng.integers(2, 5))):
            w_, h_ = rng.uniform(14, 30), rng.uniform(16, 40)
            bx, by = fx + rng.uniform(-25, 25), fy + rng.uniform(-25, 25)
            buildings.append(shapely.box(bx - w_ / 2, by - h_ / 2, bx + w_ / 2, by + h_ / 2))
        tracks.append(
            shapely.LineString(
                [(fx, fy), (fx + rng.uniform(-300, 300), fy + rng.uniform(-300, 300))]
            )
        )
    return yards, buildings, tracks
