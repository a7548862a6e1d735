from django.apps import AppConfig


class ArtifConfig(AppConfig):
    name = "apps.artif"
    verbose_name = "Artificialisation"
