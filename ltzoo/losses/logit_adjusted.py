"""Logit-adjusted loss (Menon et al., "Long-tail learning via logit adjustment", ICLR'21)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ltzoo.losses._base import LossBase, as_class_counts, check_logits, check_range
from ltzoo.registry import LOSSES


@LOSSES.register("logit_adjusted")
class LogitAdjustedLoss(LossBase):
    """``-log( e^{z_y + tau log pi_y} / sum_j e^{z_j + tau log pi_j} )`` (Menon et al. Eq. 10), batch mean.

    ``targets`` are class indices ``(B,)`` or class probabilities ``(B, C)`` (a mixed batch,
    :mod:`ltzoo.data.mixing`): then the loss is ``-sum_c t_c log p_c``, linear in the targets.

    ``pi_j = n_j / sum_k n_k`` is the empirical training prior. Only the training loss is
    adjusted; predict with the raw logits. ``tau = 1`` is Fisher-consistent for the balanced error.

    Args:
        class_counts: per-class training counts (all > 0).
        tau: scaling of the adjustment, >= 0 (default 1.0); 0 is plain cross-entropy.
    """

    loss_name = "logit_adjusted"
    accepts_soft_targets = True
    requires_class_counts = True

    def __init__(self, class_counts: Any, tau: float = 1.0):
        super().__init__()
        self.tau = check_range(self.loss_name, "tau", tau, 0.0, None)
        counts = as_class_counts(class_counts, self.loss_name)
        self.register_buffer("log_prior", torch.log(counts / counts.sum()).to(torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_logits(self.loss_name, logits, targets, self.log_prior.numel(), soft_ok=True)
        z = logits.float() + self.tau * self.log_prior.to(logits.device)
        return F.cross_entropy(z, targets)

    def extra_repr(self) -> str:
        return f"tau={self.tau}"
