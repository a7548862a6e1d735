from django.contrib import admin

from .models import InferenceBlock, InferenceRun, ModelVersion


class BlockInline(admin.TabularInline):
    model = InferenceBlock
    extra = 0
    can_delete = False
    fields = [
        "index",
        "col_off",
        "row_off",
        "width",
        "height",
        "state",
        "attempts",
        "polygons",
        "seconds",
        "message",
    ]
    readonly_fields = fields


@admin.register(InferenceRun)
class InferenceRunAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "departement",
        "rank",
        "millesime",
        "state",
        "blocks_done",
        "blocks_total",
        "created_at",
    ]
    list_filter = ["state", "departement"]
    readonly_fields = [
        "state",
        "blocks_total",
        "blocks_done",
        "message",
        "vintage",
        "created_by",
        "finished_at",
    ]
    inlines = [BlockInline]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """The registry, read in the admin; only « retenu » is changed here (a version is made by
    train_demo_model or a fine-tuning)."""

    list_display = ["name", "departement", "parent", "state", "active", "created_at"]
    list_filter = ["state", "active"]
    readonly_fields = [
        "name",
        "checkpoint",
        "parent",
        "departement",
        "state",
        "message",
        "metrics",
        "provenance",
        "created_by",
        "created_at",
    ]
