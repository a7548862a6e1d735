from django.urls import path

from . import ogc

app_name = "ogc"
urlpatterns = [
    path("", ogc.landing, name="landing"),
    path("conformance", ogc.conformance, name="conformance"),
    path("collections", ogc.collections, name="collections"),
    path("collections/<str:cid>", ogc.collection, name="collection"),
    path("collections/<str:cid>/items", ogc.items, name="items"),
    path("collections/<str:cid>/items/<int:fid>", ogc.item, name="item"),
]
