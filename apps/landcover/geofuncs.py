"""PostGIS functions Django does not ship, as query expressions."""

from django.db.models import BinaryField, BooleanField, Func, Value

from apps.ops.geofields import AnyCRSMultiPolygonField


class SimplifyPreserveTopology(Func):
    """ST_SimplifyPreserveTopology(geom, tolerance) on multipolygons of a département's CRS
    (the tolerance in its metres)."""

    function = "ST_SimplifyPreserveTopology"

    def __init__(self, expression, tolerance: float):
        super().__init__(expression, Value(tolerance), output_field=AnyCRSMultiPolygonField())


class SimplifyKeepingSmall(Func):
    """ST_Simplify(geom, tolerance, true): Douglas-Peucker, rings too small for the tolerance
    kept (for display: several times faster than the topology-preserving variant on a
    polygon of hundreds of thousands of vertices)."""

    template = "ST_Simplify(%(expressions)s, true)"

    def __init__(self, expression, tolerance: float):
        super().__init__(expression, Value(tolerance), output_field=AnyCRSMultiPolygonField())


def _window(point, half_side: float) -> Func:
    """The square box of `half_side` around `point` (a GEOS point of the geometry's CRS)."""
    centre = Func(Value(bytes(point.ewkb), output_field=BinaryField()), function="ST_GeomFromEWKB")
    return Func(centre, Value(half_side), function="ST_Expand", output_field=BinaryField())


class ClipToWindow(Func):
    """ST_ClipByBox2D(geom, window): the part of `geom` in the square window of `half_side`
    around `point` (a linear pass; the result is for display, not for overlay)."""

    function = "ST_ClipByBox2D"

    def __init__(self, expression, point, half_side: float):
        super().__init__(
            expression, _window(point, half_side), output_field=AnyCRSMultiPolygonField()
        )


class Beyond(Func):
    """Whether `geom`'s box goes beyond the square window of `half_side` around `point`
    (boxes only: read from the geometry's header, not its vertices)."""

    arg_joiner = " ~ "
    template = "NOT (%(expressions)s)"

    def __init__(self, expression, point, half_side: float):
        super().__init__(_window(point, half_side), expression, output_field=BooleanField())


class HeaderBox(Func):
    """The box of a geometry as a polygon of its CRS, read from the stored geometry's header
    (PostGIS reads a slice of the value, not its vertices)."""

    template = "ST_SetSRID(Box2D(%(expressions)s)::geometry, ST_SRID(%(expressions)s))"

    def __init__(self, expression):
        super().__init__(expression, output_field=AnyCRSMultiPolygonField())
