"""Focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV'17)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ltzoo.losses._base import LossBase, check_logits, check_range, class_weight
from ltzoo.registry import LOSSES


@LOSSES.register("focal")
class FocalLoss(LossBase):
    """Softmax focal loss ``FL = -alpha_y (1 - p_y)^gamma log p_y`` (Lin et al. Eq. 5), batch mean.

    The paper states the loss for one-vs-all sigmoids (detection); for single-label
    classification we use the softmax probability of the true class ``p_y`` (as the LDAM-DRW and
    long-tail reference code do). ``gamma = 0`` is cross-entropy.

    Args:
        gamma: focusing parameter, >= 0 (default 2.0, the paper's best value).
        weight: optional per-class ``alpha`` (length C); the batch is reduced by a plain mean.
    """

    loss_name = "focal"

    def __init__(self, gamma: float = 2.0, weight: Optional[Sequence[float]] = None):
        super().__init__()
        self.gamma = check_range(self.loss_name, "gamma", gamma, 0.0, None)
        self.register_buffer("weight", class_weight("focal", weight))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        num_classes = None if self.weight is None else self.weight.numel()
        check_logits(self.loss_name, logits, targets, num_classes, source="weight")
        log_p = F.log_softmax(logits.float(), dim=1).gather(1, targets[:, None]).squeeze(1)
        loss = -log_p
        if self.gamma > 0:
            loss = (-torch.expm1(log_p)).clamp_min(0.0).pow(self.gamma) * loss
        if self.weight is not None:
            loss = self.weight.to(loss.device)[targets] * loss
        return loss.mean()

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, weighted={self.weight is not None}"
