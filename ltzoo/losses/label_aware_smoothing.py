"""Label-aware smoothing (Zhong et al., "Improving Calibration for Long-Tailed Recognition", CVPR'21,
Sec. 3.2), the stage-2 loss of MiSLAS."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ltzoo.losses._base import LossBase, as_class_counts, check_choice, check_logits, check_range
from ltzoo.registry import LOSSES

SHAPES = ("concave", "linear", "convex")


def smoothing_factors(class_counts: Any, smooth_head: float, smooth_tail: float, shape: str):
    """Each class's smoothing factor ``eps_y = f(N_y)``, from ``smooth_tail`` for the smallest class
    (``N_K``) to ``smooth_head`` for the largest (``N_1``), with ``x = (N_y - N_K) / (N_1 - N_K)``:
    concave ``eps_K + (eps_1 - eps_K) sin(pi x / 2)``, linear ``eps_K + (eps_1 - eps_K) x``, convex
    ``eps_1 + (eps_1 - eps_K) sin(3 pi / 2 + pi x / 2)`` (Zhong et al., Sec. 3.2). Equal counts give
    ``smooth_head`` everywhere."""
    counts = as_class_counts(class_counts, "label_aware_smoothing")
    n_max, n_min = counts.max(), counts.min()
    x = (counts - n_min) / (n_max - n_min) if n_max > n_min else torch.ones_like(counts)
    head, tail = float(smooth_head), float(smooth_tail)
    if shape == "concave":
        eps = tail + (head - tail) * torch.sin(math.pi / 2 * x)
    elif shape == "linear":
        eps = tail + (head - tail) * x
    else:
        eps = head + (head - tail) * torch.sin(3 * math.pi / 2 + math.pi / 2 * x)
    return eps.to(torch.float32)


@LOSSES.register("label_aware_smoothing")
class LabelAwareSmoothingLoss(LossBase):
    """Cross-entropy against a label smoothed by its class's own factor ``eps_y``
    (:func:`smoothing_factors`): ``(1 - eps_y) (-log p_y) + eps_y mean_j(-log p_j)``, the form the
    authors' code computes; batch mean. Head classes are smoothed more than tail classes, which
    counters the over-confidence a long-tailed training set gives the head.

    Args:
        class_counts: per-class training counts (all > 0).
        smooth_head: ``eps_1``, the largest class's factor, in [0, 1] (CIFAR-100-LT IF 100: 0.4).
        smooth_tail: ``eps_K``, the smallest class's factor, in [0, 1] (CIFAR-100-LT IF 100: 0.1).
        shape: ``concave`` (the paper's default), ``linear`` or ``convex``.
    """

    loss_name = "label_aware_smoothing"
    requires_class_counts = True

    def __init__(
        self,
        class_counts: Any,
        smooth_head: float = 0.4,
        smooth_tail: float = 0.1,
        shape: str = "concave",
    ):
        super().__init__()
        head = check_range(self.loss_name, "smooth_head", smooth_head, 0.0, 1.0)
        tail = check_range(self.loss_name, "smooth_tail", smooth_tail, 0.0, 1.0)
        check_choice(self.loss_name, "shape", shape, SHAPES)
        self.register_buffer("smoothing", smoothing_factors(class_counts, head, tail, shape))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_logits(self.loss_name, logits, targets, self.smoothing.numel())
        log_p = F.log_softmax(logits.float(), dim=-1)
        eps = self.smoothing.to(logits.device)[targets]
        nll = -log_p.gather(1, targets[:, None]).squeeze(1)
        return ((1 - eps) * nll + eps * -log_p.mean(dim=-1)).mean()
