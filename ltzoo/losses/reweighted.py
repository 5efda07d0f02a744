"""Clipped inverse-frequency re-weighting for uniform mini-batches (Park, Piao and Kim,
"A Study of a Method for Maintaining Accuracy Uniformity When Using Long-tailed Dataset")."""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F

from ltzoo.losses._base import LossBase, as_class_counts, check_logits, check_range
from ltzoo.registry import LOSSES


def uniform_reweighting(
    class_counts: Any,
    min_weight: float = 1.0,
    max_weight: Optional[float] = None,
    loss: str = "reweighted_uniform",
) -> torch.Tensor:
    """``W_i = N_total / (N_i * C)`` (Park, Piao and Kim, Eq. 3) clipped to ``[min_weight, max_weight]`` (float64).

    ``max_weight=None`` means ``C ** (1/4)``, the paper's bound. A class with no images gets the
    upper bound.
    """
    counts = as_class_counts(class_counts, loss, allow_zero=True)
    num_classes = counts.numel()
    low = check_range(loss, "min_weight", min_weight, 0.0, None, low_inclusive=False)
    high = (
        num_classes**0.25
        if max_weight is None
        else check_range(loss, "max_weight", max_weight, low, None)
    )
    if counts.sum() <= 0:
        raise ValueError(f"{loss}: class_counts must contain at least one training image")
    weights = counts.sum() / (counts * num_classes)  # inf where N_i = 0
    return weights.clamp(min=low, max=high)


@LOSSES.register("reweighted_uniform")
class ReweightedUniformLoss(LossBase):
    """``L = 1/(s n) sum_i W_{y_i} (-log P_{y_i})`` over a mini-batch (Park, Piao and Kim, Eq. 4).

    Per-class weights ``W_i = N_total / (N_i * n)`` (Eq. 3, n = number of classes) clipped to
    ``[1, n^{1/4}]`` (Sec. 2.2; bounds configurable). Eq. 4 divides by the batch size ``s * n``,
    so the batch is reduced by the plain mean, not the weighted mean of ``F.cross_entropy(weight=)``.
    Meant to be used with the uniform mini-batch sampler of the same paper (``s`` images per class).

    Args:
        class_counts: per-class training counts.
        min_weight: lower clip, > 0 (default 1).
        max_weight: upper clip, >= min_weight (default ``C ** 0.25``).
    """

    loss_name = "reweighted_uniform"
    requires_class_counts = True

    def __init__(
        self, class_counts: Any, min_weight: float = 1.0, max_weight: Optional[float] = None
    ):
        super().__init__()
        weights = uniform_reweighting(class_counts, min_weight, max_weight, self.loss_name)
        self.register_buffer("class_weights", weights.to(torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_logits(self.loss_name, logits, targets, self.class_weights.numel())
        per_sample = F.cross_entropy(logits.float(), targets, reduction="none")
        return (self.class_weights.to(per_sample.device)[targets] * per_sample).mean()
