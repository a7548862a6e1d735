"""Geometry helpers shared by corrections and their simulations."""

import math

from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, MultiPolygon


def as_multipolygon(geom) -> MultiPolygon:
    """The polygonal part of a GEOS geometry as a MultiPolygon (the polygons' column type)."""
    if geom.geom_type == "MultiPolygon":
        return geom
    if geom.geom_type == "Polygon":
        return MultiPolygon(geom, srid=geom.srid)
    return MultiPolygon(*[g for g in geom if g.geom_type == "Polygon"], srid=geom.srid)


def to_lambert93(geom):
    """`geom` (any SRID) transformed to Lambert-93, in place; ValueError when the projection
    has no finite answer there (a point at the pole, 1e308): a bad input, never a 500."""
    try:
        if geom.srid != 2154:
            geom.transform(2154)
        finite = geom.empty or all(math.isfinite(v) for v in geom.extent)
    except (GDALException, GEOSException, ValueError) as exc:
        raise ValueError(str(exc)) from exc
    if not finite:
        raise ValueError("coordinates outside the projection")
    return geom
