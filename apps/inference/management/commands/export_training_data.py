from pathlib import Path

from django.core.management.base import CommandError

from apps.inference.training import (
    Photos,
    TrainingRefused,
    build_training_set,
    photos_of,
    zip_training_set,
)
from apps.landcover.management.progress import progress_bar
from apps.landcover.management.vintages import vintage_or_refusal
from apps.landcover.models import Vintage
from apps.ops.commands import DataCommand


class Command(DataCommand):
    help = (
        "Write a corrected vintage and its aerial photos as a training set in FLAIR-1's "
        "layout (512 px patches of the 5 bands, labels of the model's classes, metadata per "
        "patch with where its labels come from)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--departement", required=True, help="INSEE code (e.g. 97)")
        parser.add_argument("--rank", required=True, choices=Vintage.Rank.values)
        parser.add_argument("--out", type=Path, required=True, help="folder (replaced)")
        parser.add_argument(
            "--only-corrected",
            action="store_true",
            help="keep the patches holding corrected labels only",
        )
        parser.add_argument("--zip", action="store_true", help="also write <out>.zip")
        for band in ("rgb", "nir", "elevation"):
            parser.add_argument(
                f"--{band}",
                type=Path,
                help="the photos (default: those of the inference run that made the vintage)",
            )

    def handle(self, *args, departement, rank, out, only_corrected, zip, **opts):
        vintage = vintage_or_refusal(departement, rank)
        given = [opts[b] for b in ("rgb", "nir", "elevation")]
        if any(given) and not all(given):
            raise CommandError("Give --rgb, --nir and --elevation together.")
        photos = Photos(*given) if all(given) else photos_of(vintage)
        if photos is None:
            raise CommandError(
                "No photos known for this vintage (no finished inference run made it, or its "
                "photos are gone): give --rgb, --nir and --elevation."
            )
        for path in (photos.rgb, photos.nir, photos.elevation):
            if not Path(path).is_file():
                raise CommandError(f"Photo raster not found: {path}")
        try:
            with progress_bar(" patches") as progress:
                summary = build_training_set(
                    vintage, photos, out, only_corrected=only_corrected, progress=progress
                )
        except TrainingRefused as exc:
            raise CommandError(f"Training set not written: {exc}") from exc
        self.stdout.write(
            f"{summary['patches']} patches written under {out} "
            f"(label pixels by source: {summary['label_pixels']})"
        )
        if zip:
            self.stdout.write(f"archive: {zip_training_set(out, out.with_suffix('.zip'))}")
