"""Backbone + head plugin, with the timm model contract.

``LongTailClassifier(backbone, head)`` puts any head plugin (``ltzoo.list_heads()``) on top of
any backbone: ltzoo's own CIFAR ResNets (``resnet20/32/44/56/110``, 32x32 inputs), the papers'
CIFAR backbones (``resnet34_cifar``, ``resnet32_x8``, see :mod:`ltzoo.models.paper_backbones`) or any name
timm knows (``timm.list_models()``), built headless by timm's own builder. It offers what timm
users rely on: ``forward_features``, ``forward_head(x, pre_logits=False)``, ``get_classifier``,
``reset_classifier(num_classes)`` (keeps the head's type and options), ``num_features``,
``num_classes=0`` (no head: pooled features; with ``global_pool=''`` the unpooled map),
``feature_info`` / ``forward_intermediates`` / ``prune_intermediate_layers`` (so
``features_only=True`` works), gradient checkpointing, ``group_matcher``, ``no_weight_decay`` and,
once built through ``ltzoo.create_model``/``timm.create_model``, ``pretrained_cfg``. The
backbone's parts of the contract pass through to it (timm's own, or ltzoo's CIFAR ResNets').
"""

import contextlib
from typing import Any, Dict, List, Optional, Set, Tuple, Union

import timm
import torch
import torch.nn as nn

from ltzoo.heads import create_head
from ltzoo.heads.base import HeadBase
from ltzoo.models.calibration import LogitCalibration
from ltzoo.models.cifar_resnet import CifarResNet
from ltzoo.models.contract import IndicesT, prefixed_group_matcher
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
        device: Optional[Union[str, torch.device]] = None,
        dtype: Optional[torch.dtype] = None,
    ):
        """``device`` / ``dtype``: where and in which floating type every parameter and buffer is
        created (timm's ``create_model(device=..., dtype=...)``)."""
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(
                f"num_classes={num_classes!r} is not allowed; it must be an integer >= 1, "
                "or 0 for no head (pooled features)"
            )
        HEADS.get(head)  # unknown head names fail before the backbone is built
        self.backbone_name = backbone
        self.head_name = head
        self.in_chans = in_chans
        with torch.device(device) if device is not None else contextlib.nullcontext():
            self.backbone = create_backbone(
                backbone,
                in_chans=in_chans,
                global_pool=global_pool,
                pretrained=backbone_pretrained,
                **(backbone_kwargs or {}),
            )
        if dtype is not None:
            self.backbone.to(dtype=dtype)
        self.num_features = self.head_hidden_size = self.backbone.num_features
        # the backbone's feature levels, named as modules of this model
        self.feature_info = [
            dict(info, module=f"backbone.{info['module']}")
            for info in getattr(self.backbone, "feature_info", [])
        ]
        self._head_kwargs = dict(head_kwargs or {})
        self._set_head(num_classes)

    def _set_head(self, num_classes: int, head_type: Optional[type] = None) -> None:
        """A head for ``num_classes`` (0: none) of ``head_type`` (default: the registered name's),
        on the backbone's device, in its floating type and train/eval mode."""
        self.num_classes = num_classes
        if num_classes == 0:
            self.head = self.calibration = nn.Identity()
            return
        like = next(self.backbone.parameters(), None)
        with torch.device(like.device) if like is not None else contextlib.nullcontext():
            if head_type is None:
                head = create_head(
                    self.head_name, self.num_features, num_classes, **self._head_kwargs
                )
            else:
                head = head_type(self.num_features, num_classes, **self._head_kwargs)
            calibration = LogitCalibration(num_classes)
        if like is not None:
            head.to(dtype=like.dtype)
            calibration.to(dtype=like.dtype)
        self.head, self.calibration = head.train(self.training), calibration.train(self.training)

    @torch.jit.ignore
    def get_classifier(self, name_only: bool = False) -> Union[str, nn.Module]:
        return "head" if name_only else self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        """A fresh head of the same plugin type and options for ``num_classes`` classes (0: no
        head); ``global_pool=''`` leaves the backbone's map unpooled."""
        if global_pool is not None:
            self.backbone.reset_classifier(0, global_pool=global_pool)
        if isinstance(self.head, HeadBase):
            self._head_kwargs = dict(self.head.head_kwargs)
            self._set_head(num_classes, type(self.head))
        else:
            self._set_head(num_classes)

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
        self._head_kwargs = dict(head.head_kwargs)
        if (
            not isinstance(self.calibration, LogitCalibration)
            or self.calibration.bias.numel() != head.num_classes
        ):
            self.calibration = LogitCalibration(head.num_classes)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.backbone.set_grad_checkpointing(enable)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, Any]:
        """The backbone's parameter groups (stem, blocks); the head falls in the last group."""
        return prefixed_group_matcher(self.backbone.group_matcher(coarse=coarse), "backbone.")

    @torch.jit.ignore
    def no_weight_decay(self) -> Set[str]:
        own = getattr(self.backbone, "no_weight_decay", None)
        return {f"backbone.{name}" for name in (own() if own is not None else ())}

    def _backbone_method(self, name: str):
        method = getattr(self.backbone, name, None)
        if method is None:
            raise NotImplementedError(
                f"backbone {self.backbone_name!r} ({type(self.backbone).__name__}) has no {name}()"
            )
        return method

    @torch.jit.ignore
    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: IndicesT = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """The backbone's final map and its feature levels ``indices`` (timm's signature)."""
        return self._backbone_method("forward_intermediates")(
            x,
            indices=indices,
            norm=norm,
            stop_early=stop_early,
            output_fmt=output_fmt,
            intermediates_only=intermediates_only,
        )

    @torch.jit.ignore
    def prune_intermediate_layers(
        self, indices: IndicesT = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> List[int]:
        """Drop the backbone's layers after the deepest level in ``indices`` and, with
        ``prune_head``, the head; returns the levels kept."""
        taken = self._backbone_method("prune_intermediate_layers")(
            indices, prune_norm=prune_norm, prune_head=prune_head
        )
        if prune_head:
            self.reset_classifier(0)
        return taken

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.backbone.forward_head(x, pre_logits=True)
        return x if pre_logits else self.calibration(self.head(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
