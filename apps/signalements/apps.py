from django.apps import AppConfig


class SignalementsConfig(AppConfig):
    name = "apps.signalements"
    verbose_name = "Signalements"
