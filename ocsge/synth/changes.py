"""The M2 vintage: M1 plus plausible change — a housing estate on farmland beside a
settlement, a bypass going round the buildings, clear-cuts in the forests, demolitions in
the town."""

from __future__ import annotations

import math

import numpy as np
import rasterio.features
import shapely

from .canvas import Canvas
from .farmland import FARMLAND
from .forests import FOREST
from .raster import wiggly_line
from .settlements import Settlement


def draw_m2(canvas: Canvas, settlements: list[Settlement], houses: list) -> np.ndarray:
    cover, n = canvas.cover, canvas.n
    m2 = cover.copy()
    _housing_estate(canvas, settlements, m2)
    rng = canvas.rng
    bypass = wiggly_line(
        rng,
        canvas.world(n * 0.1, n * rng.uniform(0.3, 0.7)),
        canvas.world(n * 0.9, n * rng.uniform(0.3, 0.7)),
        amplitude=400,
    )
    # The new road goes round buildings (a bypass), not through them.
    canvas.burn([bypass.buffer(8.0)], 4, raster=m2, not_onto=(1, 2, 3))
    forest_pixels = np.flatnonzero(np.isin(cover, FOREST))
    for _ in range(max(1, int(canvas.size_km**2 / 8))):
        if forest_pixels.size == 0:
            break
        iy, ix = divmod(int(rng.choice(forest_pixels)), n)
        cx_, cy_ = canvas.world(ix, iy)
        cut = shapely.box(cx_ - 90, cy_ - 60, cx_ + 90, cy_ + 60)
        canvas.burn([cut], 22, raster=m2, onto=FOREST)
    town = settlements[0]
    town_buildings = [g for g in houses if g.distance(shapely.Point(town[:2])) < town[2] * 0.6]
    demolished = rng.permutation(np.array(town_buildings, dtype=object))[
        : max(2, len(town_buildings) // 40)
    ]
    canvas.burn(list(shapely.buffer(demolished, 6)), 21, raster=m2)
    m2[~canvas.inside] = 0
    return m2


def _housing_estate(canvas: Canvas, settlements: list[Settlement], m2: np.ndarray) -> None:
    """On the farmland just outside a settlement: the first site that mostly is."""
    cover, shape, transform = canvas.cover, canvas.shape, canvas.transform
    best = None
    for s in [*settlements[1:], settlements[0]]:
        for a in np.linspace(0, 2 * math.pi, 8, endpoint=False):
            ex, ey = s[0] + math.cos(a) * (s[2] + 200), s[1] + math.sin(a) * (s[2] + 200)
            estate = shapely.box(ex - 160, ey - 120, ex + 160, ey + 120)
            mask = rasterio.features.geometry_mask([estate], shape, transform, invert=True)
            farmland = np.isin(cover[mask], FARMLAND).mean() if mask.any() else 0.0
            if best is None or farmland > best[0]:
                best = (farmland, s, ex, ey, estate, mask)
        if best[0] > 0.8:
            break
    _, s, ex, ey, _estate, estate_mask = best
    m2[estate_mask & np.isin(m2, (*FARMLAND, 16))] = 7
    houses, streets = [], []
    for i in range(-3, 4):
        streets.append(shapely.LineString([(ex + i * 45, ey - 120), (ex + i * 45, ey + 120)]))
        for j in range(-2, 3):
            hx, hy = ex + i * 45 + 16, ey + j * 45
            houses.append(shapely.box(hx - 8, hy - 8, hx + 8, hy + 8))
    streets.append(shapely.LineString([(ex - 160, ey), (ex + 160, ey)]))
    streets.append(shapely.LineString([s[:2], (ex, ey)]))
    canvas.burn([g.buffer(4.5) for g in streets], 4, raster=m2)
    canvas.burn(houses, 1, raster=m2)
