from django.apps import AppConfig


class LandcoverConfig(AppConfig):
    name = "apps.landcover"
    verbose_name = "Occupation du sol"
