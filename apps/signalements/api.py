"""REST API of signalements: list (GeoJSON, filters), detail, filing, comments, attachments,
one action endpoint per transition (`/signalements/{id}/accept/` …) and bulk decisions."""

import datetime
import functools

import django_filters
from django.contrib.auth import get_user_model
from django.contrib.gis.gdal import CoordTransform, SpatialReference
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Value,
    Window,
)
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework_gis.fields import GeometryField
from rest_framework_gis.pagination import GeoJsonPagination
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from apps.artif.impact import format_delta
from apps.ops.parsers import JSONParser
from apps.ops.rows import Reader, select_list
from apps.territories.models import Commune

from . import access, batch, conversation, decisions, filing, uploads
from .models import (
    Attachment,
    RejectionReason,
    Signalement,
    SignalementComment,
    SignalementEvent,
)
from .throttles import FilingRateThrottle
from .transitions import OPEN, Action, Status
from .uploads import AttachmentLimits


class CountedPaginator(Paginator):
    """Pages of `page_keys`: the list's size is read from the page's first row, so a page
    costs one scan of the filtered signalements instead of two (a COUNT, then the sorted
    page). An empty page (beyond the last, or no row at all) counts as Django does."""

    def page(self, number):
        try:
            number = int(number)
        except (TypeError, ValueError):
            return super().page(number)  # refused as Django refuses it
        if number >= 1:
            bottom = (number - 1) * self.per_page
            rows = list(self.object_list[bottom : bottom + self.per_page])
            if rows:
                self.__dict__["count"] = rows[0][2]  # Paginator.count is a cached property
                return self._get_page(rows, number, self)
        return super().page(number)


class Pagination(GeoJsonPagination):
    max_page_size = 2000
    django_paginator_class = CountedPaginator

    def get_paginated_response_schema(self, schema):
        # `schema` is already the FeatureCollection of the list serializer: the page is that
        # collection plus the counters. (djangorestframework-gis's own version nests the
        # collection inside "features" and still requires "results": found by the
        # schemathesis fuzz test.)
        page = {"type": "string", "format": "uri", "nullable": True}
        return {
            "allOf": [
                schema,
                {
                    "type": "object",
                    "required": ["type", "count", "features"],
                    "properties": {"count": {"type": "integer"}, "next": page, "previous": page},
                },
            ]
        }


class UTCDateTimeField(django_filters.fields.IsoDateTimeField):
    """ISO 8601, brought to UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO allows
    (`…-23:15` answered 500 before: found by the schemathesis fuzz test)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError as exc:
            raise ValidationError(_("Date hors limites."), code="invalid") from exc


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class SignalementFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices, distinct=False, help_text="Statut(s)."
    )
    open = django_filters.BooleanFilter(method="filter_open", help_text="Ouverts seulement.")
    kind = django_filters.ChoiceFilter(
        choices=Signalement.Kind.choices,
        help_text="Nature : contribution, ou cohérence M1/M2 proposée par la plateforme.",
    )
    vintage = django_filters.NumberFilter(field_name="vintage_id", help_text="Id du millésime.")
    departement = django_filters.CharFilter(
        field_name="vintage__departement__code", help_text="Code INSEE du département."
    )
    commune = django_filters.CharFilter(method="filter_commune", help_text="Code INSEE.")
    code_cs_proposed = django_filters.CharFilter(help_text="CS proposée.")
    code_us_proposed = django_filters.CharFilter(help_text="US proposé.")
    code_cs_current = django_filters.CharFilter(help_text="CS actuelle.")
    organisation = django_filters.NumberFilter(
        field_name="organisation_id", help_text="Id de l'organisation."
    )
    created_after = UTCDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Déposés depuis (ISO 8601)."
    )
    created_before = UTCDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Déposés avant (ISO 8601)."
    )
    ordering = django_filters.OrderingFilter(
        fields=(("priority", "priority"), ("created_at", "created_at"), ("area", "area")),
        help_text="priority (confiance faible, grande surface, plusieurs signalements au même "
        "endroit), created_at, area ; « - » pour l'ordre inverse.",
    )

    class Meta:
        model = Signalement
        fields = []

    def filter_open(self, queryset, name, value):
        return queryset.filter(status__in=OPEN) if value else queryset.exclude(status__in=OPEN)

    def filter_commune(self, queryset, name, value):
        inside = Commune.objects.filter(code=value, geom__intersects=OuterRef("location"))
        return queryset.filter(Exists(inside))


def ranked(queryset):
    """The sort keys only: `group_size` (signalements of the list on the same polygon, a
    window over the filtered rows) and `priority` (low model confidence first, then large
    areas, then crowded places). Narrow rows, so sorting 100,000 signalements stays cheap."""
    group = Window(expression=Count("pk"), partition_by=[F("polygon_id")])
    return queryset.annotate(
        group_size=group,
        priority=Coalesce(F("model_confidence"), 1.0) * 1e9 - F("area") / 1e3 - group * 1e6,
    )


def annotated(queryset):
    """Everything a list row shows, in one query (no query per row). No select_related of
    the polygon or the département: their geometries would ride along every row."""
    return queryset.select_related("author", "organisation", "assignee", "reason").annotate(
        departement_code=F("vintage__departement__code"),
        rank=F("vintage__rank"),
    )


def as_listed(signalement):
    """A signalement loaded with its vintage and département, given what `annotated` adds
    (no query: for answering from an object in hand)."""
    signalement.departement_code = signalement.vintage.departement.code
    signalement.rank = signalement.vintage.rank
    signalement.group_size = None
    return signalement


def page_keys(ranked_queryset):
    """(pk, group_size, total) of a sorted `ranked` queryset: `total` (every row of the
    list, a window over them) comes with the page, so `CountedPaginator` runs no COUNT."""
    return ranked_queryset.annotate(total=Window(expression=Count("pk"))).values_list(
        "pk", "group_size", "total"
    )


def page_rows(ranked_page) -> list:
    """Full rows for a page of `page_keys`, in the page's order."""
    keys = list(ranked_page)
    rows = annotated(Signalement.objects.filter(pk__in=[k[0] for k in keys])).in_bulk()
    out = []
    for pk, group_size, *_total in keys:
        row = rows[pk]
        row.group_size = group_size
        out.append(row)
    return out


@functools.cache
def _to_wgs84(srid: int) -> CoordTransform:
    return CoordTransform(SpatialReference(srid), SpatialReference(4326))


def wgs84(geom):
    """A geometry of a département's CRS in WGS84, through one transformation object per CRS
    built once (building it per row costs more than the rest of the row)."""
    if geom is not None and geom.srid not in (None, 4326):
        return geom.transform(_to_wgs84(geom.srid), clone=True)
    return geom


class WGS84(GeometryField):
    """A geometry of a département's CRS written as WGS84 GeoJSON."""

    def to_representation(self, value):
        return super().to_representation(wgs84(value))


class SignalementSerializer(GeoFeatureModelSerializer):
    location = WGS84(read_only=True, precision=7)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    departement = serializers.CharField(source="departement_code", read_only=True)
    rank = serializers.CharField(read_only=True)
    author = serializers.CharField(source="author.username", read_only=True)
    organisation_name = serializers.CharField(source="organisation.name", read_only=True)
    assignee = serializers.CharField(
        source="assignee.username", default=None, read_only=True, allow_null=True
    )
    reason = serializers.CharField(
        source="reason.label", default=None, read_only=True, allow_null=True
    )
    group_size = serializers.IntegerField(read_only=True, allow_null=True)
    confidence = serializers.FloatField(source="model_confidence", read_only=True, allow_null=True)
    artif_impact_text = serializers.SerializerMethodField()

    class Meta:
        model = Signalement
        geo_field = "location"
        fields = [
            "id",
            "kind",
            "kind_label",
            "origin",
            "vintage",
            "rank",
            "departement",
            "polygon",
            "status",
            "status_label",
            "code_cs_current",
            "code_us_current",
            "code_cs_proposed",
            "code_us_proposed",
            "comment",
            "area",
            "author",
            "organisation",
            "organisation_name",
            "assignee",
            "reason",
            "decision_message",
            "group_size",
            "confidence",
            "artif_impact",
            "artif_impact_text",
            "created_at",
            "updated_at",
        ]

    def get_artif_impact_text(self, obj) -> str:
        return format_delta(obj.artif_impact)

    def to_representation(self, instance):
        """What DRF's walk over the fields declared above gives (the OpenAPI schema is made
        from them; `test_the_hand_written_representation_is_drfs` compares both), written
        out: that walk built 25 fields for each serializer (2 ms a filing or decision) and
        asked each for its value (0.1 ms a row of a list)."""
        return {
            "id": instance.pk,
            "type": "Feature",
            "geometry": _geometry(instance.location),
            "properties": self.properties(instance),
        }

    def properties(self, s) -> dict:
        assignee, reason = s.assignee, s.reason
        return {
            "kind": s.kind,
            "kind_label": str(s.get_kind_display()),
            "origin": s.origin_id,
            "vintage": s.vintage_id,
            "rank": _text(s.rank),
            "departement": _text(s.departement_code),
            "polygon": s.polygon_id,
            "status": s.status,
            "status_label": str(s.get_status_display()),
            "code_cs_current": s.code_cs_current,
            "code_us_current": s.code_us_current,
            "code_cs_proposed": s.code_cs_proposed,
            "code_us_proposed": s.code_us_proposed,
            "comment": s.comment,
            "area": _number(s.area),
            "author": s.author.username,
            "organisation": s.organisation_id,
            "organisation_name": s.organisation.name,
            "assignee": None if assignee is None else assignee.username,
            "reason": None if reason is None else reason.label,
            "decision_message": s.decision_message,
            "group_size": None if s.group_size is None else int(s.group_size),
            "confidence": _number(s.model_confidence),
            "artif_impact": _number(s.artif_impact),
            "artif_impact_text": format_delta(s.artif_impact),
            "created_at": _datetime(s.created_at),
            "updated_at": _datetime(s.updated_at),
        }


# The fields whose representation is not plain (time zone and format; GeoJSON with its
# rounding): one instance each, asked by the hand-written representations (neither reads
# its serializer).
_DATETIME = serializers.DateTimeField()
_WGS84 = WGS84(precision=7)


def _geometry(value):
    return None if value is None else _WGS84.to_representation(value)


def _datetime(value):
    return None if value is None else _DATETIME.to_representation(value)


def _text(value):
    return None if value is None else str(value)


def _number(value):
    return None if value is None else float(value)


class EventSerializer(serializers.Serializer):
    actor = serializers.CharField(source="actor.username")
    action = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    reason = serializers.CharField(source="reason.label", default=None, allow_null=True)
    message = serializers.CharField()
    created_at = serializers.DateTimeField()


class CommentSerializer(serializers.Serializer):
    author = serializers.CharField(source="author.username", read_only=True)
    text = serializers.CharField(max_length=5000)
    created_at = serializers.DateTimeField(read_only=True)


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.SerializerMethodField(help_text="Téléchargement (mêmes droits).")

    def get_url(self, obj) -> str:
        return reverse("signalements:attachment", args=[obj.signalement_id, obj.pk])


class SignalementDetailSerializer(SignalementSerializer):
    events = EventSerializer(many=True, read_only=True)
    comments = CommentSerializer(many=True, read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    drawn = WGS84(source="geom", read_only=True, precision=7, allow_null=True)
    related = serializers.SerializerMethodField(
        help_text="Signalements ouverts au même endroit (même polygone, ou même proposition "
        "sur une forme qui se recouvre)."
    )

    class Meta(SignalementSerializer.Meta):
        fields = [
            *SignalementSerializer.Meta.fields,
            "drawn",
            "events",
            "comments",
            "attachments",
            "related",
        ]

    def get_related(self, obj) -> list[int]:
        return decisions.related_open(obj, self.context["request"].user)

    def properties(self, s) -> dict:
        return {
            **super().properties(s),
            "drawn": _geometry(s.geom),
            "events": [
                {
                    "actor": e.actor.username,
                    "action": _text(e.action),
                    "from_status": _text(e.from_status),
                    "to_status": _text(e.to_status),
                    "reason": None if e.reason is None else e.reason.label,
                    "message": _text(e.message),
                    "created_at": _datetime(e.created_at),
                }
                for e in s.events.all()
            ],
            "comments": [
                {
                    "author": c.author.username,
                    "text": _text(c.text),
                    "created_at": _datetime(c.created_at),
                }
                for c in s.comments.all()
            ],
            "attachments": [
                {
                    "id": a.pk,
                    "name": _text(a.name),
                    "content_type": _text(a.content_type),
                    "size": None if a.size is None else int(a.size),
                    "url": reverse("signalements:attachment", args=[a.signalement_id, a.pk]),
                }
                for a in s.attachments.all()
            ],
            "related": self.get_related(s),
        }


class BatchSerializer(serializers.Serializer):
    vintage = serializers.IntegerField()
    file = serializers.FileField(
        help_text="GeoPackage, GeoJSON, Shapefile zippé ou CSV (lon, lat) des propositions."
    )
    mode = serializers.ChoiceField(
        choices=[("all", "tout ou rien"), ("valid", "les lignes valides")], default="all"
    )


class FilingSerializer(serializers.Serializer):
    vintage = serializers.IntegerField()
    code_cs_proposed = serializers.CharField(required=False, allow_blank=True, default="")
    code_us_proposed = serializers.CharField(required=False, allow_blank=True, default="")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    polygon = serializers.IntegerField(required=False, allow_null=True, default=None)
    lon = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=-180, max_value=180
    )
    lat = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=-90, max_value=90
    )
    geom = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Forme dessinée : GeoJSON Polygon en WGS84 (ou EWKT dans le système du "
        "département, EPSG:2154 en métropole).",
    )
    attachments = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        max_length=uploads.MAX_ATTACHMENTS,
    )

    def filing(self) -> filing.Filing:
        d = self.validated_data
        return filing.Filing(
            vintage_id=d["vintage"],
            code_cs_proposed=d["code_cs_proposed"],
            code_us_proposed=d["code_us_proposed"],
            comment=d["comment"],
            polygon_id=d["polygon"],
            lon=d["lon"],
            lat=d["lat"],
            geom=d["geom"],
        )


class DecisionSerializer(serializers.Serializer):
    reason = serializers.PrimaryKeyRelatedField(
        queryset=RejectionReason.objects.filter(active=True), required=False, allow_null=True
    )
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class BulkSerializer(DecisionSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=5000)
    action = serializers.ChoiceField(choices=Action.choices)


class ReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = RejectionReason
        fields = ["id", "code", "label", "applies_to", "explanation"]


def _uploads(files) -> list[uploads.Upload]:
    """The request's files, as streamed to disk by `AttachmentLimits` (never read here)."""
    return [uploads.Upload(name=f.name, file=f) for f in files]


def transition(step: Action):
    """The endpoint of one transition of the life cycle: `POST /signalements/{id}/<step>/`
    (its OpenAPI description says what a 409 and a 403 mean)."""

    def decorate(endpoint):
        endpoint = action(detail=True, methods=["post"], url_path=step.value, url_name=step.value)(
            endpoint
        )
        return extend_schema(
            request=DecisionSerializer,
            responses={200: SignalementDetailSerializer},
            summary=str(step.label),
            description=f"Transition « {step.label} » of the life cycle; 409 when the "
            "signalement's status no longer allows it (someone decided first), 403 when the "
            "caller may not.",
        )(endpoint)

    return decorate


# What the detail shows beside the signalement: a query each.
DETAIL_PREFETCH = (
    Prefetch("events", SignalementEvent.objects.select_related("actor", "reason")),
    Prefetch("comments", SignalementComment.objects.select_related("author")),
    "attachments",
)


_User = get_user_model()
_EVENT = select_list(SignalementEvent, "e")
_ACTOR = select_list(_User, "u")
_REASON = select_list(RejectionReason, "r")
_COMMENT = select_list(SignalementComment, "c")
_ATTACHMENT = select_list(Attachment, "a")
# `DETAIL_PREFETCH`, hand-written (Django's prefetch machinery took 9 ms of a decision to
# build its three queries): each list in the order of its model, people and reasons with it.
_DETAIL_LISTS = (
    f"""SELECT {_EVENT[1]}, {_ACTOR[1]}, {_REASON[1]}
    FROM {SignalementEvent._meta.db_table} e
    JOIN {_User._meta.db_table} u ON u.id = e.actor_id
    LEFT JOIN {RejectionReason._meta.db_table} r ON r.id = e.reason_id
    WHERE e.signalement_id = %s ORDER BY e.created_at, e.id""",
    f"""SELECT {_COMMENT[1]}, {_ACTOR[1]} FROM {SignalementComment._meta.db_table} c
    JOIN {_User._meta.db_table} u ON u.id = c.author_id
    WHERE c.signalement_id = %s ORDER BY c.created_at, c.id""",
    f"""SELECT {_ATTACHMENT[1]} FROM {Attachment._meta.db_table} a
    WHERE a.signalement_id = %s ORDER BY a.created_at, a.id""",
)


def detail_lists(signalement_id: int) -> dict[str, list]:
    """The journal, comments and attachments of a signalement, as `DETAIL_PREFETCH` reads
    them (for Django's prefetch cache): the three statements sent at once, one round trip
    (psycopg's client-side binding; `nextset` steps to each one's rows)."""
    out = {"events": [], "comments": [], "attachments": []}
    with connection.cursor() as cur:
        cur.execute(";\n".join(_DETAIL_LISTS), [signalement_id] * len(_DETAIL_LISTS))
        for row in cur.fetchall():
            read = Reader(row)
            event = read.take(SignalementEvent, _EVENT[0])
            event.actor = read.take(_User, _ACTOR[0])
            event.reason = read.take_nullable(RejectionReason, _REASON[0])
            out["events"].append(event)
        cur.nextset()
        for row in cur.fetchall():
            read = Reader(row)
            comment = read.take(SignalementComment, _COMMENT[0])
            comment.author = read.take(_User, _ACTOR[0])
            out["comments"].append(comment)
        cur.nextset()
        out["attachments"] = [Reader(row).take(Attachment, _ATTACHMENT[0]) for row in cur]
    return out


class SignalementViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Signalements the caller may see: their organisation's, or all of the départements
    they operate or review. Decisions are action endpoints, one per transition."""

    filterset_class = SignalementFilter
    pagination_class = Pagination
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    lookup_value_regex = "[0-9]+"  # anything else is no signalement's id: 404 by the router

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body: attachments are counted and measured while they
        # stream, to temporary files (never held in memory).
        request.upload_handlers = [
            AttachmentLimits(request),
            TemporaryFileUploadHandler(request),
        ]
        return super().initialize_request(request, *args, **kwargs)

    def get_queryset(self):
        if self.action == "list":
            return ranked(access.visible_signalements(self.request.user)).order_by(
                "-created_at", "-pk"
            )
        qs = annotated(access.visible_signalements(self.request.user)).annotate(
            group_size=Value(None, output_field=IntegerField())
        )
        if self.action == "retrieve":
            qs = qs.prefetch_related(*DETAIL_PREFETCH)
        return qs.order_by("-created_at", "-pk")

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.action in ("create", "batch"):
            throttles.append(FilingRateThrottle())
        return throttles

    def get_serializer_class(self):
        if self.action == "retrieve":
            return SignalementDetailSerializer
        if self.action == "create":
            return FilingSerializer
        return SignalementSerializer

    def list(self, request, *args, **kwargs):
        """Sorted and paginated on narrow rows, then the page's 50 rows read whole."""
        keys = page_keys(self.filter_queryset(self.get_queryset()))
        page = self.paginate_queryset(keys)
        data = SignalementSerializer(page_rows(page), many=True).data
        return self.get_paginated_response(data)

    def _detail(self, pk, code=status.HTTP_200_OK, instance=None, **extra):
        self.action = "retrieve"
        if instance is None:
            instance = self.get_queryset().get(pk=pk)
        data = SignalementDetailSerializer(instance, context=self.get_serializer_context()).data
        data.update(extra)
        return Response(data, status=code)

    @extend_schema(request=FilingSerializer, responses={201: SignalementDetailSerializer})
    def create(self, request, *args, **kwargs):
        """File a signalement (contributors): JSON, or multipart with `attachments`."""
        serializer = FilingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        uploads = _uploads(serializer.validated_data["attachments"])
        signalement = filing.file_signalement(request.user, serializer.filing(), uploads)
        # Answered from the object just written: Django's prefetch cache filled as
        # `prefetch_related` would have (this object is serialized and dropped: nothing
        # else reads these lists).
        signalement._prefetched_objects_cache = signalement.written
        return self._detail(
            signalement.pk,
            status.HTTP_201_CREATED,
            instance=as_listed(signalement),
            hint=signalement.hint,
        )

    @extend_schema(request=BatchSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser])
    def batch(self, request):
        """File from a file (GeoPackage, GeoJSON, zipped Shapefile, CSV of lon/lat): every
        row checked as a filing from the map; `mode` « all » files nothing when one row is
        refused, « valid » files the valid ones. The file is read at once (400 when refused
        whole); its rows are checked and filed by a worker: 202 with `url`, where the
        progress (`checked` of `total`) and then each row's fate are read — or, when the
        worker was done before the answer, 201 (something filed) or 200 with the rows."""
        serializer = BatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        d = serializer.validated_data
        try:
            job = batch.start(request.user, d["vintage"], d["file"], d["mode"] == "all")
        except batch.BatchRefused as exc:
            return Response({"detail": str(exc), "field": "file"}, status=400)
        job.refresh_from_db()
        if not job.finished:
            return Response(self._batch_state(request, job), status=status.HTTP_202_ACCEPTED)
        return Response(
            self._batch_state(request, job),
            status=status.HTTP_201_CREATED if job.filed else status.HTTP_200_OK,
        )

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"], url_path=r"batch/(?P<job_id>[0-9]+)")
    def batch_status(self, request, job_id=None):
        """A filing from a file, its sender's only: `state`, `checked` of `total` rows, and
        once finished `filed`, `refused` and each row's fate (`rows`)."""
        from .models import BatchFiling

        job = BatchFiling.objects.filter(pk=job_id, user=request.user.pk).first()
        if job is None:
            raise NotFound
        return Response(self._batch_state(request, job))

    @staticmethod
    def _batch_state(request, job) -> dict:
        state = {
            "id": job.pk,
            "url": request.build_absolute_uri(
                reverse("signalement-batch-status", kwargs={"job_id": job.pk})
            ),
            "state": job.state,
            "checked": job.checked,
            "total": job.total,
        }
        if job.finished:
            state.update(
                filed=job.filed,
                refused=len(job.outcomes) - job.filed,
                rows=job.outcomes,
                detail=job.message,
            )
        return state

    @extend_schema(request=FilingSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"])
    def check(self, request):
        """Check a filing without writing it: errors, area, minimum mapping unit, hint."""
        serializer = FilingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = filing.prepare(request.user, serializer.filing())
        return Response(
            {
                "polygon": plan["polygon"].pk,
                "code_cs_current": plan["current"][0],
                "code_us_current": plan["current"][1],
                "area": round(plan["area"], 1),
                "minimum_mapping_unit": plan["mmu"],
                "hint": plan["hint"],
                "artif_impact": plan["impact"],
                "artif_impact_text": format_delta(plan["impact"]["delta_m2"])
                if plan["impact"]
                else "",
                "clipped": filing.clipped(plan),
            }
        )

    @extend_schema(request=CommentSerializer, responses={201: CommentSerializer})
    @action(detail=True, methods=["post"])
    def comments(self, request, pk=None):
        """Comment a signalement (its organisation, the operators of its département)."""
        signalement = self.get_object()
        serializer = CommentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        comment = conversation.add_comment(
            request.user, signalement.pk, serializer.validated_data["text"]
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request={"multipart/form-data": OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def attachments(self, request, pk=None):
        """Add attachments (the author, while open): up to 4 in all, 16 MB each."""
        signalement = self.get_object()
        uploads = _uploads(request.FILES.getlist("attachments"))
        conversation.add_attachments(request.user, signalement.pk, uploads)
        return self._detail(signalement.pk, status.HTTP_201_CREATED)

    @extend_schema(request=BulkSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """The same decision on many signalements; each succeeds or fails on its own."""
        serializer = BulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        d = serializer.validated_data
        results = decisions.bulk_action(
            request.user,
            d["ids"],
            d["action"],
            reason=d["reason"].pk if d.get("reason") else None,
            message=d["message"],
        )
        done = sum(r["ok"] for r in results)
        return Response({"done": done, "failed": len(results) - done, "results": results})

    def _decided(self, signalement):
        """The answer to a decision, from the signalement as `access.locked` read and the
        decision left it; its journal, comments and attachments read by `detail_lists`."""
        signalement._prefetched_objects_cache = detail_lists(signalement.pk)
        return self._detail(signalement.pk, instance=as_listed(signalement))

    def _act(self, request, pk, name):
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data.get("reason")
        signalement = decisions.apply_action(  # 404 outside the caller's scope
            request.user,
            int(pk),
            name,
            reason=reason.pk if reason else None,
            message=serializer.validated_data["message"],
        )
        return self._decided(signalement)

    # One endpoint per transition of `transitions.TRANSITIONS`, each deciding through `_act`.
    @transition(Action.TAKE)
    def take(self, request, pk=None):
        return self._act(request, pk, Action.TAKE)

    @transition(Action.ASK_INFO)
    def ask_info(self, request, pk=None):
        return self._act(request, pk, Action.ASK_INFO)

    @transition(Action.ANSWER)
    def answer(self, request, pk=None):
        return self._act(request, pk, Action.ANSWER)

    @transition(Action.ACCEPT)
    def accept(self, request, pk=None):
        return self._act(request, pk, Action.ACCEPT)

    @transition(Action.ALREADY_DONE)
    def already_done(self, request, pk=None):
        return self._act(request, pk, Action.ALREADY_DONE)

    @transition(Action.REJECT_OUT_OF_SPEC)
    def reject_out_of_spec(self, request, pk=None):
        return self._act(request, pk, Action.REJECT_OUT_OF_SPEC)

    @transition(Action.REJECT_IRRELEVANT)
    def reject_irrelevant(self, request, pk=None):
        return self._act(request, pk, Action.REJECT_IRRELEVANT)

    @transition(Action.WITHDRAW)
    def withdraw(self, request, pk=None):
        return self._act(request, pk, Action.WITHDRAW)

    @extend_schema(
        request=None,
        responses={200: SignalementDetailSerializer},
        summary="Annuler la dernière décision",
        description="Within 15 minutes, by the operator who decided (or a manager): the "
        "status back, an accept's correction reverted; 409 when too late, when the polygon "
        "changed since, or when the last action is no decision.",
    )
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        return self._decided(decisions.undo(request.user, int(pk)))  # 404 outside the scope


class RejectionReasonViewSet(viewsets.ReadOnlyModelViewSet):
    """The table of rejection reasons (editable in the admin)."""

    serializer_class = ReasonSerializer
    queryset = RejectionReason.objects.filter(active=True)
    pagination_class = None
