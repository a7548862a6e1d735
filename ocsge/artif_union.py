"""The threshold rule read on the union of artificialised land, polygon by polygon — an
implementation independent of the platform's (set-based clustering in PostGIS,
`apps/artif/compute.py`), written the way the reference tools read the décret: the union of
the artificialised polygons; its holes under 2,500 m² filled; then its parts under
2,500 m² dropped unless they hold a building of 50 m² or more.

It gives each polygon IGN's two fields as recent OCS GE deliveries carry them — `artif`
(« artif » / « non artif ») and `crit_seuil` (the threshold changed the rule's answer) —
so that the synthetic deliveries (`ocsge.synth`, `--ign-artif`) carry flags the platform's
own computation can be compared with, as it is with IGN's real ones.

One difference of reading is known and kept: on the département's edge, land outside is
nothing to the platform (a small field on the edge, enclosed by the town on its other sides,
is filled) while a union has no hole there (the field stays natural).
"""

from __future__ import annotations

import numpy as np
import shapely

from .artificialisation import BUILDING, BUILDING_THRESHOLD_M2, THRESHOLD_M2, is_artificialised


def _union(geoms: np.ndarray):
    if len(geoms) == 0:
        return shapely.Polygon()
    try:
        return shapely.coverage_union_all(geoms)  # a tessellation: fast and exact
    except shapely.errors.GEOSException:
        return shapely.union_all(geoms)


def _inside(areas: np.ndarray, points: np.ndarray) -> np.ndarray:
    """For each point, whether it lies in one of `areas`."""
    found = np.zeros(len(points), dtype=bool)
    if len(areas) and len(points):
        hits = shapely.STRtree(areas).query(points, predicate="within")
        found[np.unique(hits[0])] = True
    return found


def flags(geoms, codes_cs, codes_us) -> tuple[np.ndarray, np.ndarray]:
    """(artif, crit_seuil) of each polygon: booleans, the threshold rule applied on the
    union of artificialised land."""
    geoms = np.asarray(geoms, dtype=object)
    cs = np.asarray(codes_cs, dtype=object)
    rule = np.array([is_artificialised(c, u) for c, u in zip(cs, codes_us, strict=True)], bool)
    points = shapely.point_on_surface(geoms)
    land = shapely.get_parts(_union(geoms[rule]))
    # Holes under the threshold: the polygons in them count as artificialised.
    rings, owner = shapely.get_rings(land, return_index=True)
    exterior = np.r_[True, owner[1:] != owner[:-1]] if len(owner) else np.zeros(0, bool)
    holes = shapely.polygons(rings[~exterior])
    small_holes = holes[shapely.area(holes) < THRESHOLD_M2]
    filled = ~rule & _inside(small_holes, points)
    artif = rule | filled
    # Then the parts under the threshold, holes filled, are dropped — unless they hold a
    # building of 50 m² or more (the décret's threshold for built surfaces).
    parts = shapely.get_parts(_union(np.concatenate([land, small_holes])))
    small = parts[shapely.area(parts) < THRESHOLD_M2]
    building = (cs == BUILDING) & (shapely.area(geoms) >= BUILDING_THRESHOLD_M2)
    if len(small) and building.any():
        holding = np.unique(shapely.STRtree(small).query(points[building], predicate="within")[1])
        small = np.delete(small, holding)
    dropped = artif & _inside(small, points)
    artif = artif & ~dropped
    return artif, artif != rule
