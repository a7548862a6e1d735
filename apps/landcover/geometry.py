"""Geometry helpers: points into a département's CRS, and the boxes the endpoints that
describe an extent to GIS clients give (TileJSON, OGC API, catalogue)."""

import math

from django.contrib.gis.db.models import Extent
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, Polygon

from .models import LandCoverPolygon

# The Web Mercator world, for a territory with no geometry yet.
WORLD_WGS84 = (-180.0, -85.0511, 180.0, 85.0511)


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


def _box_wgs84(box) -> list[float]:
    """The WGS84 box of a projected box (xmin, ymin, xmax, ymax, srid): its edges cut in 16
    points each before the transformation (straight lines of a projection curve in WGS84)."""
    xmin, ymin, xmax, ymax, srid = box
    steps = [i / 16 for i in range(16)]
    ring = (
        [(xmin + (xmax - xmin) * t, ymin) for t in steps]
        + [(xmax, ymin + (ymax - ymin) * t) for t in steps]
        + [(xmax - (xmax - xmin) * t, ymax) for t in steps]
        + [(xmin, ymax - (ymax - ymin) * t) for t in steps]
    )
    outline = Polygon([*ring, ring[0]], srid=srid)
    return [round(v, 6) for v in outline.transform(4326, clone=True).extent]


def _header_box(geom) -> tuple | None:
    """(xmin, ymin, xmax, ymax, srid) of a box read from a stored geometry's header
    (`geofuncs.HeaderBox`), None for no geometry."""
    if geom is None:
        return None
    return (*geom.extent, geom.srid)


def departement_bounds_wgs84(departement) -> list[float]:
    """The département's outline's box in WGS84 (the whole world when it has none), from the
    outline's stored box: the outline itself (megabytes) is not read."""
    from apps.territories.models import Departement

    from .geofuncs import HeaderBox

    if hasattr(departement, "outline_box"):
        geom = departement.outline_box
    else:
        geom = (
            Departement.objects.filter(pk=departement.pk)
            .annotate(outline_box=HeaderBox("geom"))
            .values_list("outline_box", flat=True)
            .first()
        )
    box = _header_box(geom)
    return list(WORLD_WGS84) if box is None else _box_wgs84(box)


def bounds_wgs84(vintage) -> list[float]:
    """A vintage's box in WGS84: its département's outline's, else its polygons' extent.
    `vintage.departement_box` is used when the query annotated it (`geofuncs.HeaderBox`)."""
    if hasattr(vintage, "departement_box"):
        vintage.departement.outline_box = vintage.departement_box
    bounds = departement_bounds_wgs84(vintage.departement)
    if bounds != list(WORLD_WGS84):
        return bounds
    extent = LandCoverPolygon.objects.filter(vintage=vintage).aggregate(e=Extent("geom"))["e"]
    if extent is None:
        return list(WORLD_WGS84)
    return _box_wgs84((*extent, vintage.departement.srid))
