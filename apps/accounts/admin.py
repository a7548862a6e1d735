from django.contrib import admin

from .models import Invitation


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organisation", "role", "invited_by", "created_at")
    list_filter = ("role", "organisation__kind")
    search_fields = ("email", "organisation__name")
    readonly_fields = ("email", "user", "organisation", "role", "invited_by", "created_at")
