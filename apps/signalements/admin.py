from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Attachment, RejectionReason, Signalement, SignalementComment, SignalementEvent


@admin.register(RejectionReason)
class RejectionReasonAdmin(admin.ModelAdmin):
    list_display = ["label", "code", "applies_to", "active"]
    list_filter = ["applies_to", "active"]
    search_fields = ["label", "code"]


class EventInline(admin.TabularInline):
    model = SignalementEvent
    extra = 0
    can_delete = False
    readonly_fields = [
        "actor",
        "action",
        "from_status",
        "to_status",
        "reason",
        "message",
        "created_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    readonly_fields = ["name", "content_type", "size", "uploaded_by", "created_at"]


class CommentInline(admin.TabularInline):
    model = SignalementComment
    extra = 0
    readonly_fields = ["author", "created_at"]


@admin.register(Signalement)
class SignalementAdmin(LeafletGeoAdmin):
    """Read-mostly: statuses change through the life cycle (API, queue), never by hand."""

    list_display = [
        "id",
        "vintage",
        "status",
        "code_cs_current",
        "code_cs_proposed",
        "organisation",
        "created_at",
    ]
    list_filter = ["status", "vintage__departement", "organisation"]
    search_fields = ["id", "comment", "author__username"]
    list_select_related = ["vintage__departement", "organisation"]
    raw_id_fields = ["polygon", "author", "assignee", "decided_by"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("vintage__departement__geom")

    readonly_fields = ["status", "decided_by", "decided_at", "reason", "created_at", "updated_at"]
    inlines = [EventInline, CommentInline, AttachmentInline]
