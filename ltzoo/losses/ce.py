"""Cross-entropy, the stage-1 loss of every two-stage recipe (Kang et al. ICLR'20)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ltzoo.losses._base import LossBase, check_logits, check_range, class_weight
from ltzoo.registry import LOSSES


@LOSSES.register("ce")
class CrossEntropyLoss(LossBase):
    """Softmax cross-entropy ``-log softmax(z)_y`` averaged over the batch.

    ``targets`` are class indices ``(B,)`` or class probabilities ``(B, C)`` (a mixed batch,
    :mod:`ltzoo.data.mixing`): then the loss is ``-sum_c t_c log p_c``, linear in the targets.

    Args:
        weight: optional per-class weights (length C). As in ``torch.nn.functional.cross_entropy``
            the batch is reduced by the *weighted* mean ``sum_i w_{y_i} l_i / sum_i w_{y_i}``.
        label_smoothing: in [0, 1]; 0 disables smoothing (Szegedy et al. 2016).
    """

    loss_name = "ce"
    accepts_soft_targets = True

    def __init__(self, weight: Optional[Sequence[float]] = None, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = check_range("ce", "label_smoothing", label_smoothing, 0.0, 1.0)
        self.register_buffer("weight", class_weight("ce", weight))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        num_classes = None if self.weight is None else self.weight.numel()
        check_logits(self.loss_name, logits, targets, num_classes, source="weight", soft_ok=True)
        weight = None if self.weight is None else self.weight.to(logits.device, logits.dtype)
        return F.cross_entropy(logits, targets, weight=weight, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}, weighted={self.weight is not None}"
