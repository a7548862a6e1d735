import time
from pathlib import Path

from django.core.management.base import CommandError

from apps.inference.models import InferenceRun
from apps.inference.orchestration import RunRefused, start
from apps.landcover.management.progress import progress_bar
from apps.landcover.models import Vintage
from apps.ops.commands import DataCommand
from apps.territories.models import Departement


class Command(DataCommand):
    help = (
        "Classify a département's aerial photos (RGB, NIR, elevation rasters) with a "
        "checkpoint, block by block on the `gpu` queue (eagerly without a broker), and make "
        "the result a draft vintage."
    )

    def add_arguments(self, parser):
        parser.add_argument("--departement", required=True, help="INSEE code (e.g. 99)")
        parser.add_argument("--rank", required=True, choices=Vintage.Rank.values)
        parser.add_argument("--millesime", type=int, required=True, help="year of the photos")
        parser.add_argument(
            "--rgb", type=Path, required=True, help="raster, or folder of BD ORTHO dalles"
        )
        parser.add_argument(
            "--nir",
            type=Path,
            required=True,
            help="raster, or folder of BD ORTHO IRC dalles (band 1)",
        )
        parser.add_argument(
            "--elevation", type=Path, required=True, help="raster, or folder of RGE ALTI dalles"
        )
        parser.add_argument("--checkpoint", type=Path, required=True)
        parser.add_argument(
            "--block-px",
            type=int,
            default=8192,
            help="block side in pixels (8192: 1.6 km at 20 cm)",
        )
        parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 …")
        parser.add_argument(
            "--no-wait", action="store_true", help="return once the blocks are queued"
        )

    def handle(
        self,
        *args,
        departement,
        rank,
        millesime,
        rgb,
        nir,
        elevation,
        checkpoint,
        block_px,
        device,
        no_wait,
        **opts,
    ):
        dep = Departement.objects.filter(code=departement).first()
        if dep is None:
            raise CommandError(f"Département {departement} inconnu.")
        if block_px < 512:
            raise CommandError("--block-px must be at least 512.")
        run = InferenceRun(
            departement=dep,
            rank=rank,
            millesime=millesime,
            rgb=str(rgb),
            nir=str(nir),
            elevation=str(elevation),
            checkpoint=str(checkpoint),
            block_px=block_px,
            device=device,
        )
        started = time.perf_counter()
        try:
            with progress_bar(unit=" blocs") as progress:
                run = start(run)
                self.stdout.write(f"run {run.pk}: {run.blocks_total} blocks")
                while not no_wait:
                    run.refresh_from_db()
                    progress(run.blocks_done, run.blocks_total)
                    if run.state in InferenceRun.FINISHED:
                        break
                    time.sleep(1.0)
        except RunRefused as exc:
            raise CommandError(f"Inférence refusée : {exc}") from exc
        if no_wait:
            self.stdout.write(f"run {run.pk} queued ({run.blocks_total} blocks)")
            return
        if run.state != InferenceRun.State.DONE:
            raise CommandError(f"run {run.pk} {run.get_state_display()}: {run.message}")
        self.stdout.write(
            self.style.SUCCESS(
                f"run {run.pk}: {run.vintage.polygon_count} polygons in draft vintage "
                f"{run.vintage} ({time.perf_counter() - started:.1f} s)"
            )
        )
