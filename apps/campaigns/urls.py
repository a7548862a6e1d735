from django.urls import path

from . import dashboard, views

app_name = "campaigns"
urlpatterns = [
    path("departements/<str:code>/calendrier/", views.plan_page, name="plan"),
    path(
        "departements/<str:code>/boucles/<str:rank>/<str:action>/",
        views.loop_action,
        name="loop",
    ),
    path(
        "departements/<str:code>/millesimes/<str:rank>/etat/",
        views.vintage_state,
        name="vintage-state",
    ),
    path("departements/<str:code>/rapport-qualite/", views.quality_page, name="quality"),
    path("departements/<str:code>/publier/", views.publish_view, name="publish"),
    path("mes-signalements/", views.mine, name="mine"),
    path("donnees/", views.open_data, name="open-data"),
    path("donnees/catalogue.jsonld", views.open_data_catalogue, name="open-data-catalogue"),
    path("donnees/<str:code>/<str:name>", views.open_data_file, name="open-data-file"),
    path("nomenclature/", views.nomenclature, name="nomenclature"),
    path("tableau-de-bord/", dashboard.dashboard, name="dashboard"),
    path("tableau-de-bord/regions/<str:code>/", dashboard.region_dashboard, name="region"),
]
