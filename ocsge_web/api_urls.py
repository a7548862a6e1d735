from django.urls import include, path
from rest_framework.routers import DefaultRouter

from apps.artif import api as artif
from apps.landcover import api as landcover
from apps.signalements import api as signalements

router = DefaultRouter()
router.register("departements", landcover.DepartementViewSet, basename="departement")
router.register("vintages", landcover.VintageViewSet, basename="vintage")
router.register("communes", landcover.CommuneViewSet, basename="commune")
router.register("signalements", signalements.SignalementViewSet, basename="signalement")
router.register("rejection-reasons", signalements.RejectionReasonViewSet, basename="reason")

urlpatterns = [
    path("", include(router.urls)),
    path(
        "artificialisation/<str:level>/<str:code>/",
        artif.TerritorySummary.as_view(),
        name="artif-summary",
    ),
    path(
        "artificialisation/<str:level>/<str:code>/communes/",
        artif.TerritoryCommunes.as_view(),
        name="artif-communes",
    ),
]
