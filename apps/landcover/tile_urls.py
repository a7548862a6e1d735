from django.urls import path

from . import tile_views

app_name = "tiles"
urlpatterns = [
    path("<int:vintage_id>/<int:z>/<int:x>/<int:y>.pbf", tile_views.vintage_tile, name="vintage"),
    path("<int:vintage_id>/tilejson.json", tile_views.vintage_tilejson, name="tilejson"),
    path("<int:vintage_id>/style.json", tile_views.vintage_style, name="style"),
    path(
        "changes/<str:code>/<int:z>/<int:x>/<int:y>.pbf",
        tile_views.change_tile,
        name="changes",
    ),
]
