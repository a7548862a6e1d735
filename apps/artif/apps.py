from django.apps import AppConfig


class ArtifConfig(AppConfig):
    name = "apps.artif"
    verbose_name = "Artificialisation"

    def ready(self):
        from apps.landcover.derived import polygons_changed

        from .receivers import follow_polygons

        polygons_changed.connect(follow_polygons, dispatch_uid="artif-indicators")
