"""U-Net with a ResNet encoder, in plain PyTorch, in the state-dict layout of IGN's models.

IGN's land-cover models (FLAIR baselines, odeon) are published as state dicts in the layout of
`segmentation_models_pytorch` (`encoder.conv1.weight`, `decoder.blocks.0.conv1.0.weight`,
`segmentation_head.0.weight`, ...). This module rebuilds the same network without that
library (nor torchvision), so `load_state_dict(..., strict=True)` accepts those weights and
computes the same function:

- encoder: ResNet (BasicBlock), stem conv 7×7/2 + BN + ReLU, max-pool 3×3/2, four stages;
- decoder: 5 blocks of (256, 128, 64, 32, 16) channels; each = nearest 2× upsampling, concat
  with the skip feature (none for the last block), two (conv 3×3 without bias, BN, ReLU);
- head: conv 3×3 with bias, no activation (logits).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ENCODERS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
DECODER_CHANNELS = (256, 128, 64, 32, 16)
ENCODER_CHANNELS = (64, 64, 128, 256, 512)  # stem, layer1..layer4


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetEncoder(nn.Module):
    def __init__(self, depths: tuple[int, ...], in_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = 64
        for i, (depth, out_ch) in enumerate(zip(depths, (64, 128, 256, 512), strict=True)):
            blocks = []
            for j in range(depth):
                stride = 2 if (j == 0 and i > 0) else 1
                blocks.append(BasicBlock(in_ch, out_ch, stride))
                in_ch = out_ch
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))

    def forward(self, x) -> list[torch.Tensor]:
        """Features at strides 2, 4, 8, 16, 32."""
        stem = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(stem))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return [stem, f1, f2, f3, f4]


def _conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class DecoderBlock(nn.Module):
    def __init__(self, in_ch: int, skip_ch: int, out_ch: int):
        super().__init__()
        self.conv1 = _conv_bn_relu(in_ch + skip_ch, out_ch)
        self.conv2 = _conv_bn_relu(out_ch, out_ch)

    def forward(self, x, skip=None):
        size = skip.shape[-2:] if skip is not None else (x.shape[-2] * 2, x.shape[-1] * 2)
        x = F.interpolate(x, size=size, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UnetDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        heads = (ENCODER_CHANNELS[-1], *DECODER_CHANNELS[:-1])
        skips = (*reversed(ENCODER_CHANNELS[:-1]), 0)
        self.blocks = nn.ModuleList(
            DecoderBlock(h, s, o) for h, s, o in zip(heads, skips, DECODER_CHANNELS, strict=True)
        )

    def forward(self, features: list[torch.Tensor]):
        x, *skips = list(reversed(features))
        for i, block in enumerate(self.blocks):
            x = block(x, skips[i] if i < len(skips) else None)
        return x


class UNet(nn.Module):
    """`UNet(encoder, in_channels, num_classes)`: logits at the input's resolution.

    Input sides must be multiples of 32.
    """

    def __init__(self, encoder: str = "resnet34", in_channels: int = 5, num_classes: int = 17):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; choose among {sorted(ENCODERS)}")
        self.encoder_name = encoder
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.encoder = ResNetEncoder(ENCODERS[encoder], in_channels)
        self.decoder = UnetDecoder()
        self.segmentation_head = nn.Sequential(
            nn.Conv2d(DECODER_CHANNELS[-1], num_classes, 3, padding=1)
        )

    def forward(self, x):
        h, w = x.shape[-2:]
        if h % 32 or w % 32:
            raise ValueError(f"input sides must be multiples of 32, got {h}×{w}")
        return self.segmentation_head(self.decoder(self.encoder(x)))
