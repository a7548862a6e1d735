import json

import pytest
from django.core.management import CommandError, call_command

from apps.inference.ml.checkpoint import load_checkpoint

pytestmark = pytest.mark.django_db


def test_train_demo_model_writes_a_checkpoint_and_its_held_out_miou(tmp_path):
    out = tmp_path / "demo.pt"
    call_command(
        "train_demo_model",
        out=out,
        steps=2,
        batch=2,
        crop=64,
        train_seeds=[1],
        eval_seeds=[2],
        size_km=0.8,
    )
    model, meta = load_checkpoint(out, expected_class_ids=list(range(1, 18)))
    assert meta.bands == ["red", "green", "blue", "nir", "elevation"]
    report = json.loads(out.with_suffix(".json").read_text())
    assert 0.0 <= report["miou"] <= 1.0 and report["eval_seeds"] == [2]
    assert report["iou"], "held-out tiles have classes"


def test_train_demo_model_refuses_overlapping_seeds(tmp_path):
    with pytest.raises(CommandError, match="must differ"):
        call_command("train_demo_model", out=tmp_path / "x.pt", train_seeds=[1], eval_seeds=[1])
