from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "apps.campaigns"
    verbose_name = "Calendrier et boucles de retours"

    def ready(self):
        from apps.landcover import contributions

        from .map import map_config

        contributions.MAP_CONFIG.append(map_config)
