"""The built-up zone (ZONE_CONSTRUITE) drawn from buildings, as the product defines it:
buildings closer than 50 m to one another join into one envelope.

The envelope is every building grown by half that distance (25 m), joined, then shrunk by
20 m: gaps under 50 m between buildings are filled, and an isolated building keeps a 5 m
margin. One definition, in vector (the zones a vintage stores and exports) and in raster (the
mask the vectoriser sieves against, so that what it judged « in a built-up zone » meets the
zones stored). Pure numpy / scipy / shapely (no Django): shared by the inference pipeline and
the synthetic département generator.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import ndimage

JOIN_DISTANCE_M = 50.0
GROW_M = JOIN_DISTANCE_M / 2
SHRINK_M = 20.0


def zones(buildings) -> np.ndarray:
    """The built-up zones (an array of Polygons) around `buildings` (polygons)."""
    buildings = np.asarray(buildings, dtype=object)
    if len(buildings) == 0:
        return np.empty(0, dtype=object)
    grown = shapely.union_all(shapely.buffer(buildings, GROW_M, quad_segs=2))
    shrunk = shapely.buffer(grown, -SHRINK_M, quad_segs=2)
    parts = shapely.get_parts(shrunk)
    return parts[~shapely.is_empty(parts)]


def zone_mask(is_building: np.ndarray, res: float) -> np.ndarray:
    """The pixels of the built-up zone around the `is_building` pixels (square pixels of
    `res` metres): the same grow-then-shrink, judged at pixel centres (an edge lies half a
    pixel from the centre of the pixel beyond it)."""
    is_building = np.asarray(is_building, dtype=bool)
    if not is_building.any():
        return np.zeros(is_building.shape, dtype=bool)
    half = res / 2
    grown = ndimage.distance_transform_edt(~is_building) * res - half <= GROW_M
    if grown.all():
        return grown
    # Shrinking keeps the pixels farther than SHRINK_M from anything outside the grown zone.
    return ndimage.distance_transform_edt(grown) * res - half > SHRINK_M
