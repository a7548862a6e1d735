from django.contrib import admin

from .models import Invitation, MembershipEvent


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organisation", "role", "invited_by", "created_at")
    list_filter = ("role", "organisation__kind")
    search_fields = ("email", "organisation__name")
    readonly_fields = ("email", "user", "organisation", "role", "invited_by", "created_at")


@admin.register(MembershipEvent)
class MembershipEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail of memberships."""

    list_display = (
        "created_at",
        "actor",
        "user",
        "organisation",
        "action",
        "from_role",
        "to_role",
    )
    list_filter = ("action", "to_role")
    search_fields = ("user__username", "organisation__name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
