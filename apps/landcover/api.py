import django_filters
from rest_framework import serializers, viewsets
from rest_framework.permissions import AllowAny

from apps.territories.models import Departement

from .models import Vintage
from .scoping import visible_departements, visible_vintages


class DepartementSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code", default=None)

    class Meta:
        model = Departement
        fields = ["code", "name", "region"]


class VintageSerializer(serializers.ModelSerializer):
    departement = serializers.CharField(source="departement.code")

    class Meta:
        model = Vintage
        fields = [
            "id",
            "departement",
            "rank",
            "millesime",
            "state",
            "source",
            "revision",
            "polygon_count",
            "created_at",
        ]


class VintageFilter(django_filters.FilterSet):
    departement = django_filters.CharFilter(
        field_name="departement__code", help_text="Code INSEE du département (ex. 99)."
    )
    rank = django_filters.ChoiceFilter(choices=Vintage.Rank.choices, help_text="M1 ou M2.")
    state = django_filters.ChoiceFilter(choices=Vintage.State.choices, help_text="État.")

    class Meta:
        model = Vintage
        fields = ["departement", "rank", "state"]


class DepartementViewSet(viewsets.ReadOnlyModelViewSet):
    """Départements the caller may see (their territories, plus published ones)."""

    serializer_class = DepartementSerializer
    permission_classes = [AllowAny]
    lookup_field = "code"

    def get_queryset(self):
        return visible_departements(self.request.user).select_related("region").order_by("code")


class VintageViewSet(viewsets.ReadOnlyModelViewSet):
    """Vintages M1/M2 the caller may see."""

    serializer_class = VintageSerializer
    permission_classes = [AllowAny]
    filterset_class = VintageFilter

    def get_queryset(self):
        return (
            visible_vintages(self.request.user)
            .select_related("departement")
            .order_by("departement__code", "rank")
        )
