"""ResNet for 32x32 inputs (He et al., "Deep Residual Learning for Image Recognition", CVPR'16, Sec. 4.2).

The CIFAR ResNet-6n+2: a 3x3 16-channel stem, three stages of ``n`` basic blocks at 16, 32 and
64 channels (stride 1, 2, 2) and a parameter-free "option A" shortcut (stride-2 subsampling
plus zero-padded channels) where the shape changes. ResNet-32 (n = 5) is the backbone of every
CIFAR-LT table in the long-tail literature: 464,154 parameters with 10 classes, 470,004 with
100. timm has no such model and its ``ResNet`` cannot express one (fixed 64-channel stem, four
stages), so this module builds it in timm's style from ``timm.models.resnet.BasicBlock``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import SelectAdaptivePool2d
from timm.models.resnet import BasicBlock


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: subsample spatially by ``stride`` and zero-pad the new channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad[0], self.pad[1]))


def _stage(in_channels: int, channels: int, blocks: int, stride: int) -> nn.Sequential:
    layers = []
    for i in range(blocks):
        block_in = in_channels if i == 0 else channels
        block_stride = stride if i == 0 else 1
        shortcut = None
        if block_stride != 1 or block_in != channels:
            shortcut = ZeroPadShortcut(block_in, channels, block_stride)
        layers.append(BasicBlock(block_in, channels, stride=block_stride, downsample=shortcut))
    return nn.Sequential(*layers)


class CifarResNet(nn.Module):
    """CIFAR ResNet with the timm model contract (``forward_features`` / ``forward_head`` / ...)."""

    def __init__(
        self,
        depth: int = 32,
        num_classes: int = 100,
        in_chans: int = 3,
        widths: Sequence[int] = (16, 32, 64),
        global_pool: str = "avg",
        drop_rate: float = 0.0,
    ):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(
                f"depth={depth} is not a CIFAR ResNet depth; allowed: 6n+2 (20, 32, 44, 56, 110)"
            )
        blocks = (depth - 2) // 6
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.conv1 = nn.Conv2d(in_chans, widths[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.act1 = nn.ReLU(inplace=True)
        self.layer1 = _stage(widths[0], widths[0], blocks, stride=1)
        self.layer2 = _stage(widths[0], widths[1], blocks, stride=2)
        self.layer3 = _stage(widths[1], widths[2], blocks, stride=2)
        self.num_features = self.head_hidden_size = widths[2]
        self.feature_info = [
            dict(num_chs=w, reduction=r, module=f"layer{i + 1}")
            for i, (w, r) in enumerate(zip(widths, (1, 2, 4)))
        ]
        self.global_pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=True)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=True)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        if self.drop_rate:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
