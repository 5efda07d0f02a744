"""Balanced softmax (Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition", NeurIPS'20)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ltzoo.losses._base import LossBase, as_class_counts, check_logits
from ltzoo.registry import LOSSES


@LOSSES.register("balanced_softmax")
class BalancedSoftmaxLoss(LossBase):
    """``-log( n_y e^{z_y} / sum_j n_j e^{z_j} )`` (Ren et al. Eq. 4), i.e. CE on ``z + log n``; batch mean.

    ``targets`` are class indices ``(B,)`` or class probabilities ``(B, C)`` (a mixed batch,
    :mod:`ltzoo.data.mixing`): then the loss is ``-sum_c t_c log p_c``, linear in the targets.

    Equal to the logit-adjusted loss with ``tau = 1`` (the constant ``log N`` cancels).

    Args:
        class_counts: per-class training counts (all > 0).
    """

    loss_name = "balanced_softmax"
    accepts_soft_targets = True
    requires_class_counts = True

    def __init__(self, class_counts: Any):
        super().__init__()
        counts = as_class_counts(class_counts, self.loss_name)
        self.register_buffer("log_counts", torch.log(counts).to(torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_logits(self.loss_name, logits, targets, self.log_counts.numel(), soft_ok=True)
        return F.cross_entropy(logits.float() + self.log_counts.to(logits.device), targets)
