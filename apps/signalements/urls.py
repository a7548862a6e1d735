from django.urls import path

from . import views

app_name = "signalements"
urlpatterns = [path("departements/<str:code>/signalements/", views.queue, name="queue")]
