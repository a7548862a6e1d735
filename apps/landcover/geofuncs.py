"""PostGIS functions Django does not ship, as query expressions."""

from django.db.models import Func, Value

from apps.ops.geofields import AnyCRSMultiPolygonField


class SimplifyPreserveTopology(Func):
    """ST_SimplifyPreserveTopology(geom, tolerance) on multipolygons of a département's CRS
    (the tolerance in its metres)."""

    function = "ST_SimplifyPreserveTopology"

    def __init__(self, expression, tolerance: float):
        super().__init__(expression, Value(tolerance), output_field=AnyCRSMultiPolygonField())
