"""A drawn vintage as the OCS GE product: vectorised like the inference output (sieved to the
minimum mapping units, polygonized, simplified as a coverage) and written in the official
layout (OCCUPATION_SOL and ZONE_CONSTRUITE, Lambert-93)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from affine import Affine

from ocsge import artif_union
from ocsge.nomenclature import MMU_BUILDING_M2, MMU_BUILT_UP_M2, MMU_ELSEWHERE_M2
from ocsge.ogr import pyogrio
from ocsge.vectorize import min_pixels, polygonize, sieve_components, simplify_coverage

from .themes import THEMES


def _min_sizes(res: float):
    pa = res * res
    # 10 % above the legend's units, so simplified polygons still honour them.
    building = min_pixels(MMU_BUILDING_M2 * 1.1, pa)
    elsewhere = min_pixels(MMU_ELSEWHERE_M2 * 1.1, pa)
    built_up = min_pixels(MMU_BUILT_UP_M2 * 1.1, pa)
    per_class = {v: (building if t[2] else elsewhere) for v, t in THEMES.items()}
    zone = {v: built_up for v, t in THEMES.items() if not t[2]}
    return per_class, elsewhere, zone


def vectorize(raster: np.ndarray, built_up: np.ndarray, res: float, transform: Affine):
    """Sieve, polygonize and simplify a theme raster into a coverage.

    Returns (geoms, values, borders): `borders` maps each side of the raster ("top",
    "bottom", "left", "right") to the index of the polygon under each of its pixels (-1
    outside the département), which is how tiles drawn apart are joined.
    """
    per_class, default, zone = _min_sizes(res)
    sieved, comp = sieve_components(
        raster,
        per_class,
        default_min_size=default,
        zone_mask=built_up,
        zone_min_size=zone,
        nodata=0,
    )
    # The outside is left out, so the département's border is an outer edge of the coverage,
    # kept as drawn: it is the same in M1 and M2 (the outline both must lie within).
    polys = polygonize(sieved, transform, nodata=0, components=comp)
    geoms = simplify_coverage(polys.geoms, tolerance=res * 0.75)
    keep = ~shapely.is_empty(geoms)
    index = np.full(int(comp.max()) + 1, -1, dtype=np.int64)
    index[polys.components[keep]] = np.arange(int(keep.sum()))
    borders = {
        "top": index[comp[0]],
        "bottom": index[comp[-1]],
        "left": index[comp[:, 0]],
        "right": index[comp[:, -1]],
    }
    return geoms[keep], polys.values[keep], borders


def ocsge_ids(prefix_number: int, count: int) -> np.ndarray:
    return np.array([f"OCSGE{prefix_number * 10**12 + i + 1:016d}" for i in range(count)])


def write_vintage(
    path: Path,
    geoms,
    values,
    millesime: int,
    id_prefix: int,
    built_geoms,
    ign_artif=False,
    epsg: int = 2154,
):
    """The vintage's GeoPackage in the official layout; with `ign_artif`, the fields `artif`
    and `crit_seuil` of recent editions, from an independent reading of the threshold rule
    (`ocsge.artif_union`)."""
    cs = np.array([THEMES[int(v)][0] for v in values])
    us = np.array([THEMES[int(v)][1] for v in values])
    columns = {
        "id": ocsge_ids(id_prefix, len(values)),
        "code_cs": cs,
        "code_us": us,
        "millesime": np.full(len(values), millesime, dtype=np.int32),
        "source": np.full(len(values), "synthetique", dtype=object),
        "ossature": np.isin(values, (4, 5)).astype(np.int32),
        "id_origine": np.full(len(values), "", dtype=object),
        "code_or": np.full(len(values), "", dtype=object),
    }
    if ign_artif:
        artif, crit_seuil = artif_union.flags(geoms, cs, us)
        columns["artif"] = np.where(artif, "artif", "non artif").astype(object)
        columns["crit_seuil"] = crit_seuil
    if path.exists():
        path.unlink()
    # GDAL writes each Polygon as a one-part MultiPolygon (the official layout's type).
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.asarray(geoms, dtype=object)),
        list(columns.values()),
        list(columns.keys()),
        layer="OCCUPATION_SOL",
        driver="GPKG",
        geometry_type="MultiPolygon",
        promote_to_multi=True,
        crs=f"EPSG:{epsg}",
    )
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.asarray(built_geoms, dtype=object)),
        [
            ocsge_ids(id_prefix + 50, len(built_geoms)),
            np.full(len(built_geoms), millesime, dtype=np.int32),
        ],
        ["id", "millesime"],
        layer="ZONE_CONSTRUITE",
        driver="GPKG",
        geometry_type="MultiPolygon",
        promote_to_multi=True,
        crs=f"EPSG:{epsg}",
        append=True,
    )
    return cs, us
