"""Training and evaluation of a small U-Net on synthetic imagery (plain PyTorch).

The demo model learns the 17 classes from aerial photos rendered from generated landscapes
(`synthetic.render`); it is evaluated by mIoU on held-out tiles drawn with other seeds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ocsge import synth

from .checkpoint import ModelMeta
from .predict import predict_array
from .synthetic import render, themes_to_classes
from .unet import UNet

IGNORE = 255


@dataclass
class Sample:
    stack: np.ndarray  # (5, H, W) float32: R, G, B, NIR, elevation
    classes: np.ndarray  # (H, W) uint8 model class ids, 0 = no data


def make_samples(
    seeds, size_km: float = 1.5, res: float = 2.5, upsample: int = 2, relabel=None
) -> list[Sample]:
    """Draw a landscape per seed and render its photos at `res / upsample` metres.

    `relabel` ({class: class}) changes the labels, not the photos: a model taught that way
    confuses those classes systematically (the fine-tuning's demonstration)."""
    lut = np.arange(256, dtype=np.uint8)
    for a, b in (relabel or {}).items():
        lut[int(a)] = int(b)
    out = []
    for seed in seeds:
        land = synth.draw_landscape("99", size_km, seed, res, log=lambda *_: None)
        for raster in (land.m1, land.m2):
            classes = themes_to_classes(raster, seed)
            if upsample > 1:
                classes = np.kron(classes, np.ones((upsample, upsample), dtype=np.uint8))
            rgb, nir, dem = render(classes, res / upsample, seed=seed)
            stack = np.concatenate([rgb, nir, dem]).astype(np.float32)
            out.append(Sample(stack, lut[classes]))
    return out


def band_statistics(samples: list[Sample]) -> tuple[list[float], list[float]]:
    valid = [s.stack[:, s.classes > 0] for s in samples]
    allpix = np.concatenate(valid, axis=1)
    return allpix.mean(axis=1).tolist(), (allpix.std(axis=1) + 1e-6).tolist()


def _batch(samples, meta: ModelMeta, rng, batch: int, crop: int):
    index = {cid: i for i, cid in enumerate(meta.class_ids)}
    lut = np.full(256, IGNORE, dtype=np.int64)
    for cid, i in index.items():
        lut[cid] = i
    xs, ys = [], []
    while len(xs) < batch:
        s = samples[rng.integers(len(samples))]
        h, w = s.classes.shape
        r, c = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
        y = s.classes[r : r + crop, c : c + crop]
        if (y > 0).mean() < 0.5:
            continue
        x = s.stack[:, r : r + crop, c : c + crop]
        k = rng.integers(4)
        x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k)
        if rng.random() < 0.5:
            x, y = x[:, :, ::-1], y[:, ::-1]
        xs.append(np.ascontiguousarray(x))
        ys.append(lut[np.ascontiguousarray(y)])
    mean = np.asarray(meta.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(meta.std, dtype=np.float32)[:, None, None]
    x = torch.from_numpy((np.stack(xs) - mean) / std)
    return x, torch.from_numpy(np.stack(ys))


def train(
    model: UNet,
    meta: ModelMeta,
    samples: list[Sample],
    *,
    steps: int = 300,
    batch: int = 8,
    crop: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    log: Callable[[str], None] = print,
    device: str = "cpu",
) -> UNet:
    """Train `model` on random crops of `samples` (cross-entropy, AdamW, one-cycle)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device(device)
    model = model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        x, y = _batch(samples, meta, rng, batch, crop)
        loss = F.cross_entropy(model(x.to(dev)), y.to(dev), ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, steps // 20) == 0 or step == steps:
            log(f"step {step}/{steps} loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)")
    return model.eval()


def evaluate(model: UNet, meta: ModelMeta, samples: list[Sample], tile: int = 256) -> dict:
    """Per-class IoU and mIoU (over classes present in the ground truth) on whole samples."""
    k = max(meta.class_ids) + 1
    confusion = np.zeros((k, k), dtype=np.int64)
    for s in samples:
        h, w = s.classes.shape
        for r in range(0, h - tile + 1, tile):
            for c in range(0, w - tile + 1, tile):
                truth = s.classes[r : r + tile, c : c + tile]
                if not (truth > 0).any():
                    continue
                pred, _conf = predict_array(model, meta, s.stack[:, r : r + tile, c : c + tile])
                valid = truth > 0
                np.add.at(confusion, (truth[valid], pred[valid]), 1)
    ious = {}
    for cid in meta.class_ids:
        tp = confusion[cid, cid]
        present = confusion[cid].sum()
        if present == 0:
            continue
        denom = present + confusion[:, cid].sum() - tp
        ious[cid] = float(tp / denom) if denom else math.nan
    return {
        "iou": ious,
        "miou": float(np.mean(list(ious.values()))) if ious else math.nan,
        "pixel_accuracy": float(np.trace(confusion) / max(1, confusion.sum())),
    }
