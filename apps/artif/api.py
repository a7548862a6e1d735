"""Artificialisation API: a territory's figures, and its communes as GeoJSON (choropleth)."""

import json

from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON, Transform
from django.utils.decorators import method_decorator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.landcover.geofuncs import SimplifyPreserveTopology
from apps.ops.timeouts import longer_statements

from .queries import Level, per_commune, summary, territory_or_404

# Communes drawn at département scale: 10 m is below a screen pixel at zoom 13.
SIMPLIFY_M = 10.0

LEVEL_PARAM = OpenApiParameter(
    "level", str, OpenApiParameter.PATH, enum=list(Level.ALL), description="territory level"
)
CODE_PARAM = OpenApiParameter(
    "code", str, OpenApiParameter.PATH, description="INSEE code (SIREN for an EPCI)"
)


class TerritorySummary(APIView):
    """Artificialised area and share per vintage (threshold rule applied), by CS and US, and
    the M1→M2 flows (artificialisation, désartificialisation, net), in hectares."""

    permission_classes = [AllowAny]  # scoped by visible vintages: published ones are open

    @extend_schema(parameters=[LEVEL_PARAM, CODE_PARAM], responses=OpenApiTypes.OBJECT)
    @method_decorator(longer_statements(settings.FIGURES_STATEMENT_TIMEOUT_MS))
    def get(self, request, level, code):
        return Response(summary(request.user, territory_or_404(request.user, level, code)))


class TerritoryCommunes(APIView):
    """The territory's communes as a GeoJSON FeatureCollection (WGS84, simplified to 10 m)
    with their figures: the choropleth of the territory page and of the map."""

    permission_classes = [AllowAny]

    @extend_schema(parameters=[LEVEL_PARAM, CODE_PARAM], responses=OpenApiTypes.OBJECT)
    @method_decorator(longer_statements(settings.FIGURES_STATEMENT_TIMEOUT_MS))
    def get(self, request, level, code):
        found = territory_or_404(request.user, level, code)
        rows = {row["code"]: row for row in per_commune(request.user, found)}
        shapes = found.communes.annotate(
            shape=AsGeoJSON(
                Transform(SimplifyPreserveTopology("geom", SIMPLIFY_M), 4326), precision=6
            )
        ).values_list("code", "shape")
        features = [
            {"type": "Feature", "geometry": json.loads(shape), "properties": rows[code]}
            for code, shape in shapes
            if code in rows
        ]
        return Response({"type": "FeatureCollection", "features": features})
