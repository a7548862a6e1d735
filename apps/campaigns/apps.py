from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "apps.campaigns"
    verbose_name = "Calendrier et boucles de retours"

    def ready(self):
        from apps.landcover import contributions
        from apps.signalements.signals import signalement_changed

        from .map import map_config
        from .notifications import on_signalement_changed

        contributions.MAP_CONFIG.append(map_config)
        signalement_changed.connect(on_signalement_changed, dispatch_uid="campaigns-notify")
