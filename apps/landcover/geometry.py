"""Geometry helpers shared by corrections and their simulations."""

from django.contrib.gis.geos import MultiPolygon


def as_multipolygon(geom) -> MultiPolygon:
    """The polygonal part of a GEOS geometry as a MultiPolygon (the polygons' column type)."""
    if geom.geom_type == "MultiPolygon":
        return geom
    if geom.geom_type == "Polygon":
        return MultiPolygon(geom, srid=geom.srid)
    return MultiPolygon(*[g for g in geom if g.geom_type == "Polygon"], srid=geom.srid)
