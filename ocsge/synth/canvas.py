"""The tile being drawn: its pixel grid and where it lies in the département, its random
streams, and the département's outline on it. Every theme draws through a `Canvas`, in the
order `landscape.draw_landscape` calls them (the random streams make that order part of the
result)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine

from ocsge.crs import LAMBERT_93

from .raster import burn, noise_field

# Lower-left corner of a generated département in each official CRS: in metropolitan
# France, and in each DROM's own projection (Martinique and Guadeloupe share RGAF09 / UTM
# 20N; La Réunion and Mayotte are in the southern hemisphere, false northing 10,000 km).
ORIGINS = {
    LAMBERT_93: (600_000.0, 6_500_000.0),
    5490: (700_000.0, 1_600_000.0),
    2972: (300_000.0, 450_000.0),
    2975: (330_000.0, 7_650_000.0),
    4471: (500_000.0, 8_570_000.0),
}


def origin(epsg: int, shift_m=(0.0, 0.0)) -> tuple[float, float]:
    """The lower-left corner of a département drawn in `epsg`, moved `shift_m` (metres east,
    north) from the usual one (benchmarks spread several départements over the map)."""
    left, bottom = ORIGINS[epsg]
    return left + shift_m[0], bottom + shift_m[1]


class OutsideProjection(ValueError):
    """A département drawn (partly) out of the area its projection is meant for."""


def check_inside_crs(epsg: int, corner: tuple[float, float], size_km: float) -> None:
    """OutsideProjection unless the square `size_km` across from `corner` lies in the area
    where `epsg` is meant to be used (a département moved out of its projection's area)."""
    from pyproj import CRS, Transformer

    area = CRS.from_epsg(epsg).area_of_use
    to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True)
    side = size_km * 1000
    x0, y0 = corner
    lon, lat = to_lonlat.transform([x0, x0 + side, x0, x0 + side], [y0, y0, y0 + side, y0 + side])
    if not (
        area.west <= min(lon)
        and max(lon) <= area.east
        and area.south <= min(lat)
        and max(lat) <= area.north
    ):
        raise OutsideProjection(
            f"the département ({size_km:g} km from {x0:.0f}, {y0:.0f}) would leave the area "
            f"of EPSG:{epsg} ({area.name}: longitudes {area.west:g} to {area.east:g}, "
            f"latitudes {area.south:g} to {area.north:g})"
        )


@dataclass
class Canvas:
    size_km: float
    res: float
    n: int  # pixels a side of this tile
    big_n: int  # pixels a side of the département's grid
    offset_px: tuple[int, int]  # this tile's (column, row) in that grid
    transform: Affine
    rng: np.random.Generator  # this tile's stream
    outline_rng: np.random.Generator  # the département's: its outline, its field grid
    dept_seed: int  # what continues across tiles: smooth fields, the field grid, rivers
    inside: np.ndarray | None = None  # pixels inside the département
    cover: np.ndarray | None = None  # the M1 class raster (themes.THEMES values)

    @classmethod
    def for_tile(
        cls,
        size_km,
        seed,
        res,
        offset_px=(0, 0),
        global_px=None,
        outline_seed=None,
        epsg=LAMBERT_93,
        shift_m=(0.0, 0.0),
    ):
        n = int(round(size_km * 1000 / res))
        big_n = global_px or n
        gx0, gy0 = offset_px
        # Upper-left corner of this tile, in the département's CRS.
        left, bottom = origin(epsg, shift_m)
        x0, y0 = left + gx0 * res, bottom + (big_n - gy0) * res
        return cls(
            size_km=size_km,
            res=res,
            n=n,
            big_n=big_n,
            offset_px=offset_px,
            transform=Affine(res, 0, x0, 0, -res, y0),
            rng=np.random.default_rng(seed),
            outline_rng=np.random.default_rng(seed if outline_seed is None else outline_seed),
            dept_seed=seed if outline_seed is None else outline_seed,
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    def axes(self):
        """Pixel rows (a column vector) and columns (a row vector) of the tile, float32."""
        return (
            np.arange(self.n, dtype=np.float32)[:, None],
            np.arange(self.n, dtype=np.float32)[None, :],
        )

    def px(self, metres: float) -> float:
        return metres / self.res

    def world(self, ix, iy):
        """Lambert-93 of the pixel position (ix, iy) of this tile."""
        return self.transform.c + ix * self.res, self.transform.f - iy * self.res

    def noise(self, kind_index: int, cell_m: float, octaves: int) -> np.ndarray:
        """The département's smooth field number `kind_index`, on this tile."""
        return noise_field(
            (self.dept_seed, kind_index),
            self.offset_px,
            self.shape,
            self.big_n,
            self.px(cell_m),
            octaves,
        )

    def burn(self, geoms, value: int, raster=None, **kw):
        """Burn `geoms` with `value` into `raster` (the M1 cover by default)."""
        burn(self.cover if raster is None else raster, geoms, value, self.transform, **kw)


def draw_outline(canvas: Canvas) -> np.ndarray:
    """The département: a blob with an irregular border; its pixels on this tile."""
    phase3, phase7 = canvas.outline_rng.random(2) * 6
    n, big_n = canvas.n, canvas.big_n
    coverage = tile_coverage(canvas.offset_px, n, big_n)
    if coverage == "all":
        return np.ones(canvas.shape, dtype=bool)
    if coverage == "none":
        return np.zeros(canvas.shape, dtype=bool)
    yy, xx = canvas.axes()
    gx0, gy0 = canvas.offset_px
    cy = cx = big_n / 2
    dy, dx = yy + (gy0 - cy), xx + (gx0 - cx)
    theta = np.arctan2(dy, dx)
    radius = (
        big_n * 0.48 * (1 + 0.06 * np.sin(3 * theta + phase3) + 0.04 * np.sin(7 * theta + phase7))
    )
    return np.hypot(dy, dx) < radius


def tile_coverage(offset_px, n: int, big_n: int) -> str:
    """ "all", "none" or "some": how much of an n-pixel tile at `offset_px` lies inside the
    outline of a département `big_n` pixels wide. The outline's radius swings between 0.9
    and 1.1 times its mean, so a tile wholly nearer or farther needs no trigonometry."""
    gx0, gy0 = offset_px
    c = big_n / 2
    dx, dy = abs(gx0 + n / 2 - c), abs(gy0 + n / 2 - c)
    if math.hypot(dx + n / 2, dy + n / 2) < big_n * 0.48 * 0.9:
        return "all"
    if math.hypot(max(0, dx - n / 2), max(0, dy - n / 2)) > big_n * 0.48 * 1.1:
        return "none"
    return "some"
