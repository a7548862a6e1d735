"""Train the demo U-Net on synthetic aerial photos and report its mIoU on held-out tiles."""

import json
import time
from pathlib import Path

import torch
from django.core.management.base import CommandError

from apps.inference.ml.checkpoint import ModelMeta, save_checkpoint
from apps.inference.ml.train import band_statistics, evaluate, make_samples, train
from apps.inference.ml.unet import UNet
from apps.inference.registry import register_general
from apps.landcover.models import ModelClass
from apps.ops.commands import DataCommand


class Command(DataCommand):
    help = (
        "Train a small U-Net (ResNet-18) on imagery rendered from generated landscapes, save "
        "it as a checkpoint and write its mIoU on held-out synthetic tiles beside it (.json)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=Path("var/models/demo_unet.pt"))
        parser.add_argument("--steps", type=int, default=800)
        parser.add_argument("--batch", type=int, default=8)
        parser.add_argument("--crop", type=int, default=128)
        parser.add_argument("--train-seeds", type=int, nargs="+", default=[1, 2, 3, 4])
        parser.add_argument("--eval-seeds", type=int, nargs="+", default=[101, 102])
        parser.add_argument("--size-km", type=float, default=1.5)
        parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all)")
        parser.add_argument(
            "--relabel",
            nargs="*",
            default=[],
            metavar="FROM:TO",
            help="teach class FROM as class TO (e.g. 16:14, vineyards as fields): a model "
            "with a systematic confusion, for the fine-tuning's demonstration",
        )
        parser.add_argument("--name", default="Démo U-Net", help="its name in the model registry")
        parser.add_argument(
            "--no-register",
            action="store_true",
            help="do not register it (by default: the registry's retained general model)",
        )

    def handle(
        self,
        *args,
        out,
        steps,
        batch,
        crop,
        train_seeds,
        eval_seeds,
        size_km,
        threads,
        relabel,
        name,
        no_register,
        **opts,
    ):
        if set(train_seeds) & set(eval_seeds):
            raise CommandError("training and evaluation seeds must differ (held-out tiles).")
        if crop % 32:
            raise CommandError("--crop must be a multiple of 32.")
        try:
            relabel = dict(tuple(int(v) for v in pair.split(":")) for pair in relabel)
        except ValueError as exc:
            raise CommandError("--relabel takes pairs FROM:TO of class ids, e.g. 16:14") from exc
        if threads:
            torch.set_num_threads(threads)
        classes = list(ModelClass.objects.order_by("id").values_list("id", "label"))
        start = time.perf_counter()
        self.stdout.write(
            f"Rendering {len(train_seeds)} training and {len(eval_seeds)} held-out landscapes …"
        )
        samples = make_samples(train_seeds, size_km=size_km, relabel=relabel)
        held_out = make_samples(eval_seeds, size_km=size_km)
        mean, std = band_statistics(samples)
        meta = ModelMeta(encoder="resnet18", classes=classes, mean=mean, std=std)
        model = train(
            UNet("resnet18", meta.in_channels, meta.num_classes),
            meta,
            samples,
            steps=steps,
            batch=batch,
            crop=crop,
            log=self.stdout.write,
        )
        save_checkpoint(out, model, meta)
        report = evaluate(model, meta, held_out)
        report.update(
            {
                "steps": steps,
                "batch": batch,
                "crop": crop,
                "train_seeds": train_seeds,
                "size_km": size_km,
                "relabel": {str(a): b for a, b in relabel.items()},
                "eval_seeds": eval_seeds,
                "seconds": round(time.perf_counter() - start),
            }
        )
        out.with_suffix(".json").write_text(json.dumps(report, indent=2))
        if not no_register:
            register_general(out, name, report)
        self.stdout.write(
            self.style.SUCCESS(
                f"mIoU on held-out synthetic tiles: {report['miou']:.3f} "
                f"(pixel accuracy {report['pixel_accuracy']:.3f}); checkpoint {out}"
            )
        )
