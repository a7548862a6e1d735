from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Commune, Departement, Epci, Membership, Organisation, Region


@admin.register(Region)
class RegionAdmin(LeafletGeoAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Departement)
class DepartementAdmin(LeafletGeoAdmin):
    list_display = ["code", "name", "region"]
    list_filter = ["region"]
    search_fields = ["code", "name"]


@admin.register(Epci)
class EpciAdmin(admin.ModelAdmin):
    list_display = ["siren", "name", "nature"]
    list_filter = ["nature"]
    search_fields = ["siren", "name"]


@admin.register(Commune)
class CommuneAdmin(LeafletGeoAdmin):
    list_display = ["code", "name", "departement", "siren_epci"]
    list_filter = ["departement"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["epcis"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind"]
    list_filter = ["kind"]
    search_fields = ["name"]
    filter_horizontal = ["regions", "departements"]
    autocomplete_fields = ["communes"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation", "role"]
    list_filter = ["role", "organisation__kind"]
    search_fields = ["user__username", "organisation__name"]
