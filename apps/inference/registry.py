"""Registering a general model: the retained one runs pick when their département has no
fine-tuned model of its own (`ModelVersion.current_for`)."""

from __future__ import annotations

import math
from pathlib import Path

from django.db import transaction

from .models import ModelVersion


def jsonable(value):
    """JSON keys are strings; NaN is not JSON (PostgreSQL refuses it)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def registered(checkpoint) -> ModelVersion | None:
    """The registry's entry of a checkpoint file (paths compared resolved)."""
    return ModelVersion.objects.filter(checkpoint=str(Path(checkpoint).resolve())).first()


def register_general(checkpoint, name: str, report: dict) -> ModelVersion:
    """Register (or update) `checkpoint` as the retained general model; `report` is what
    train_demo_model wrote beside it: its held-out figures and its training recipe
    (`train_seeds`, `eval_seeds`, `size_km`, `relabel`), kept so that a fine-tuning can
    replay it and measure what it forgot."""
    recipe = {
        "synthetic": {
            "seeds": list(report.get("train_seeds", [])),
            "eval_seeds": list(report.get("eval_seeds", [])),
            "size_km": report.get("size_km", 1.5),
            "relabel": dict(report.get("relabel") or {}),
        }
    }
    with transaction.atomic():
        ModelVersion.objects.filter(departement__isnull=True, active=True).update(active=False)
        version, _created = ModelVersion.objects.update_or_create(
            checkpoint=str(Path(checkpoint).resolve()),
            defaults={
                "name": name,
                "active": True,
                "state": ModelVersion.State.READY,
                "metrics": {"held_out_synthetic": jsonable(report)},
                "provenance": {"replay": recipe if recipe["synthetic"]["seeds"] else None},
            },
        )
    return version


def class_ious(version, labels: dict[int, str]) -> list[dict]:
    """A model's IoU per class as its registry entry measured it, on held-out areas: after
    its fine-tuning (with the figure before), or on the held-out synthetic tiles of its
    training. [{"id", "label", "iou", "before"}], classes in order; empty when unmeasured."""
    metrics = version.metrics or {}
    after = (metrics.get("after") or metrics.get("held_out_synthetic") or {}).get("iou") or {}
    before = (metrics.get("before") or {}).get("iou") or {}
    rows = []
    for key, value in sorted(after.items(), key=lambda kv: int(kv[0])):
        if value is None:
            continue
        rows.append(
            {
                "id": int(key),
                "label": labels.get(int(key), ""),
                "iou": value,
                "before": before.get(key, before.get(int(key))),
            }
        )
    return rows
