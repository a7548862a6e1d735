"""Class raster → OCS GE polygons: sieve to the minimum mapping units, polygonize, simplify.

Pure numpy / scipy / rasterio / shapely (no Django), shared by the inference pipeline and
the synthetic département generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import rasterio.features
import shapely
import skimage.measure
from affine import Affine
from scipy import ndimage


def min_pixels(area_m2: float, pixel_area_m2: float) -> int:
    """Number of pixels a component needs to reach `area_m2`."""
    return max(1, math.ceil(area_m2 / pixel_area_m2 - 1e-9))


def sieve_by_class(
    labels: np.ndarray,
    min_size: dict[int, int],
    *,
    default_min_size: int,
    zone_mask: np.ndarray | None = None,
    zone_min_size: dict[int, int] | None = None,
    nodata: int | None = 0,
    max_passes: int = 6,
) -> np.ndarray:
    """Merge every connected component smaller than its class's minimum into its neighbours.

    `min_size[value]` is the minimum component size in pixels for a class (else
    `default_min_size`); a component lying mostly inside `zone_mask` (the built-up zone) uses
    `zone_min_size[value]` when given. Pixels of a too-small component take the value of the
    nearest pixel of a kept component (4-connectivity, like polygonize), so kept components
    only grow. `nodata` pixels are never changed and never spread. Returns a new array.
    """
    out = np.asarray(labels).copy()
    # A filled pixel may touch its source only diagonally and form a new tiny component:
    # repeat until every component is large enough (two or three passes in practice).
    for _ in range(max_passes):
        small = _small_components(
            out, min_size, default_min_size, zone_mask, zone_min_size or {}, nodata
        )
        if not small.any():
            break
        source = ~small
        if nodata is not None:
            source &= out != nodata
        if not source.any():
            break
        indices = ndimage.distance_transform_edt(
            ~source, return_distances=False, return_indices=True
        )
        out[small] = out[indices[0][small], indices[1][small]]
    return out


def _small_components(labels, min_size, default_min_size, zone_mask, zone_min_size, nodata):
    """Mask of the pixels of every too-small 4-connected component (one labelling pass)."""
    comp = skimage.measure.label(labels, background=-1, connectivity=1)
    flat = comp.ravel()
    sizes = np.bincount(flat)
    # The class of each component: the value of any of its pixels.
    first = np.zeros(len(sizes), dtype=np.int64)
    first[flat[::-1]] = np.arange(flat.size - 1, -1, -1)
    value_of = labels.ravel()[first]
    lut_size = int(labels.max()) + 1
    base = np.full(lut_size, default_min_size, dtype=np.int64)
    for value, size in min_size.items():
        if 0 <= value < lut_size:
            base[value] = size
    threshold = base[value_of]
    if zone_mask is not None and zone_min_size:
        inside = np.bincount(flat, weights=zone_mask.ravel(), minlength=len(sizes))
        zone_lut = base.copy()
        for value, size in zone_min_size.items():
            if 0 <= value < lut_size:
                zone_lut[value] = size
        in_zone = inside * 2 > sizes
        threshold[in_zone] = zone_lut[value_of[in_zone]]
    too_small = sizes < threshold
    if nodata is not None:
        too_small &= value_of != nodata
    too_small[0] = False  # label 0 is unused (background=-1 never occurs)
    return too_small[comp]


@dataclass
class Polygons:
    """Polygons from a class raster: parallel arrays of shapely geometries and class values."""

    geoms: np.ndarray
    values: np.ndarray

    def __len__(self):
        return len(self.geoms)


def polygonize(labels: np.ndarray, transform: Affine, nodata: int | None = 0) -> Polygons:
    """Polygons of the 4-connected components of `labels` (GDAL polygonize)."""
    labels = np.ascontiguousarray(labels)
    if labels.dtype not in (np.uint8, np.int16, np.uint16, np.int32, np.float32):
        labels = labels.astype(np.int32)
    mask = None if nodata is None else labels != nodata
    geoms, values = [], []
    for geom, value in rasterio.features.shapes(labels, mask=mask, transform=transform):
        geoms.append(geom)
        values.append(int(value))
    shapes = np.array([shapely.geometry.shape(g) for g in geoms], dtype=object)
    return Polygons(shapes, np.asarray(values, dtype=np.int32))


def simplify_coverage(geoms: np.ndarray, tolerance: float, pixel_size: float) -> np.ndarray:
    """Simplify a polygon coverage keeping shared edges shared (no gap, no overlap created).

    The outer boundary of the coverage is kept as is, so blocks simplified separately still
    fit together along their seams.
    """
    if len(geoms) == 0 or tolerance <= 0:
        return geoms
    # Polygonized edges only carry vertices where they turn: put one at every pixel corner
    # (segments are axis-aligned, whole numbers of pixels long) so that neighbours share
    # their vertices, as coverage operations require.
    noded = shapely.segmentize(np.asarray(geoms), pixel_size)
    simplified = shapely.coverage_simplify(noded, tolerance, simplify_boundary=False)
    invalid = ~shapely.is_valid(simplified)
    if invalid.any():
        simplified[invalid] = shapely.make_valid(simplified[invalid])
    return simplified
