from django.apps import AppConfig


class SignalementsConfig(AppConfig):
    name = "apps.signalements"
    verbose_name = "Signalements"

    def ready(self):
        from apps.landcover import contributions

        from .map import TILE_SIGNALEMENTS, map_config, ogc_collections, polygon_signalements

        contributions.MAP_CONFIG.append(map_config)
        contributions.PANEL.append(polygon_signalements)
        contributions.TILE_LAYERS.append(TILE_SIGNALEMENTS)
        contributions.OGC_COLLECTIONS.append(ogc_collections)
