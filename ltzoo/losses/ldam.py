"""LDAM loss with deferred re-weighting (Cao et al., "Learning Imbalanced Datasets with
Label-Distribution-Aware Margin Loss", NeurIPS'19)."""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F

from ltzoo.losses._base import LossBase, as_class_counts, check_logits, check_range
from ltzoo.losses.class_balanced import class_balanced_weights
from ltzoo.registry import LOSSES


@LOSSES.register("ldam")
class LDAMLoss(LossBase):
    """``L = -log( e^{s(z_y - Delta_y)} / (e^{s(z_y - Delta_y)} + sum_{j != y} e^{s z_j}) )`` (Cao et al. Eq. 13).

    Margins ``Delta_j = K / n_j^{1/4}`` (Eq. 12), with K chosen so that the largest margin (the
    rarest class) equals ``max_m``. ``s`` rescales the logits; the paper's logits come from a
    cosine (normalised) classifier, so ``s = 30`` assumes logits in [-1, 1].

    Deferred re-weighting (DRW, Sec. 3.3 / Alg. 1): for epochs ``>= drw_epoch`` (0-based, set with
    :meth:`set_epoch`) the cross-entropy is weighted per class with the class-balanced weights of
    Cui et al. (``beta = drw_beta``, normalised to sum to C) and reduced by the weighted mean, as in
    the reference code; before, it is unweighted. ``drw_epoch=None`` never re-weights.

    Args:
        class_counts: per-class training counts (all > 0).
        max_m: largest margin, > 0 (default 0.5).
        s: logit scale, > 0 (default 30).
        drw_epoch: first epoch with re-weighting (default 160 of 200), or None.
        drw_beta: beta of the DRW class-balanced weights, in [0, 1) (default 0.9999).
    """

    loss_name = "ldam"
    requires_class_counts = True

    def __init__(
        self,
        class_counts: Any,
        max_m: float = 0.5,
        s: float = 30.0,
        drw_epoch: Optional[int] = 160,
        drw_beta: float = 0.9999,
    ):
        super().__init__()
        self.max_m = check_range(self.loss_name, "max_m", max_m, 0.0, None, low_inclusive=False)
        self.s = check_range(self.loss_name, "s", s, 0.0, None, low_inclusive=False)
        if drw_epoch is not None:
            value = check_range(self.loss_name, "drw_epoch", drw_epoch, 0, None)
            if isinstance(drw_epoch, bool) or value != int(value):
                raise ValueError(
                    f"ldam: drw_epoch={drw_epoch!r} must be an integer epoch >= 0, or None"
                )
            drw_epoch = int(value)
        self.drw_epoch = drw_epoch
        self.drw_beta = check_range(
            self.loss_name, "drw_beta", drw_beta, 0.0, 1.0, high_inclusive=False
        )
        counts = as_class_counts(class_counts, self.loss_name)
        margins = counts.pow(-0.25)
        margins = margins * (self.max_m / margins.max())
        self.register_buffer("margins", margins.to(torch.float32))
        drw_weights = class_balanced_weights(counts, self.drw_beta, self.loss_name)
        self.register_buffer("drw_weights", drw_weights.to(torch.float32))
        self.epoch = 0

    @property
    def drw_active(self) -> bool:
        """Whether the current epoch uses the deferred class-balanced weights."""
        return self.drw_epoch is not None and self.epoch >= self.drw_epoch

    def set_epoch(self, epoch: int) -> None:
        """Switch the DRW weights on at ``drw_epoch``."""
        self.epoch = int(epoch)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_logits(self.loss_name, logits, targets, self.margins.numel())
        z = logits.float()
        margins = self.margins.to(z.device)
        one_hot = F.one_hot(targets, z.shape[1]).to(z.dtype)
        z = z - one_hot * margins[targets][:, None]
        weight = self.drw_weights.to(z.device) if self.drw_active else None
        return F.cross_entropy(self.s * z, targets, weight=weight)

    def extra_repr(self) -> str:
        return (
            f"max_m={self.max_m}, s={self.s}, drw_epoch={self.drw_epoch}, drw_beta={self.drw_beta}"
        )
