import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.landcover.gpkg import ImportRefused, export_ocsge
from apps.landcover.models import Vintage


class Command(BaseCommand):
    help = "Export the current revision of a vintage as an OCS GE GeoPackage."

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path)
        parser.add_argument("--departement", required=True)
        parser.add_argument("--rank", required=True, choices=Vintage.Rank.values)

    def handle(self, *args, out, departement, rank, **opts):
        bar = tqdm(total=0, unit=" polygones", disable=not sys.stderr.isatty(), file=sys.stderr)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        start = time.perf_counter()
        try:
            n = export_ocsge(departement, rank, out, progress=progress)
        except ImportRefused as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"{n} polygons written to {out} in {time.perf_counter() - start:.1f} s"
            )
        )
