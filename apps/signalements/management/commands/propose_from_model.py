from pathlib import Path

from django.core.management.base import CommandError

from apps.inference.registry import registered
from apps.landcover.management.vintages import vintage_or_refusal
from apps.landcover.models import Vintage
from apps.ops.commands import DataCommand
from apps.signalements import model_proposals


class Command(DataCommand):
    help = (
        "Classify again, with the retained (fine-tuned) model, the windows of a vintage where "
        "the model's confidence was low or corrections cluster, and file each disagreement "
        "as a « proposition du modèle » for the operators — never on a corrected polygon."
    )

    def add_arguments(self, parser):
        parser.add_argument("--departement", required=True, help="INSEE code (e.g. 97)")
        parser.add_argument("--rank", required=True, choices=Vintage.Rank.values)
        parser.add_argument(
            "--from",
            dest="checkpoint",
            type=Path,
            help="a registered checkpoint (default: the one retained for the département)",
        )
        parser.add_argument("--window", type=int, default=model_proposals.WINDOW)
        parser.add_argument(
            "--low",
            type=float,
            default=model_proposals.LOW_CONFIDENCE,
            help="polygons under this confidence (0–1) are looked at again",
        )
        parser.add_argument("--device", default="cpu", help="cpu, cuda …")

    def handle(self, *args, departement, rank, checkpoint, window, low, device, **opts):
        vintage = vintage_or_refusal(departement, rank)
        version = None
        if checkpoint is not None:
            version = registered(checkpoint)
            if version is None:
                raise CommandError(f"{checkpoint} is not in the model registry.")
        if window % 32:
            raise CommandError("--window must be a multiple of 32.")
        try:
            s = model_proposals.propose(
                vintage, version, window=window, low=low, device=device, log=self.stdout.write
            )
        except model_proposals.ProposalsRefused as exc:
            raise CommandError(f"No proposals: {exc}.") from exc
        self.stdout.write(
            f"{s.windows} windows classified again, {s.polygons_compared} polygons compared, "
            f"{s.disagreements} disagreements: {len(s.filed)} proposals filed, "
            f"{s.skipped_corrected} left alone (corrected), {s.skipped_open} already open."
        )
