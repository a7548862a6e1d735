"""Geometry helpers shared by corrections and their simulations, and by the endpoints that
describe a vintage's extent to GIS clients (TileJSON, OGC API)."""

import math

from django.contrib.gis.db.models import Extent
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, MultiPolygon, Polygon

from .models import LandCoverPolygon

# The Web Mercator world, for a territory with no geometry yet.
WORLD_WGS84 = (-180.0, -85.0511, 180.0, 85.0511)


def as_multipolygon(geom) -> MultiPolygon:
    """The polygonal part of a GEOS geometry as a MultiPolygon (the polygons' column type)."""
    if geom.geom_type == "MultiPolygon":
        return geom
    if geom.geom_type == "Polygon":
        return MultiPolygon(geom, srid=geom.srid)
    return MultiPolygon(*[g for g in geom if g.geom_type == "Polygon"], srid=geom.srid)


def to_crs(geom, srid: int):
    """`geom` (any SRID) transformed to `srid` — a département's official CRS —, in place;
    ValueError when the projection has no finite answer there (a point at the pole, 1e308):
    a bad input, never a 500."""
    try:
        if geom.srid != srid:
            geom.transform(srid)
        finite = geom.empty or all(math.isfinite(v) for v in geom.extent)
    except (GDALException, GEOSException, ValueError) as exc:
        raise ValueError(str(exc)) from exc
    if not finite:
        raise ValueError("coordinates outside the projection")
    return geom


def _box_wgs84(geom) -> list[float]:
    return [round(v, 6) for v in geom.transform(4326, clone=True).extent]


def departement_bounds_wgs84(departement) -> list[float]:
    """The département's outline's box in WGS84 (the whole world when it has none)."""
    return list(WORLD_WGS84) if departement.geom is None else _box_wgs84(departement.geom)


def bounds_wgs84(vintage) -> list[float]:
    """A vintage's box in WGS84: its département's outline, else its polygons' extent."""
    if vintage.departement.geom is not None:
        return departement_bounds_wgs84(vintage.departement)
    extent = LandCoverPolygon.objects.filter(vintage=vintage).aggregate(e=Extent("geom"))["e"]
    if extent is None:
        return list(WORLD_WGS84)
    box = Polygon.from_bbox(extent)
    box.srid = vintage.departement.srid
    return _box_wgs84(box)
