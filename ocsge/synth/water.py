"""Water: rivers across the département (one per 15 km of it, continuous across tiles) and
fish ponds beside them."""

from __future__ import annotations

import numpy as np
import shapely

from .canvas import Canvas
from .raster import wiggly_line


def draw_rivers(canvas: Canvas) -> list:
    """Burns the ponds; returns the rivers (burnt later, over the settlements' gardens)."""
    rng, n, big_n, res = canvas.rng, canvas.n, canvas.big_n, canvas.res
    gx0, gy0 = canvas.offset_px
    world = canvas.world
    river_rng = np.random.default_rng([canvas.dept_seed, 7])
    rivers = []
    for _ in range(max(1, round(big_n * res / 15_000))):
        river = wiggly_line(
            river_rng,
            world(-gx0 - 10, -gy0 + big_n * river_rng.uniform(0.2, 0.8)),
            world(-gx0 + big_n + 10, -gy0 + big_n * river_rng.uniform(0.2, 0.8)),
            amplitude=min(n, big_n) * res * 0.08,
            n=max(60, int(big_n * res / 300)),
        )
        rivers.append(river.buffer(river_rng.uniform(9, 14)))
        here = river.intersection(shapely.box(*world(0, n), *world(n, 0)))
        if here.is_empty:
            continue
        for _ in range(max(1, int(canvas.size_km**2 / 12))):
            p = here.interpolate(rng.random(), normalized=True)
            off = rng.uniform(40, 120) * (1 if rng.random() < 0.5 else -1)
            pond = shapely.Point(p.x + off, p.y + off * 0.5).buffer(
                rng.uniform(35, 70), quad_segs=6
            )
            canvas.burn([pond], 18)
    return rivers
