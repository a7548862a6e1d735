from pathlib import Path

from django.core.management.base import CommandError

from apps.inference.ml.synthetic import render_geopackage
from apps.ops.commands import DataCommand


class Command(DataCommand):
    help = (
        "Render synthetic aerial photos (OUTDIR/rgb.tif, nir.tif, elevation.tif) of a vintage "
        "written by generate_departement, as inputs for run_inference and the demo model."
    )

    def add_arguments(self, parser):
        parser.add_argument("gpkg", type=Path, help="e.g. var/data/demo/ocsge_M1.gpkg")
        parser.add_argument("outdir", type=Path)
        parser.add_argument("--resolution", type=float, default=1.25, help="metres per pixel")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, gpkg, outdir, resolution, seed, **opts):
        if not gpkg.is_file():
            raise CommandError(f"{gpkg} not found")
        if resolution <= 0:
            raise CommandError("--resolution must be positive")
        result = render_geopackage(gpkg, outdir, res=resolution, seed=seed, log=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(f"{result['width']}×{result['height']} px written to {outdir}")
        )
