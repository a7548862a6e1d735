from django.apps import AppConfig


class TerritoriesConfig(AppConfig):
    name = "apps.territories"
    verbose_name = "Territoires"
