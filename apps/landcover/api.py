import json
import math

import django_filters
from django.contrib.gis.db.models.functions import AsGeoJSON, Transform
from django.contrib.gis.geos import Point
from django.db.models import F
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from apps.territories.models import Commune, Departement
from apps.territories.permissions import signalement_scope

from . import contributions, tiles
from .geofuncs import Beyond, ClipToWindow, HeaderBox, SimplifyKeepingSmall
from .geometry import to_crs
from .models import CoverCode, LandCoverPolygon, PolygonRevision, UseCode, Vintage
from .scoping import visible_departements, visible_vintages

# The outline the map's panel receives: the polygon around the clicked point only.
PANEL_WINDOW_PIXELS = 1024  # each side of the point, at the map's zoom (a 2,048-px screen)
PANEL_WINDOW_M = 2_000.0  # each side, when no zoom is given


class DepartementSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code", default=None, allow_null=True)

    class Meta:
        model = Departement
        fields = ["code", "name", "region"]


class VintageSerializer(serializers.ModelSerializer):
    departement = serializers.CharField(source="departement.code")

    class Meta:
        model = Vintage
        fields = [
            "id",
            "departement",
            "rank",
            "millesime",
            "state",
            "source",
            "revision",
            "polygon_count",
            "created_at",
        ]


class VintageFilter(django_filters.FilterSet):
    departement = django_filters.CharFilter(
        field_name="departement__code", help_text="Code INSEE du département (ex. 99)."
    )
    rank = django_filters.ChoiceFilter(choices=Vintage.Rank.choices, help_text="M1 ou M2.")
    state = django_filters.ChoiceFilter(choices=Vintage.State.choices, help_text="État.")

    class Meta:
        model = Vintage
        fields = ["departement", "rank", "state"]


class DepartementViewSet(viewsets.ReadOnlyModelViewSet):
    """Départements the caller may see (their territories, plus published ones)."""

    serializer_class = DepartementSerializer
    permission_classes = [AllowAny]
    lookup_field = "code"

    def get_queryset(self):
        return visible_departements(self.request.user).select_related("region").order_by("code")


class VintageViewSet(viewsets.ReadOnlyModelViewSet):
    """Vintages M1/M2 the caller may see."""

    serializer_class = VintageSerializer
    permission_classes = [AllowAny]
    filterset_class = VintageFilter

    def get_queryset(self):
        return (
            visible_vintages(self.request.user)
            .select_related("departement")
            .defer("departement__geom")
            .order_by("departement__code", "rank")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("lon", OpenApiTypes.DOUBLE, required=True),
            OpenApiParameter("lat", OpenApiTypes.DOUBLE, required=True),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"], url_path="polygons/at")
    def polygon_at(self, request, pk=None):
        """The polygon of this vintage under a point (WGS84), on the exact geometry.

        Answers the map's click, whatever the generalisation of the tiles at that zoom.
        """
        vintage = self.get_object()
        params = LonLatSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        lat = params.validated_data["lat"]
        try:
            point = to_crs(Point(params.validated_data["lon"], lat, srid=4326), vintage.srid)
        except ValueError as exc:
            raise ValidationError({"lon": "Point hors de la projection du département."}) from exc
        # The outline sent (the highlight only): what a screen shows around the point —
        # PANEL_WINDOW_PIXELS each side at the map's zoom, else PANEL_WINDOW_M — at half a
        # screen pixel. A road network of 787,000 vertices over 3,000 ha took 4.6 s to send
        # whole (and 4.7 s clipped to 2,048 px but simplified preserving topology).
        if (z := params.validated_data.get("z")) is not None:
            pixel = tiles.tile_width(z) / 256 * math.cos(math.radians(lat))  # metres
            half_side = PANEL_WINDOW_PIXELS * pixel
            geom = SimplifyKeepingSmall(ClipToWindow(F("geom"), point, half_side), pixel / 2)
        else:
            half_side = PANEL_WINDOW_M
            geom = ClipToWindow(F("geom"), point, half_side)
        polygon = (
            LandCoverPolygon.objects.filter(vintage=vintage, geom__intersects=point)
            .defer("geom", "geom_3857")
            .annotate(
                geojson=AsGeoJSON(Transform(geom, 4326), precision=7),
                clipped=Beyond(F("geom"), point, half_side),
            )
            .order_by("id")
            .first()
        )
        if polygon is None:
            raise NotFound("Aucun polygone de ce millésime en ce point.")
        return Response(describe_polygon(polygon, vintage, request.user))


class LonLatSerializer(serializers.Serializer):
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    z = serializers.IntegerField(
        min_value=0,
        max_value=tiles.MAX_ZOOM,
        required=False,
        help_text="Zoom de la carte : la géométrie renvoyée est simplifiée à un demi-pixel.",
    )


class RevisionSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField(
        help_text="Nom de l'auteur, pour l'équipe du département seulement (null sinon)."
    )
    cause_label = serializers.CharField(source="get_cause_display")

    class Meta:
        model = PolygonRevision
        fields = [
            "revision",
            "code_cs_before",
            "code_us_before",
            "code_cs_after",
            "code_us_after",
            "author",
            "cause",
            "cause_label",
            "comment",
            "created_at",
        ]

    def get_author(self, revision) -> str | None:
        if not self.context.get("show_authors") or revision.author is None:
            return None
        return revision.author.get_full_name() or revision.author.username


def describe_polygon(polygon: LandCoverPolygon, vintage: Vintage, user) -> dict:
    """What the map's side panel shows about a polygon (labels and colours resolved)."""
    cover = CoverCode.objects.filter(code=polygon.code_cs).values("label", "colour").first() or {}
    use = UseCode.objects.filter(code=polygon.code_us).values("label", "colour").first() or {}
    revisions = polygon.revisions.select_related("author").order_by("-revision")
    return {
        "id": polygon.id,
        "ocsge_id": polygon.ocsge_id,
        "vintage": vintage.id,
        "rank": vintage.rank,
        "millesime": polygon.millesime or vintage.millesime,
        "code_cs": polygon.code_cs,
        "cs_label": cover.get("label", ""),
        "cs_colour": cover.get("colour", ""),
        "code_us": polygon.code_us,
        "us_label": use.get("label", ""),
        "us_colour": use.get("colour", ""),
        "area_m2": round(polygon.area or 0.0, 1),
        "model_class": polygon.model_class,
        "confidence": polygon.confidence,
        "revision": polygon.revision,
        # Who corrected: for the département's staff only (an invited account's username is
        # its e-mail address; the public and contributors see no names).
        "revisions": RevisionSerializer(
            revisions,
            many=True,
            context={"show_authors": signalement_scope(user, vintage.departement_id) is None},
        ).data,
        "feedback_open": vintage.feedback_open,
        "geometry": json.loads(polygon.geojson),
        # The outline above is cut to a window around the point when the polygon is larger.
        "geometry_clipped": bool(getattr(polygon, "clipped", False)),
        # What other apps add (the signalements on this polygon the viewer may see).
        **contributions.panel(polygon, vintage, user),
    }


class CommuneSerializer(serializers.ModelSerializer):
    departement = serializers.CharField(source="departement.code")
    bbox = serializers.SerializerMethodField(help_text="[ouest, sud, est, nord] en WGS84")

    class Meta:
        model = Commune
        fields = ["code", "name", "departement", "bbox"]

    def get_bbox(self, obj) -> list[float]:
        return [round(c, 6) for c in obj.bbox_4326.extent]


class CommuneViewSet(viewsets.ReadOnlyModelViewSet):
    """Communes of the départements the caller may see; `q` searches a name or an INSEE code."""

    serializer_class = CommuneSerializer
    permission_classes = [AllowAny]
    lookup_field = "code"

    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Nom (partie) ou code INSEE."),
            OpenApiParameter("departement", OpenApiTypes.STR),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        qs = (
            Commune.objects.filter(departement__in=visible_departements(self.request.user))
            .select_related("departement")
            # Boxes from the geometries' headers: neither the communes' outlines nor the
            # département's (megabytes) are read.
            .annotate(bbox_4326=Transform(HeaderBox("geom"), 4326))
            .defer("geom", "departement__geom")
            .order_by("name", "code")
        )
        params = self.request.query_params
        if dep := params.get("departement"):
            qs = qs.filter(departement__code=dep)
        if q := params.get("q", "").strip():
            if q.isdigit() or (len(q) >= 2 and q[:2].upper() in {"2A", "2B"}):
                qs = qs.filter(code__startswith=q.upper())
            else:
                qs = qs.filter(name__unaccent__icontains=q)
        return qs
