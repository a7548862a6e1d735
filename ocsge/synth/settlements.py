"""Settlements: a town and villages placed apart, each a rotated street grid of houses with
gardens, garden trees, sports grounds and (in town) mineral squares; an activity zone of
warehouses beside the town; the built-up zone (ZONE_CONSTRUITE) around the buildings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import rasterio.features
import shapely
import shapely.affinity

from .. import builtup
from .canvas import Canvas

# (x, y, radius in metres, "town" | "village")
Settlement = tuple[float, float, float, str]


def place_settlements(canvas: Canvas) -> list[Settlement]:
    """The town near the centre, then villages inside the département, 600 m apart."""
    rng, n, res = canvas.rng, canvas.n, canvas.res
    n_villages = max(2, int(canvas.size_km**2 / 4))
    cands = [
        (
            n * 0.5 + rng.normal(0, n * 0.05),
            n * 0.5 + rng.normal(0, n * 0.05),
            min(1100.0, canvas.size_km * 90),
            "town",
        )
    ]
    tries = 0
    while len(cands) < n_villages + 1 and tries < 5000:
        tries += 1
        ix, iy = rng.uniform(0.08, 0.92, 2) * n
        if not canvas.inside[int(iy), int(ix)]:
            continue
        if all(math.hypot(ix - a, iy - b) * res > r + 600 for a, b, r, _ in cands):
            cands.append((ix, iy, rng.uniform(220, 480), "village"))
    return [(*canvas.world(ix, iy), r, kind) for ix, iy, r, kind in cands]


@dataclass
class Built:
    """What the settlements are made of, by theme."""

    gardens: list = field(default_factory=list)
    streets: list = field(default_factory=list)
    houses: list = field(default_factory=list)
    garden_trees: list = field(default_factory=list)
    sports: list = field(default_factory=list)
    squares: list = field(default_factory=list)
    activity_yards: list = field(default_factory=list)
    warehouses: list = field(default_factory=list)


def build_settlements(canvas: Canvas, settlements: list[Settlement]) -> Built:
    rng = canvas.rng
    built = Built()
    for wx, wy, r, kind_name in settlements:
        angle = rng.uniform(0, math.pi / 2)
        ca, sa = math.cos(angle), math.sin(angle)
        envelope = shapely.Point(wx, wy).buffer(r, quad_segs=8)
        envelope = shapely.affinity.scale(envelope, rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25))
        built.gardens.append(envelope)

        pending: list[tuple[list, object]] = []

        def place(g, target, pending=pending):
            """Queue a shape in local settlement coordinates for `target` (moved below)."""
            pending.append((target, g))

        block = 60.0 if kind_name == "town" else 70.0
        # Street grid rotated with the settlement.
        k = int(r * 1.4 // block) + 1
        for i in range(-k, k + 1):
            for horiz in (True, False):
                p0 = (-r * 1.4, i * block) if horiz else (i * block, -r * 1.4)
                p1 = (r * 1.4, i * block) if horiz else (i * block, r * 1.4)
                line = shapely.LineString(
                    [
                        (wx + p0[0] * ca - p0[1] * sa, wy + p0[0] * sa + p0[1] * ca),
                        (wx + p1[0] * ca - p1[1] * sa, wy + p1[0] * sa + p1[1] * ca),
                    ]
                )
                if rng.random() < (0.9 if kind_name == "town" else 0.6):
                    built.streets.append(line.intersection(envelope))
        # Houses along the streets of each block, a tree or two in the gardens.
        for bi in range(-k, k):
            for bj in range(-k, k):
                cxl, cyl = (bi + 0.5) * block, (bj + 0.5) * block
                cxw, cyw = wx + cxl * ca - cyl * sa, wy + cxl * sa + cyl * ca
                d = math.hypot(cxw - wx, cyw - wy)
                if d > r * 0.95:
                    continue
                if kind_name == "town" and d < r * 0.25 and rng.random() < 0.25:
                    place(shapely.box(cxl - 25, cyl - 25, cxl + 25, cyl + 25), built.squares)
                    continue
                if rng.random() < 0.06:
                    place(shapely.box(cxl - 30, cyl - 25, cxl + 30, cyl + 25), built.sports)
                    continue
                for side in (-1, 1):
                    for slot in (-1, 0, 1):
                        if rng.random() < (0.25 if kind_name == "village" else 0.12):
                            continue
                        w_, h_ = rng.uniform(15, 16.5), rng.uniform(15, 20)
                        hx = cxl + slot * 20
                        hy = cyl + side * (block / 2 - 4 - h_ / 2 - rng.uniform(2, 6))
                        house = shapely.box(hx - w_ / 2, hy - h_ / 2, hx + w_ / 2, hy + h_ / 2)
                        place(house, built.houses)
                    if rng.random() < 0.5:
                        tx, ty = cxl + rng.uniform(-20, 20), cyl + side * rng.uniform(0, 8)
                        tree = shapely.Point(tx, ty).buffer(rng.uniform(13, 18), quad_segs=4)
                        place(tree, built.garden_trees)
        # Local settlement coordinates -> Lambert-93, all the settlement's shapes at once.
        if pending:
            turn = np.array([[ca, sa], [-sa, ca]])
            moved = shapely.transform(
                np.array([g for _, g in pending], dtype=object),
                lambda xy, turn=turn, wx=wx, wy=wy: xy @ turn + (wx, wy),
            )
            for (target, _), g in zip(pending, moved, strict=True):
                target.append(g)
    _activity_zone(canvas, settlements[0], built)
    return built


def _activity_zone(canvas: Canvas, town: Settlement, built: Built) -> None:
    """Warehouses in yards beside the town, along a main road."""
    rng = canvas.rng
    ax, ay = town[0] + town[2] * 1.3, town[1] - town[2] * 0.4
    zone = shapely.box(ax - 220, ay - 160, ax + 220, ay + 160)
    built.activity_yards.append(zone)
    for i in range(-2, 3):
        for j in range(-1, 2):
            bx, by = ax + i * 85, ay + j * 100
            w_, h_ = rng.uniform(35, 60), rng.uniform(35, 60)
            built.warehouses.append(shapely.box(bx - w_ / 2, by - h_ / 2, bx + w_ / 2, by + h_ / 2))
    built.streets.append(shapely.LineString([(ax - 220, ay - 50), (ax + 220, ay - 50)]))
    built.streets.append(shapely.LineString([(ax - 220, ay + 50), (ax + 220, ay + 50)]))


def built_up_zone(canvas: Canvas, buildings: list):
    """ZONE_CONSTRUITE (`ocsge.builtup`): buildings closer than 50 m join into one
    envelope. Returns its polygons and its pixels inside the département."""
    geoms = list(builtup.zones(buildings))
    mask = np.zeros(canvas.shape, dtype=bool)
    if geoms:
        mask = rasterio.features.geometry_mask(geoms, canvas.shape, canvas.transform, invert=True)
    return geoms, mask & canvas.inside
