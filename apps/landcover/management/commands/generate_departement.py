from pathlib import Path

from django.core.management.base import CommandError

from apps.ops.commands import DataCommand
from ocsge import synth
from ocsge.synth.canvas import OutsideProjection


class Command(DataCommand):
    help = (
        "Write a synthetic département: OUTDIR/ocsge_M1.gpkg, OUTDIR/ocsge_M2.gpkg "
        "(official OCS GE layout) and OUTDIR/territoires.gpkg (ADMIN EXPRESS layout)."
    )

    def add_arguments(self, parser):
        parser.add_argument("outdir", type=Path)
        parser.add_argument("--code", default="99", help="INSEE code of the département")
        parser.add_argument("--name", default=None, help="name of the département")
        parser.add_argument("--size-km", type=float, default=12.0, help="width in km")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--resolution", type=float, default=2.5, help="raster step (m)")
        parser.add_argument(
            "--ign-artif",
            action="store_true",
            help="add IGN's artificialisation fields (artif, crit_seuil) as recent editions "
            "carry them, from an independent reading of the threshold rule",
        )
        parser.add_argument(
            "--shift-km",
            type=float,
            nargs=2,
            default=(0.0, 0.0),
            metavar=("EAST", "NORTH"),
            help="draw the département this far east and north of the usual place (several "
            "départements side by side, e.g. for the tile benchmark's low zooms)",
        )

    def handle(
        self, *args, outdir, code, name, size_km, seed, resolution, ign_artif, shift_km, **opts
    ):
        if resolution <= 0 or (resolution * 8) % 1:
            raise CommandError(
                "--resolution must be a multiple of 0.125 m (exact in binary, so that polygons "
                "of neighbouring pixels share their vertices exactly), e.g. 2.5 or 3.125."
            )
        if size_km <= 0.5:
            raise CommandError("--size-km must be above 0.5 km.")
        if not (code.isdigit() or code in ("2A", "2B")) or len(code) not in (2, 3):
            raise CommandError(f"--code {code!r} is not a département INSEE code (e.g. 99).")
        self.stdout.write(f"Generating département {code} ({size_km} km, seed {seed}) in {outdir}")
        try:
            result = synth.generate(
                outdir,
                code=code,
                size_km=size_km,
                seed=seed,
                res=resolution,
                name=name,
                log=self.stdout.write,
                ign_artif=ign_artif,
                shift_km=tuple(shift_km),
            )
        except OutsideProjection as exc:  # refused before anything is written
            raise CommandError(f"--shift-km: {exc}.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"M1: {result['polygons']['M1']} polygons, "
                f"M2: {result['polygons']['M2']} polygons, "
                f"{result['communes']} communes, {result['seconds']:.1f} s"
            )
        )
