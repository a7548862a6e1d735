from django.contrib import admin

from .models import InferenceBlock, InferenceRun


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
