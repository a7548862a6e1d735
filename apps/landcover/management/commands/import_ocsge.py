import time
from pathlib import Path

from django.core.management.base import CommandError

from apps.landcover.derived import after_change
from apps.landcover.gpkg import ImportRefused, import_ocsge
from apps.landcover.management.progress import progress_bar
from apps.landcover.models import Vintage
from apps.ops.commands import DataCommand


class Command(DataCommand):
    help = "Import an OCS GE GeoPackage (layer OCCUPATION_SOL, and ZONE_CONSTRUITE) as a vintage."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--departement", required=True, help="INSEE code (e.g. 99)")
        parser.add_argument("--rank", required=True, choices=Vintage.Rank.values)
        parser.add_argument("--name", help="name of the département if it is not known yet")
        parser.add_argument(
            "--reproject",
            action="store_true",
            help="reproject from the file's CRS into the département's official one "
            "(EPSG:2154, or the DROM's UTM projection)",
        )
        parser.add_argument(
            "--repair", action="store_true", help="repair invalid geometries with ST_MakeValid"
        )
        parser.add_argument(
            "--replace", action="store_true", help="replace the existing vintage of that rank"
        )
        parser.add_argument(
            "--no-derived",
            "--no-difference",
            "--no-indicators",
            dest="no_derived",
            action="store_true",
            help="do not bring the derived data up to date (the M1→M2 change layer, the "
            "artificialisation indicators); later: compute_difference, compute_indicators",
        )

    def handle(self, *args, file, departement, rank, name, reproject, repair, replace, **opts):
        vintage = self._import(file, departement, rank, name, reproject, repair, replace)
        if not opts["no_derived"]:
            self.stdout.write(f"{departement}: derived data (change layer, indicators) …")
            start = time.perf_counter()
            report = after_change(vintage.departement)
            self.stdout.write(
                self.style.SUCCESS(
                    f"{departement}: {report.get('pieces', 0)} change pieces, indicators "
                    f"{'computed' if report.get('indicators') else 'not computed (no communes)'}"
                    f" in {time.perf_counter() - start:.1f} s"
                )
            )

    def _import(self, file, departement, rank, name, reproject, repair, replace):
        start = time.perf_counter()
        try:
            with progress_bar() as progress:
                vintage = import_ocsge(
                    file,
                    departement,
                    rank,
                    name=name,
                    reproject=reproject,
                    repair=repair,
                    replace=replace,
                    progress=progress,
                )
        except ImportRefused as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.perf_counter() - start
        repaired = getattr(vintage, "invalid_repaired", 0)
        self.stdout.write(
            self.style.SUCCESS(
                f"{vintage}: {vintage.polygon_count} polygons imported in {elapsed:.1f} s"
                + (f", {repaired} geometries repaired" if repaired else "")
                + " (rows checked and streamed in {streamed:.1f} s, indexes built in "
                "{indexed:.1f} s)".format(**vintage.import_seconds)
            )
        )
        return vintage
