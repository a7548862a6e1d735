"""Forests: large organic patches whose type (broadleaf, mixed, conifer) follows a smooth
field, heath and scrub at their edges; woodlots scattered in the farmland."""

from __future__ import annotations

import numpy as np
import shapely
import shapely.affinity

from .canvas import Canvas

FOREST = (13, 14, 15)


def draw_forests(canvas: Canvas) -> None:
    cover = canvas.cover
    forest_n = canvas.noise(4, 2500, 4)
    kind = canvas.noise(5, 3000, 2)
    forest = forest_n > 0.68
    cover[forest] = np.where(kind[forest] < 0.4, 13, np.where(kind[forest] < 0.7, 15, 14))
    edge = (forest_n > 0.63) & ~forest
    cover[edge & (canvas.noise(6, 400, 2) > 0.55)] = 16


def draw_woodlots(canvas: Canvas) -> None:
    rng, n = canvas.rng, canvas.n
    woods = []
    for _ in range(int(canvas.size_km**2 * 2)):
        wx_, wy_ = canvas.world(*(rng.uniform(0, 1, 2) * n))
        blob = shapely.Point(wx_, wy_).buffer(rng.uniform(35, 90), quad_segs=3)
        woods.append(shapely.affinity.scale(blob, rng.uniform(0.6, 1.6), 1.0))
    canvas.burn(woods[: len(woods) // 2], 13)
    canvas.burn(woods[len(woods) // 2 :], 15)
