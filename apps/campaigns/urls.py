from django.urls import path

from . import views

app_name = "campaigns"
urlpatterns = [
    path("departements/<str:code>/calendrier/", views.plan_page, name="plan"),
    path(
        "departements/<str:code>/boucles/<str:rank>/<str:action>/",
        views.loop_action,
        name="loop",
    ),
    path("nomenclature/", views.nomenclature, name="nomenclature"),
]
