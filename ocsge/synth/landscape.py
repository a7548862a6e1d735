"""One tile of the département drawn as M1 and M2 class rasters: the themes in the order
they are drawn (the random streams make it part of the result), then painted in the order
that decides what lies over what."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from affine import Affine

from ocsge.crs import official_epsg

from .canvas import Canvas, draw_outline
from .changes import draw_m2
from .farmland import draw_fields, draw_quarry, place_farms
from .forests import draw_forests, draw_woodlots
from .roads import draw_lanes, lay_network
from .settlements import build_settlements, built_up_zone, place_settlements
from .water import draw_rivers


@dataclass
class Landscape:
    """The generated rasters and what the vectors need to know about them."""

    code: str
    res: float
    transform: Affine
    m1: np.ndarray
    m2: np.ndarray
    built_up: np.ndarray
    settlements: list[tuple[float, float, float, str]] = field(default_factory=list)
    built_up_geoms: list = field(default_factory=list)


def draw_landscape(
    code: str,
    size_km: float,
    seed: int,
    res: float = 2.5,
    log: Callable[[str], None] = print,
    *,
    offset_px: tuple[int, int] = (0, 0),
    global_px: int | None = None,
    outline_seed: int | None = None,
    shift_m: tuple[float, float] = (0.0, 0.0),
) -> Landscape:
    """Draw the M1 and M2 class rasters of a square-ish département `size_km` across.

    A large département is drawn as tiles: `offset_px` is this tile's (column, row) in the
    département's grid of `global_px` pixels a side, whose outline comes from `outline_seed`;
    `shift_m` moves it from the usual place (`canvas.origin`).
    """
    canvas = Canvas.for_tile(
        size_km,
        seed,
        res,
        offset_px,
        global_px,
        outline_seed,
        epsg=official_epsg(code),
        shift_m=shift_m,
    )
    canvas.inside = draw_outline(canvas)
    canvas.cover = np.zeros(canvas.shape, dtype=np.uint8)
    draw_fields(canvas)
    draw_forests(canvas)
    draw_woodlots(canvas)
    rivers = draw_rivers(canvas)
    draw_quarry(canvas)
    settlements = place_settlements(canvas)
    roads = lay_network(canvas, settlements)
    built = build_settlements(canvas, settlements)
    farm_yards, farm_buildings, farm_tracks = place_farms(canvas)
    draw_lanes(canvas)
    # Painted last to first: each over what came before.
    burn = canvas.burn
    burn(farm_yards, 7)
    burn(built.gardens, 7)
    burn(built.activity_yards, 6)
    burn(built.sports, 9)
    burn(built.garden_trees, 8)
    burn(built.squares, 23)
    burn(rivers, 17)
    burn([g.buffer(6.5) for g in built.streets if not g.is_empty], 4)
    burn([g.buffer(4.5) for g in roads.minor + farm_tracks], 4)
    burn([g.buffer(7.0) for g in roads.main], 4)
    burn([roads.rail.buffer(6.0)], 5)
    burn(built.houses, 1)
    burn(farm_buildings, 3)
    burn(built.warehouses, 2)
    canvas.cover[~canvas.inside] = 0
    zones, built_up = built_up_zone(canvas, built.houses + farm_buildings + built.warehouses)
    m2 = draw_m2(canvas, settlements, built.houses)
    n = canvas.n
    log(f"  drew {n}x{n} px at {res} m, {len(settlements)} settlements")
    return Landscape(code, res, canvas.transform, canvas.cover, m2, built_up, settlements, zones)
