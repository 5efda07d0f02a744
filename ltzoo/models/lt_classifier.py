"""Backbone + head plugin, with the timm model contract.

``LongTailClassifier(backbone, head)`` puts any head plugin (``ltzoo.list_heads()``) on top of
any backbone: ltzoo's own CIFAR ResNets (``resnet20/32/44/56/110``, 32x32 inputs), the papers'
CIFAR backbones (``resnet34_cifar``, ``resnet32_x8``, see :mod:`ltzoo.models.paper_backbones`) or any name
timm knows (``timm.list_models()``), built headless by timm's own builder. It offers what timm
users rely on: ``forward_features``, ``forward_head(x, pre_logits=False)``, ``get_classifier``,
``reset_classifier(num_classes)`` (keeps the head's type and options), ``num_features`` and,
once built through ``ltzoo.create_model``/``timm.create_model``, ``pretrained_cfg``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import timm
import torch
import torch.nn as nn

from ltzoo.heads import create_head
from ltzoo.heads.base import HeadBase
from ltzoo.models.calibration import LogitCalibration
from ltzoo.models.cifar_resnet import CifarResNet
from ltzoo.models.paper_backbones import PAPER_BACKBONES
from ltzoo.registry import HEADS, UnknownNameError, unknown_name_message

CIFAR_BACKBONE_DEPTHS = {
    "resnet20": 20,
    "resnet32": 32,
    "resnet44": 44,
    "resnet56": 56,
    "resnet110": 110,
}


def create_backbone(
    name: str, in_chans: int = 3, global_pool: str = "avg", pretrained: bool = False, **kwargs: Any
) -> nn.Module:
    """A headless backbone (``num_classes=0``): ltzoo's CIFAR ResNets, the papers' CIFAR backbones or any timm model."""
    if name in CIFAR_BACKBONE_DEPTHS:
        return CifarResNet(
            depth=CIFAR_BACKBONE_DEPTHS[name],
            num_classes=0,
            in_chans=in_chans,
            global_pool=global_pool,
            **kwargs,
        )
    if name in PAPER_BACKBONES:
        return PAPER_BACKBONES[name](
            num_classes=0, in_chans=in_chans, global_pool=global_pool, **kwargs
        )
    if not timm.is_model(name):
        valid = list(CIFAR_BACKBONE_DEPTHS) + list(PAPER_BACKBONES) + timm.list_models()
        raise UnknownNameError(
            unknown_name_message("backbone", name, valid)[:600] + " ... (see timm.list_models())"
        )
    return timm.create_model(
        name,
        pretrained=pretrained,
        num_classes=0,
        in_chans=in_chans,
        global_pool=global_pool,
        **kwargs,
    )


def registered_head_name(head: nn.Module) -> str:
    """The registry name of a head plugin instance."""
    for name in HEADS.names():
        if type(head) is HEADS.get(name):
            return name
    raise ValueError(
        f"{type(head).__name__} is not a registered head; register it in ltzoo.registry.HEADS"
    )


class LongTailClassifier(nn.Module):
    """A backbone producing pooled features and a head plugin producing logits."""

    def __init__(
        self,
        backbone: str = "resnet32",
        head: str = "linear",
        num_classes: int = 100,
        in_chans: int = 3,
        global_pool: str = "avg",
        head_kwargs: Optional[Dict[str, Any]] = None,
        backbone_kwargs: Optional[Dict[str, Any]] = None,
        backbone_pretrained: bool = False,
    ):
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"num_classes={num_classes!r} is not allowed; it must be an integer >= 1"
            )
        HEADS.get(head)  # unknown head names fail before the backbone is built
        self.backbone_name = backbone
        self.head_name = head
        self.num_classes = num_classes
        self.backbone = create_backbone(
            backbone,
            in_chans=in_chans,
            global_pool=global_pool,
            pretrained=backbone_pretrained,
            **(backbone_kwargs or {}),
        )
        self.num_features = self.head_hidden_size = self.backbone.num_features
        self.head: HeadBase = create_head(
            head, self.num_features, num_classes, **(head_kwargs or {})
        )
        self.calibration = LogitCalibration(num_classes)

    def get_classifier(self) -> HeadBase:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        """A fresh head of the same plugin type and options for ``num_classes`` classes."""
        if global_pool is not None:
            self.backbone.reset_classifier(0, global_pool=global_pool)
        self.num_classes = num_classes
        if num_classes == 0:
            self.head = self.calibration = nn.Identity()
            return
        head_type = (
            type(self.head) if isinstance(self.head, HeadBase) else HEADS.get(self.head_name)
        )
        head_kwargs = self.head.head_kwargs if isinstance(self.head, HeadBase) else {}
        self.head = head_type(self.num_features, num_classes, **head_kwargs)
        self.calibration = LogitCalibration(num_classes)

    def replace_head(self, head: HeadBase) -> None:
        """Deploy another head plugin (a stage-2 result) on this backbone."""
        if head.in_features != self.num_features:
            raise ValueError(
                f"head expects {head.in_features} features; this backbone gives {self.num_features}"
            )
        self.head, self.head_name, self.num_classes = (
            head,
            registered_head_name(head),
            head.num_classes,
        )
        if (
            not isinstance(self.calibration, LogitCalibration)
            or self.calibration.bias.numel() != head.num_classes
        ):
            self.calibration = LogitCalibration(head.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.backbone.forward_head(x, pre_logits=True)
        return x if pre_logits else self.calibration(self.head(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
