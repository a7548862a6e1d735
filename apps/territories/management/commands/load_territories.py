import time
from pathlib import Path

from django.core.management.base import CommandError

from apps.ops.commands import DataCommand
from apps.territories.loader import TerritoryFileError, load_territories


class Command(DataCommand):
    help = (
        "Load régions, départements, EPCI and communes from ADMIN EXPRESS as downloaded "
        "(.7z, folder, Shapefiles, GeoPackage, or the France-wide WGS84 GeoPackage); idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--departements",
            nargs="+",
            metavar="CODE",
            help="load only these départements (e.g. 32 2A), their région, communes and EPCI",
        )

    def handle(self, *args, file, departements, **opts):
        started = time.perf_counter()
        try:
            report = load_territories(file, departements=departements)
        except TerritoryFileError as exc:
            raise CommandError(str(exc)) from exc
        counts = report.counts
        for line in report.left_out:
            self.stdout.write(self.style.WARNING(f"left out: {line}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['regions']} région(s), {counts['departements']} département(s), "
                f"{counts['epci']} EPCI, {counts['communes']} commune(s) loaded in "
                f"{time.perf_counter() - started:.1f} s"
            )
        )
