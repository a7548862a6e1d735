from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("comptes/inviter/", views.invite, name="invite"),
]
