from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.territories.loader import TerritoryFileError, load_territories


class Command(BaseCommand):
    help = "Load régions, départements and communes from an ADMIN EXPRESS GeoPackage (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file, **opts):
        try:
            counts = load_territories(file)
        except TerritoryFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['regions']} région(s), {counts['departements']} département(s), "
                f"{counts['communes']} commune(s) loaded"
            )
        )
