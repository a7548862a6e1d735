import time
from pathlib import Path

from django.core.management.base import CommandError

from apps.landcover.gpkg import ImportRefused, export_ocsge
from apps.landcover.management.progress import progress_bar
from apps.landcover.models import Vintage
from apps.ops.commands import DataCommand


class Command(DataCommand):
    help = "Export the current revision of a vintage as an OCS GE GeoPackage."

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path)
        parser.add_argument("--departement", required=True)
        parser.add_argument("--rank", required=True, choices=Vintage.Rank.values)

    def handle(self, *args, out, departement, rank, **opts):
        start = time.perf_counter()
        try:
            with progress_bar() as progress:
                n = export_ocsge(departement, rank, out, progress=progress)
        except ImportRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{n} polygons written to {out} in {time.perf_counter() - start:.1f} s"
            )
        )
