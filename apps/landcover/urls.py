from django.urls import path

from . import views

app_name = "landcover"
urlpatterns = [
    path("", views.home, name="home"),
    path("departements/<str:code>/", views.departement_detail, name="departement"),
    path("departements/<str:code>/carte/", views.departement_map, name="map"),
]
