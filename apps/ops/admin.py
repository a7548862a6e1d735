from django.contrib import admin

from .models import DeferredTask


@admin.register(DeferredTask)
class DeferredTaskAdmin(admin.ModelAdmin):
    list_display = ("name", "args", "created_at", "error")
    readonly_fields = ("name", "args", "created_at", "error")
