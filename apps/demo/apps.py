from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo département (`load_demo`): it drives every app, so it sits above them all."""

    name = "apps.demo"
    verbose_name = "Démonstration"
