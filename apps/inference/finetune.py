"""Fine-tuning the model on a territory's corrections, measured on held-out corrected areas,
registered with its metrics and provenance (`ModelVersion`).

1. The training data: the patches of the département's vintages (those whose photos are
   known) holding corrected labels (`training.iter_patches`).
2. A spatial split: the patches to the east holding a quarter of the corrected pixels are
   held out, a band one patch wide west of them is left out, the rest trains — so the
   held-out areas are apart from the training ones, not neighbouring pixels of the same
   fields.
3. Training starts from the parent checkpoint on the corrected patches mixed half and half
   with a replay of the parent's original training data (the recipe its registry entry
   keeps), so the model does not forget elsewhere what it knew.
4. Per-class IoU before (the parent) and after on the held-out patches, counting only the
   labels people vouched for (corrections, accepted signalements, IGN's delivery: the model's
   own labels are no truth to measure it by), and on the held-out part of the original data
   (forgetting, judged on the classes the corrections did not touch: that data may carry the
   very confusion corrected). The new checkpoint is registered, and retained (picked by the
   département's next inference run) when its mIoU on the corrected areas is not lower and no
   class lost more than `MAX_CLASS_LOSS` there, nor, among the others, on the original data.

Runs on the `gpu` queue (`tasks.finetune`), on the CPU where there is no GPU.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.landcover.models import Vintage

from .models import ModelVersion
from .registry import jsonable
from .training import Patch, iter_patches, photos_of

HELD_OUT_SHARE = 0.25
MAX_CLASS_LOSS = 0.01
PATCH = 256


class FinetuneRefused(ValueError):
    """Fine-tuning cannot start; the message says why."""


@dataclass
class Split:
    train: list[Patch]
    held_out: list[Patch]
    gap: list[Patch]
    cut_x: float


def corrected_patches(departement, patch: int = PATCH) -> tuple[list[Patch], list[dict]]:
    """The patches holding corrected labels of every vintage of `departement` whose photos
    are known, and what they came from."""
    patches, sources = [], []
    for vintage in Vintage.objects.filter(departement=departement).order_by("rank"):
        photos = photos_of(vintage)
        if photos is None:
            continue
        found = list(iter_patches(vintage, photos, patch=patch, only_corrected=True))
        patches += found
        sources.append(
            {
                "vintage": vintage.pk,
                "rank": vintage.rank,
                "millesime": vintage.millesime,
                "revision": vintage.revision,
                "patches": len(found),
                "photos": str(photos.rgb),
            }
        )
    return patches, sources


def _corrected_pixels(p: Patch) -> float:
    return (p.shares["correction"] + p.shares["signalement"]) * p.labels.size


def spatial_split(patches: list[Patch], share: float = HELD_OUT_SHARE) -> Split:
    """Held out: the eastmost patches holding `share` of the corrected pixels; then a band one
    patch wide left out; the rest trains."""
    if not patches:
        raise FinetuneRefused("aucune correction sur des photos connues")
    width = patches[0].box[2] - patches[0].box[0]
    east_first = sorted(patches, key=lambda p: -p.box[0])
    total = sum(_corrected_pixels(p) for p in patches)
    held, acc = [], 0.0
    for p in east_first:
        if acc >= share * total:
            break
        held.append(p)
        acc += _corrected_pixels(p)
    cut_x = min(p.box[0] for p in held)
    train = [p for p in patches if p.box[2] <= cut_x - width + 1e-6]
    gap = [p for p in patches if p not in held and p not in train]
    if not train:
        raise FinetuneRefused(
            "corrections trop regroupées pour tenir des zones à l'écart : il en faut sur une "
            "plus grande largeur du département"
        )
    return Split(train, held, gap, cut_x)


# Labels people vouched for: an operator's correction, an accepted signalement, IGN's
# delivery. The model's own labels are not a truth to measure it against.
VERIFIED = (2, 3, 4)


def verified(patches: list[Patch]):
    """The patches as samples labelled only where people vouched for the label."""
    import numpy as np

    from .ml.train import Sample

    return [
        Sample(p.bands, np.where(np.isin(p.sources, VERIFIED), p.labels, 0).astype(np.uint8))
        for p in patches
    ]


def evaluate_on(model, meta, samples) -> dict:
    """Per-class IoU and mIoU on `samples` (their labels as the truth; 0 not counted)."""
    from .ml.train import evaluate

    size = min(min(s.classes.shape) for s in samples) // 32 * 32
    return evaluate(model, meta, samples, tile=size)


def replay_samples(recipe: dict | None):
    """The parent's original data, from the recipe its registry entry keeps, as (training
    samples to replay, held-out samples to measure forgetting on):
    `{"synthetic": {"seeds": […], "eval_seeds": […], "size_km": …, "relabel": {from: to}}}`
    (the demo model's rendered landscapes) or `{"flair": folder}` (a training set in
    FLAIR-1's layout, every fifth patch held out)."""
    from .ml.train import Sample, make_samples

    if not recipe:
        raise FinetuneRefused(
            "le registre ne dit pas sur quelles données le modèle de départ a appris : sans "
            "elles, l'affinage lui ferait oublier le reste"
        )
    if "synthetic" in recipe:
        r = recipe["synthetic"]
        relabel = {int(k): int(v) for k, v in (r.get("relabel") or {}).items()}
        size = r.get("size_km", 1.5)
        return (
            make_samples(r["seeds"], size_km=size, relabel=relabel),
            make_samples(r.get("eval_seeds") or [], size_km=size, relabel=relabel),
        )
    if "flair" in recipe:
        import rasterio

        samples = []
        for img in sorted(Path(recipe["flair"]).glob("aerial/*/*/img/IMG_*.tif")):
            msk = Path(
                str(img).replace("/aerial/", "/labels/").replace("/img/", "/msk/")
            ).with_name(img.name.replace("IMG_", "MSK_"))
            with rasterio.open(img) as a, rasterio.open(msk) as b:
                samples.append(Sample(a.read().astype("float32"), b.read(1)))
        if not samples:
            raise FinetuneRefused(f"aucune dalle d'entraînement dans {recipe['flair']}")
        held = samples[4::5]
        return [s for i, s in enumerate(samples) if i % 5 != 4], held
    raise FinetuneRefused(f"recette de données inconnue : {sorted(recipe)}")


def start(departement, *, parent: ModelVersion | None = None, user=None, enqueue=True, **options):
    """Check what can be checked at once, register the coming version (« affinage en
    cours ») and queue the task (`enqueue`; else the caller runs it)."""
    from apps.landcover.corrections import corrected_polygons
    from apps.ops.dispatch import dispatch

    from .tasks import finetune_task

    parent = parent or ModelVersion.current_for(departement)
    if parent is None:
        raise FinetuneRefused("aucun modèle retenu dans le registre pour ce département")
    if not parent.provenance.get("replay"):
        replay_samples(None)  # refuses, saying why
    vintages = [
        v for v in Vintage.objects.filter(departement=departement) if photos_of(v) is not None
    ]
    if not any(corrected_polygons(v) for v in vintages):
        raise FinetuneRefused(
            "aucune correction sur un millésime dont les photos sont connues (produit par une "
            "inférence de la plateforme)"
        )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    path = Path(settings.DATA_DIR) / "models" / f"{departement.code}-{stamp}.pt"
    with transaction.atomic():
        version = ModelVersion.objects.create(
            name=f"{parent.name} — affiné {departement.code} {timezone.localdate():%Y-%m-%d}",
            checkpoint=str(path),
            parent=parent,
            departement=departement,
            state=ModelVersion.State.TRAINING,
            created_by=user,
        )
        if enqueue:
            transaction.on_commit(lambda: dispatch(finetune_task, version.pk, options))
    return version


def run(
    version_id: int, *, steps=200, patch=PATCH, lr=5e-4, batch=8, crop=128, device="auto", log=print
) -> ModelVersion:
    """Fine-tune into the registered `version` (state « training »); fills its metrics and
    provenance, retains it when it measures no worse. A failure is recorded on it."""
    version = ModelVersion.objects.select_related("parent", "departement").get(pk=version_id)
    if version.state != ModelVersion.State.TRAINING:
        return version
    try:
        _run(version, steps, patch, lr, batch, crop, device, log)
    except Exception as exc:
        ModelVersion.objects.filter(pk=version.pk).update(
            state=ModelVersion.State.FAILED, message=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    version.refresh_from_db()
    return version


def involved_classes(departement) -> list[int]:
    """The classes whose cover the département's corrections changed, from or to: the
    original data cannot tell whether they got better there (it may carry the very
    confusion corrected), so forgetting is judged on the other classes."""
    from apps.landcover.models import PolygonRevision

    from .training import class_rules

    covers = set()
    for before, after in (
        PolygonRevision.objects.filter(polygon__vintage__departement=departement)
        .exclude(cause=PolygonRevision.Cause.INFERENCE)
        .values_list("code_cs_before", "code_cs_after")
        .distinct()
    ):
        if before != after:
            covers |= {before, after}
    cover_of, _class_of = class_rules()
    return sorted(c for c, cs in cover_of.items() if cs in covers)


def _deltas(before, after) -> dict[int, float]:
    if not before or not after:
        return {}
    return {
        int(c): after["iou"][c] - before["iou"][c]
        for c in before["iou"]
        if c in after["iou"] and not math.isnan(before["iou"][c])
    }


def _run(version, steps, patch, lr, batch, crop, device, log):
    from .ml.checkpoint import load_checkpoint, save_checkpoint
    from .ml.predict import pick_device
    from .ml.train import Sample, train

    started = time.perf_counter()
    dep, parent = version.departement, version.parent
    patches, sources = corrected_patches(dep, patch)
    split = spatial_split(patches)
    dev = str(pick_device(device))
    model, meta = load_checkpoint(parent.checkpoint, device=dev)
    recipe = parent.provenance.get("replay")
    replay, original = replay_samples(recipe)
    held = verified(split.held_out)
    before = {"corrected": evaluate_on(model, meta, held)}
    before["original"] = evaluate_on(model, meta, original) if original else None
    model = model.to(dev)
    corrected = [Sample(p.bands, p.labels) for p in split.train]
    # Half the batches' crops from the corrections, half from the replay.
    samples = corrected * max(1, round(len(replay) / len(corrected))) + replay
    log(
        f"{len(split.train)} patches to train on, {len(split.held_out)} held out, "
        f"{len(replay)} replayed samples; device {dev}"
    )
    model = train(
        model,
        meta,
        samples,
        steps=steps,
        batch=batch,
        crop=min(crop, patch),
        lr=lr,
        log=log,
        device=dev,
    )
    model = model.to("cpu")
    after = {"corrected": evaluate_on(model, meta, held)}
    after["original"] = evaluate_on(model, meta, original) if original else None
    deltas = {k: _deltas(before[k], after[k]) for k in ("corrected", "original")}
    involved = involved_classes(dep)
    judged = [
        *deltas["corrected"].values(),
        *(v for c, v in deltas["original"].items() if c not in involved),
    ]
    worst = min(judged, default=0.0)
    gained = after["corrected"]["miou"] >= before["corrected"]["miou"]
    retained = gained and worst >= -MAX_CLASS_LOSS
    save_checkpoint(version.checkpoint, model, meta)
    metrics = {
        "held_out": "the verified labels (corrections, accepted signalements, IGN's delivery) "
        "of the patches at the east holding a quarter of the corrected pixels; forgetting on "
        "the held-out part of the original data",
        "before": before["corrected"],
        "after": after["corrected"],
        "delta_iou": deltas["corrected"],
        "original_before": before["original"],
        "original_after": after["original"],
        "original_delta_iou": deltas["original"],
        "classes_corrected": involved,
        "worst_class_delta": worst,
        "retained": retained,
    }
    provenance = {
        "training_data": sources,
        "patch_px": patch,
        "patches": {
            "train": len(split.train),
            "held_out": len(split.held_out),
            "gap": len(split.gap),
        },
        "held_out_from_x": split.cut_x,
        "replay": recipe,
        "steps": steps,
        "lr": lr,
        "batch": batch,
        "device": dev,
        "seconds": round(time.perf_counter() - started, 1),
    }
    with transaction.atomic():
        if retained:
            ModelVersion.objects.filter(departement=dep, active=True).update(active=False)
        ModelVersion.objects.filter(pk=version.pk).update(
            state=ModelVersion.State.READY,
            metrics=jsonable(metrics),
            provenance=provenance,
            active=retained,
            message=(
                f"mIoU {before['corrected']['miou']:.3f} → {after['corrected']['miou']:.3f}; "
                f"{'retenu' if retained else 'non retenu'}"
            ),
        )
