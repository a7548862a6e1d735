from pathlib import Path

from django.core.management.base import CommandError

from apps.inference import finetune
from apps.inference.registry import registered
from apps.ops.commands import DataCommand
from apps.territories.models import Departement


class Command(DataCommand):
    help = (
        "Fine-tune the model on a département's corrections (on the GPU when there is one): "
        "start from a checkpoint, train on the corrected patches with a replay of the "
        "original training data, measure on held-out corrected areas before and after, and "
        "register the new checkpoint (retained for the département's next runs when it "
        "measures no worse)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--departement", required=True, help="INSEE code (e.g. 97)")
        parser.add_argument(
            "--from",
            dest="checkpoint",
            type=Path,
            help="the checkpoint to start from (registered; default: the one retained for the "
            "département)",
        )
        parser.add_argument("--steps", type=int, default=200)
        parser.add_argument("--patch", type=int, default=finetune.PATCH, help="patch side (px)")
        parser.add_argument("--lr", type=float, default=5e-4)
        parser.add_argument("--device", default="auto", help="auto, cpu, cuda …")

    def handle(self, *args, departement, checkpoint, steps, patch, lr, device, **opts):
        dep = Departement.objects.defer("geom").filter(code=departement).first()
        if dep is None:
            raise CommandError(f"Unknown département {departement}.")
        parent = None
        if checkpoint is not None:
            parent = registered(checkpoint)
            if parent is None:
                raise CommandError(
                    f"{checkpoint} is not in the model registry (train_demo_model registers "
                    "its model; a fine-tuning needs to know the data its start learnt from)."
                )
        if patch % 32:
            raise CommandError("--patch must be a multiple of 32.")
        try:
            version = finetune.start(dep, parent=parent, enqueue=False)
            version = finetune.run(
                version.pk, steps=steps, patch=patch, lr=lr, device=device, log=self.stdout.write
            )
        except finetune.FinetuneRefused as exc:
            raise CommandError(f"Fine-tuning refused: {exc}") from exc
        m = version.metrics
        self.stdout.write(
            f"{version.name}: mIoU on held-out corrected areas {m['before']['miou']:.3f} → "
            f"{m['after']['miou']:.3f}; worst class {m['worst_class_delta']:+.3f}; "
            f"{'retained' if version.active else 'not retained'} — {version.checkpoint}"
        )
