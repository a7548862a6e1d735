from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from leaflet.admin import LeafletGeoAdmin

from apps.ops.deliveries import SEVEN_ZIP, SQLITE, ZIP

from .models import (
    CoverCode,
    CoverUsePair,
    ImportJob,
    LandCoverPolygon,
    ModelClass,
    PolygonRevision,
    UseCode,
    Vintage,
    ZoneConstruite,
)


@admin.register(CoverCode)
class CoverCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "swatch"]
    search_fields = ["code", "label"]

    @admin.display(description=_("couleur"))
    def swatch(self, obj):
        return format_html(
            '<span style="display:inline-block;width:2em;height:1em;background:{}"></span> {}',
            obj.colour,
            obj.colour,
        )


@admin.register(UseCode)
class UseCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "label"]
    search_fields = ["code", "label"]


@admin.register(CoverUsePair)
class CoverUsePairAdmin(admin.ModelAdmin):
    list_display = ["cover", "use"]
    list_filter = ["cover", "use"]


@admin.register(ModelClass)
class ModelClassAdmin(admin.ModelAdmin):
    list_display = ["id", "label", "cover"]
    list_editable = ["cover"]


@admin.register(Vintage)
class VintageAdmin(admin.ModelAdmin):
    list_display = [
        "departement",
        "rank",
        "millesime",
        "state",
        "source",
        "polygon_count",
        "revision",
        "feedback_open",
    ]
    list_filter = ["state", "rank", "source", "feedback_open"]
    list_editable = ["feedback_open"]
    readonly_fields = ["polygon_count", "revision", "created_at"]


class RevisionInline(admin.TabularInline):
    model = PolygonRevision
    extra = 0
    can_delete = False
    fields = [
        "revision",
        "code_cs_before",
        "code_us_before",
        "code_cs_after",
        "code_us_after",
        "cause",
        "author",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LandCoverPolygon)
class LandCoverPolygonAdmin(LeafletGeoAdmin):
    list_display = ["ocsge_id", "vintage", "code_cs", "code_us", "area", "revision"]
    list_filter = ["vintage", "code_cs"]
    search_fields = ["ocsge_id"]
    list_select_related = ["vintage__departement"]
    readonly_fields = ["geom_3857", "revision"]
    inlines = [RevisionInline]
    show_full_result_count = False

    def get_queryset(self, request):
        # The list shows no outline: neither the polygons' nor their département's.
        return (
            super().get_queryset(request).defer("geom", "geom_3857", "vintage__departement__geom")
        )


@admin.register(ZoneConstruite)
class ZoneConstruiteAdmin(LeafletGeoAdmin):
    list_display = ["ocsge_id", "vintage", "millesime"]
    list_filter = ["vintage"]
    list_select_related = ["vintage__departement"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("geom", "vintage__departement__geom")


@admin.register(PolygonRevision)
class PolygonRevisionAdmin(LeafletGeoAdmin):
    list_display = [
        "polygon",
        "revision",
        "code_cs_before",
        "code_cs_after",
        "cause",
        "author",
        "created_at",
    ]
    list_filter = ["cause"]
    list_select_related = ["polygon", "author"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ImportJobForm(forms.ModelForm):
    class Meta:
        model = ImportJob
        fields = ["file", "departement_code", "departement_name", "rank", "reproject", "repair"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                _("Fichier trop volumineux (%(size)d Mo, maximum %(max)d Mo).")
                % {"size": upload.size // 2**20, "max": settings.IMPORT_UPLOAD_MAX_BYTES // 2**20}
            )
        head = upload.read(16)
        upload.seek(0)
        name = upload.name.lower()
        # The same inputs as `import_ocsge` (delivery.py), but one file: a GeoPackage, or the
        # delivery's archive as downloaded (a Shapefile travels in a .zip).
        kinds = {".gpkg": (SQLITE,), ".7z": (SEVEN_ZIP,), ".zip": (ZIP,)}
        suffix = next((s for s in kinds if name.endswith(s)), None)
        if suffix is None or not head.startswith(kinds[suffix]):
            raise forms.ValidationError(
                _(
                    "Le fichier doit être une livraison OCS GE : l'archive telle que "
                    "téléchargée (.7z, .zip) ou un GeoPackage (.gpkg)."
                )
            )
        return upload


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Upload a delivery here (its .7z or .zip as downloaded, or a GeoPackage): the import runs
    as a Celery task; the list shows progress."""

    list_display = ["__str__", "file", "state", "progress_bar", "short_message", "created_at"]
    list_filter = ["state"]
    fields = [
        "file",
        "departement_code",
        "departement_name",
        "rank",
        "reproject",
        "repair",
        "state",
        "progress",
        "message",
        "vintage",
        "created_by",
        "created_at",
        "finished_at",
    ]
    readonly_fields = [
        "state",
        "progress",
        "message",
        "vintage",
        "created_by",
        "created_at",
        "finished_at",
    ]
    change_list_template = "admin/landcover/importjob/change_list.html"
    form = ImportJobForm

    @admin.display(description=_("progression"))
    def progress_bar(self, obj):
        return format_html(
            '<progress max="100" value="{}"></progress> {} %',
            int(obj.progress * 100),
            int(obj.progress * 100),
        )

    @admin.display(description=_("message"))
    def short_message(self, obj):
        return (obj.message or "")[:200]

    def has_change_permission(self, request, obj=None):
        return obj is None  # jobs are created, then only watched

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)
        from .tasks import enqueue_import  # Celery only where a task is sent

        enqueue_import(obj)
        messages.info(request, _("Import lancé ; la progression s'affiche dans la liste."))

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["auto_refresh"] = ImportJob.objects.filter(
            state__in=[ImportJob.State.PENDING, ImportJob.State.RUNNING]
        ).exists()
        return super().changelist_view(request, extra_context)
