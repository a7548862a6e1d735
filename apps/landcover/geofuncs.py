"""PostGIS functions Django does not ship, as query expressions."""

from django.contrib.gis.db.models import MultiPolygonField
from django.db.models import Func, Value


class SimplifyPreserveTopology(Func):
    """ST_SimplifyPreserveTopology(geom, tolerance) on Lambert-93 multipolygons."""

    function = "ST_SimplifyPreserveTopology"

    def __init__(self, expression, tolerance: float, srid: int = 2154):
        super().__init__(expression, Value(tolerance), output_field=MultiPolygonField(srid=srid))
