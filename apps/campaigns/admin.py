from django.contrib import admin

from .models import Milestone, OutboxMail, ProductionPlan


class MilestoneInline(admin.TabularInline):
    model = Milestone
    extra = 0
    fields = ["order", "step", "planned_date", "actual_date", "time", "place", "invitees"]
    filter_horizontal = ["invitees"]


@admin.register(ProductionPlan)
class ProductionPlanAdmin(admin.ModelAdmin):
    list_display = ["departement", "start_date", "created_at"]
    inlines = [MilestoneInline]


@admin.register(OutboxMail)
class OutboxMailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "recipient", "subject", "state", "attempts", "sent_at"]
    list_filter = ["state", "kind", "departement"]
    search_fields = ["recipient", "subject", "key"]
    readonly_fields = [f.name for f in OutboxMail._meta.fields]

    def has_add_permission(self, request):
        return False
