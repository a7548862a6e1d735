"""Geometry columns whose rows carry their own SRID: each département's geometries are in
its official CRS (Lambert-93 in metropolitan France, a UTM projection in each DROM —
`ocsge.crs`), so areas, minimum mapping units and the artificialisation threshold are
measured in metres of the local projection (docs/crs.md).

GeoDjango knows only columns of one SRID: it wraps a geometry of another SRID in
`ST_Transform(…, field SRID)` when writing, filtering or calling a function. Here no
transformation is ever implied: the field's SRID is a wildcard that compares equal to every
SRID (so GeoDjango passes geometries as they are), the column is `geometry(<type>)` with no
SRID constraint, and the code gives each geometry its département's SRID
(`Departement.srid`). A geometry given without an SRID gets Lambert-93's, as before. Mixing
SRIDs in one statement is an error PostGIS reports, never a silent wrong answer.
"""

from django.contrib.gis.db import models

NOMINAL_SRID = 2154  # what a geometry given without SRID is taken to be


class AnySRID(int):
    """An SRID equal to every SRID (GeoDjango compares the field's with the value's) — but
    -1, GeoDjango's « unknown », which would make it overwrite the value's own."""

    def __eq__(self, other):
        if other is None or (isinstance(other, int) and other > 0):
            return True
        return super().__eq__(other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = int.__hash__


class _AnyCRS:
    def __init__(self, *args, **kwargs):
        kwargs["srid"] = AnySRID(NOMINAL_SRID)
        super().__init__(*args, **kwargs)

    def db_type(self, connection):
        return f"geometry({self.geom_type})"

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("srid", None)
        return name, path, args, kwargs


class AnyCRSMultiPolygonField(_AnyCRS, models.MultiPolygonField):
    pass


class AnyCRSPolygonField(_AnyCRS, models.PolygonField):
    pass


class AnyCRSPointField(_AnyCRS, models.PointField):
    pass
