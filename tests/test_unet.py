"""The U-Net accepts IGN's (segmentation_models_pytorch) state-dict layout and computes the
same function: conformance fixture from shared/fixtures/unet_smp_layout (copied here)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from apps.inference.ml.unet import UNet

FIXTURES = Path(__file__).parent / "fixtures" / "unet_smp_layout"
TAGS = sorted(p.stem.removeprefix("layout_") for p in FIXTURES.glob("layout_*.json"))


def _fill():
    spec = importlib.util.spec_from_file_location("fill", FIXTURES / "fill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_fixtures_to_check():
    assert {"resnet18_4ch_13cl", "resnet34_5ch_17cl"} <= set(TAGS)


@pytest.mark.parametrize("tag", TAGS)
def test_unet_matches_the_reference_layout_and_logits(tag):
    spec = json.loads((FIXTURES / f"layout_{tag}.json").read_text())
    fill = _fill()
    model = UNet(spec["encoder"], spec["in_channels"], spec["num_classes"])
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == spec["layout"], "state-dict keys, order or shapes differ from the reference"
    state = {k: torch.from_numpy(v) for k, v in fill.state_dict(spec["layout"]).items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    x = torch.from_numpy(
        fill.input_tile(spec["in_channels"], spec["input_size"], spec["input_variant"])
    )
    with torch.no_grad():
        logits = model(x).numpy()
    expected = np.load(FIXTURES / f"expected_{tag}.npy")
    assert logits.shape == expected.shape
    assert np.abs(logits - expected).max() <= 1e-3 * np.abs(expected).max()


def test_unet_refuses_sides_that_are_not_multiples_of_32():
    with pytest.raises(ValueError, match="multiples of 32"):
        UNet("resnet18", 3, 2)(torch.zeros(1, 3, 40, 40))


def test_unet_refuses_an_unknown_encoder():
    with pytest.raises(ValueError, match="unknown encoder"):
        UNet("resnet50", 3, 2)
