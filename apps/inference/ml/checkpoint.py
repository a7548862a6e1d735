"""Checkpoints: a U-Net state dict plus the metadata needed to run it on aerial photos.

A checkpoint file is `torch.save({"state_dict": ..., "meta": {...}})` where `meta` holds:
`encoder` (resnet18 | resnet34), `classes` (list of [id, label]), `bands` (band order of the
input stack, e.g. ["red", "green", "blue", "nir", "elevation"]), `mean` and `std` (one per
band, applied as (x - mean) / std) and optionally `tile_size`. Loading checks everything
and names the wrong key or shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .unet import ENCODERS, UNet

DEFAULT_BANDS = ("red", "green", "blue", "nir", "elevation")


class CheckpointError(ValueError):
    """The checkpoint cannot be used; the message says why."""


@dataclass
class ModelMeta:
    encoder: str
    classes: list[tuple[int, str]]
    bands: list[str] = field(default_factory=lambda: list(DEFAULT_BANDS))
    mean: list[float] = field(default_factory=lambda: [0.0] * len(DEFAULT_BANDS))
    std: list[float] = field(default_factory=lambda: [1.0] * len(DEFAULT_BANDS))
    tile_size: int = 512

    @property
    def in_channels(self) -> int:
        return len(self.bands)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def class_ids(self) -> list[int]:
        return [int(c[0]) for c in self.classes]

    def validate(self):
        if self.encoder not in ENCODERS:
            raise CheckpointError(
                f"encoder {self.encoder!r} unknown; expected one of {sorted(ENCODERS)}"
            )
        if not self.classes:
            raise CheckpointError("meta.classes is empty")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise CheckpointError(
                f"meta.mean and meta.std need one value per band ({self.in_channels}: "
                f"{', '.join(self.bands)}), got {len(self.mean)} and {len(self.std)}"
            )
        if any(s <= 0 for s in self.std):
            raise CheckpointError("meta.std values must be positive")
        if self.tile_size % 32:
            raise CheckpointError(f"meta.tile_size must be a multiple of 32, got {self.tile_size}")


def save_checkpoint(path, model: UNet, meta: ModelMeta) -> Path:
    meta.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "meta": asdict(meta)}, path)
    return path


def check_state_dict(model: torch.nn.Module, state: dict) -> None:
    """Raise CheckpointError naming the first missing/unexpected key or wrong shape."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(
            f"missing key(s): {', '.join(missing[:5])}"
            + (f" … ({len(missing)} in all)" if len(missing) > 5 else "")
        )
    if unexpected:
        problems.append(
            f"unexpected key(s): {', '.join(unexpected[:5])}"
            + (f" … ({len(unexpected)} in all)" if len(unexpected) > 5 else "")
        )
    for key, tensor in expected.items():
        if key in state and tuple(state[key].shape) != tuple(tensor.shape):
            problems.append(
                f"shape of {key}: checkpoint {tuple(state[key].shape)}, model {tuple(tensor.shape)}"
            )
            break
    if problems:
        raise CheckpointError("; ".join(problems))


def load_checkpoint(
    path, expected_class_ids: list[int] | None = None, device: str | torch.device = "cpu"
) -> tuple[UNet, ModelMeta]:
    """Load a checkpoint into an eval-mode UNet on `device`.

    `expected_class_ids`: the classes the caller maps to land cover (the 17 classes of the
    nomenclature); a checkpoint for other classes is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "meta" not in payload:
        raise CheckpointError(f"{path.name}: expected a dict with 'state_dict' and 'meta'")
    raw = payload["meta"]
    try:
        meta = ModelMeta(
            encoder=raw["encoder"],
            classes=[(int(c[0]), str(c[1])) for c in raw["classes"]],
            bands=list(raw.get("bands", DEFAULT_BANDS)),
            mean=[float(v) for v in raw["mean"]],
            std=[float(v) for v in raw["std"]],
            tile_size=int(raw.get("tile_size", 512)),
        )
    except KeyError as exc:
        raise CheckpointError(f"{path.name}: meta lacks {exc.args[0]!r}") from exc
    meta.validate()
    if expected_class_ids is not None and sorted(meta.class_ids) != sorted(expected_class_ids):
        raise CheckpointError(
            f"{path.name} predicts classes {meta.class_ids}, but the nomenclature has "
            f"{sorted(expected_class_ids)}"
        )
    model = UNet(meta.encoder, meta.in_channels, meta.num_classes)
    check_state_dict(model, payload["state_dict"])
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.to(device).eval(), meta
