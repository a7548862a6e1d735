from django.urls import path

from . import views

app_name = "inference"
urlpatterns = [
    path("departements/<str:code>/inference/", views.runs_page, name="runs"),
    path("departements/<str:code>/inference/<int:pk>/etat/", views.run_state, name="state"),
    path("departements/<str:code>/inference/affiner/", views.finetune_page, name="finetune"),
    path(
        "departements/<str:code>/inference/<int:pk>/<str:action>/",
        views.run_action,
        name="action",
    ),
]
