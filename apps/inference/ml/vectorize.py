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


def merge_across_seams(
    geoms: np.ndarray, values: np.ndarray, seams, tolerance: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join the polygons that blocks vectorised separately cut along their seams.

    `seams` are the (multi)lines where blocks meet. Polygons of the same value sharing an
    edge on a seam are unioned; the vertices each side put on a seam are added to the other
    side, so the result is a properly noded coverage. Returns (geoms, values, group) where
    `group[i]` is the index in the output of input polygon i.
    """
    geoms = np.asarray(geoms, dtype=object)
    values = np.asarray(values)
    n = len(geoms)
    group = np.arange(n)
    if n == 0 or seams is None or shapely.is_empty(seams):
        return geoms, values, group
    seam_zone = shapely.buffer(seams, tolerance * 10, cap_style="flat")
    shapely.prepare(seam_zone)
    on_seam = np.flatnonzero(shapely.intersects(geoms, seam_zone))
    if len(on_seam) == 0:
        return geoms, values, group
    # 1. Node the seams: every vertex lying on a seam is inserted into the polygons there.
    boundaries = shapely.boundary(geoms[on_seam])
    points = shapely.points(shapely.get_coordinates(boundaries))
    points = points[shapely.intersects(points, seam_zone)]
    tree_points = shapely.STRtree(points)
    noded = geoms.copy()
    for k, i in enumerate(on_seam):
        near = tree_points.query(geoms[i], predicate="dwithin", distance=tolerance * 10)
        if len(near):
            noded[i] = shapely.snap(geoms[i], shapely.multipoints(points[near]), tolerance * 10)
        boundaries[k] = shapely.boundary(noded[i])
    # 2. Same-value neighbours across a seam share an edge of positive length there.
    tree = shapely.STRtree(noded[on_seam])
    left, right = tree.query(noded[on_seam], predicate="intersects")
    keep = (left < right) & (values[on_seam][left] == values[on_seam][right])
    left, right = left[keep], right[keep]
    shared = shapely.intersection(boundaries[left], boundaries[right])
    shared = shapely.intersection(shared, seam_zone)
    edge = shapely.length(shared) > tolerance * 100
    parent = np.arange(len(on_seam))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(left[edge], right[edge], strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(a) for a in range(len(on_seam))])
    merged_into = on_seam[roots]  # representative input index for each seam polygon
    group = np.arange(n)
    group[on_seam] = merged_into
    out_geoms = noded.copy()
    for root in np.unique(roots):
        members = on_seam[roots == root]
        if len(members) > 1:
            out_geoms[on_seam[root]] = shapely.union_all(noded[members], grid_size=None)
    representatives = np.unique(group)
    index = np.full(n, -1)
    index[representatives] = np.arange(len(representatives))
    return out_geoms[representatives], values[representatives], index[group]


MMU_BUILDING_M2 = 200.0
MMU_BUILT_UP_M2 = 500.0
MMU_ELSEWHERE_M2 = 2500.0
BUILT_UP_DISTANCE_M = 50.0


@dataclass
class ClassPolygons(Polygons):
    confidence: np.ndarray  # mean confidence (0–100) of the pixels of each polygon


def vectorize_classes(
    classes: np.ndarray,
    confidence: np.ndarray,
    transform: Affine,
    *,
    building_classes=(1, 5),
    nodata: int = 0,
    margin: float = 1.1,
) -> ClassPolygons:
    """Model-class raster → polygons honouring the minimum mapping units, with the mean
    confidence of each polygon.

    Buildings (and greenhouses) keep 200 m²; other classes 500 m² within 50 m of a building
    (the built-up zone), 2,500 m² elsewhere; `margin` keeps simplified polygons above them.
    """
    res = abs(transform.a)
    pixel_area = res * abs(transform.e)
    building = min_pixels(MMU_BUILDING_M2 * margin, pixel_area)
    built_up = min_pixels(MMU_BUILT_UP_M2 * margin, pixel_area)
    elsewhere = min_pixels(MMU_ELSEWHERE_M2 * margin, pixel_area)
    values = [int(v) for v in np.unique(classes) if v != nodata]
    per_class = {v: (building if v in building_classes else elsewhere) for v in values}
    zone_sizes = {v: built_up for v in values if v not in building_classes}
    is_building = np.isin(classes, building_classes)
    near = (
        ndimage.distance_transform_edt(~is_building) * res <= BUILT_UP_DISTANCE_M
        if is_building.any()
        else np.zeros(classes.shape, dtype=bool)
    )
    sieved = sieve_by_class(classes, per_class, default_min_size=elsewhere, zone_mask=near,
                            zone_min_size=zone_sizes, nodata=nodata)  # fmt: skip
    raw = polygonize(sieved, transform, nodata=None)
    # Mean confidence per polygon: burn each raw (pixel-exact) polygon's index.
    index = rasterio.features.rasterize(
        ((g, i + 1) for i, g in enumerate(raw.geoms)), out_shape=classes.shape,
        transform=transform, dtype="int32",
    )  # fmt: skip
    sums = np.bincount(index.ravel(), weights=confidence.ravel().astype(np.float64),
                       minlength=len(raw) + 1)  # fmt: skip
    counts = np.bincount(index.ravel(), minlength=len(raw) + 1)
    mean_conf = sums[1:] / np.maximum(counts[1:], 1)
    geoms = simplify_coverage(raw.geoms, tolerance=res * 0.75, pixel_size=res)
    keep = (raw.values != nodata) & ~shapely.is_empty(geoms)
    return ClassPolygons(geoms[keep], raw.values[keep], mean_conf[keep])
