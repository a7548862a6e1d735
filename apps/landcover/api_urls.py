from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter()
router.register("departements", api.DepartementViewSet, basename="departement")
router.register("vintages", api.VintageViewSet, basename="vintage")
router.register("communes", api.CommuneViewSet, basename="commune")

urlpatterns = [path("", include(router.urls))]
