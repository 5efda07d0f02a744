"""Class-balanced loss (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR'19).

The effective number of samples of class j is ``E_j = (1 - beta^{n_j}) / (1 - beta)`` (paper
Eq. 3); the class weight is ``alpha_j = 1 / E_j``, normalised so that ``sum_j alpha_j = C``
(paper Sec. 4). ``beta = 0`` gives no re-weighting, ``beta -> 1`` inverse class frequency.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ltzoo.losses._base import LossBase, as_class_counts, check_choice, check_logits, check_range
from ltzoo.registry import LOSSES

CB_LOSS_TYPES = ("softmax", "sigmoid", "focal", "softmax_bce")


def class_balanced_weights(
    class_counts: Any, beta: float = 0.9999, loss: str = "class_balanced"
) -> torch.Tensor:
    """Per-class weights ``(1 - beta) / (1 - beta^{n_j})`` normalised to sum to C (float64, shape (C,))."""
    beta = check_range(loss, "beta", beta, 0.0, 1.0, high_inclusive=False)
    counts = as_class_counts(class_counts, loss)
    effective_num = (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts)) / (
        1.0 - beta
    )
    weights = 1.0 / effective_num
    return weights * counts.numel() / weights.sum()


@LOSSES.register("class_balanced")
class ClassBalancedLoss(LossBase):
    """Class-balanced loss ``CB(z, y) = alpha_y * L(z, y)``, averaged over the batch (Cui et al. Eq. 4-7).

    ``loss_type`` picks ``L`` (paper Sec. 4):

    * ``"softmax"`` (Eq. 5): ``-log softmax(z)_y``.
    * ``"sigmoid"`` (Eq. 6): ``-sum_c log sigmoid(z^t_c)`` with ``z^t_c = z_c`` for the true class
      and ``-z_c`` otherwise (one-vs-all sigmoids, summed over classes).
    * ``"focal"`` (Eq. 7): ``-sum_c (1 - p^t_c)^gamma log p^t_c``, ``p^t_c = sigmoid(z^t_c)``.
    * ``"softmax_bce"``: binary cross-entropy between softmax probabilities and the one-hot target,
      ``-[y_c log p_c + (1 - y_c) log(1 - p_c)]``, weighted by ``alpha_y`` and averaged over all
      B x C entries (logs clamped at -100 like ``torch.nn.functional.binary_cross_entropy``). This
      is the "softmax" CB loss of the widely copied PyTorch port of the paper's code, used by the
      WD+MaxNorm (Alshammari et al. CVPR'22) and IWB (Dang et al. AAAI'24) public code.

    For the first three the batch is reduced by the plain mean ``1/B sum_i alpha_{y_i} l_i`` (the
    paper's per-sample loss; the reference TF code divides the summed loss by the batch size).

    Args:
        class_counts: per-class training counts n_j (all > 0).
        beta: in [0, 1); default 0.9999.
        loss_type: one of ``softmax``, ``sigmoid``, ``focal``, ``softmax_bce``.
        gamma: focusing parameter (>= 0) of ``loss_type="focal"``; default 2.0 (Lin et al.).
    """

    loss_name = "class_balanced"
    requires_class_counts = True

    def __init__(
        self,
        class_counts: Any,
        beta: float = 0.9999,
        loss_type: str = "softmax",
        gamma: float = 2.0,
    ):
        super().__init__()
        self.beta = check_range(self.loss_name, "beta", beta, 0.0, 1.0, high_inclusive=False)
        self.loss_type = check_choice(self.loss_name, "loss_type", loss_type, CB_LOSS_TYPES)
        self.gamma = check_range(self.loss_name, "gamma", gamma, 0.0, None)
        weights = class_balanced_weights(class_counts, self.beta, self.loss_name)
        self.register_buffer("class_weights", weights.to(torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_logits(self.loss_name, logits, targets, self.class_weights.numel())
        z = logits.float()
        alpha = self.class_weights.to(z.device)[targets]  # (B,)
        if self.loss_type == "softmax":
            per_sample = F.cross_entropy(z, targets, reduction="none")
            return (alpha * per_sample).mean()
        one_hot = F.one_hot(targets, z.shape[1]).to(z.dtype)
        if self.loss_type == "softmax_bce":
            p = z.softmax(dim=1)
            log_p = torch.log(p).clamp_min(-100.0)
            log_not_p = torch.log1p(-p).clamp_min(-100.0)
            bce = -(one_hot * log_p + (1.0 - one_hot) * log_not_p)
            return (alpha[:, None] * bce).mean()
        z_t = torch.where(one_hot.bool(), z, -z)
        log_p_t = F.logsigmoid(z_t)
        if self.loss_type == "focal" and self.gamma > 0:
            # (1 - p_t)^gamma = sigmoid(-z_t)^gamma, computed in log space for stability
            log_p_t = torch.exp(self.gamma * F.logsigmoid(-z_t)) * log_p_t
        per_sample = -log_p_t.sum(dim=1)
        return (alpha * per_sample).mean()

    def extra_repr(self) -> str:
        extra = f", gamma={self.gamma}" if self.loss_type == "focal" else ""
        return f"beta={self.beta}, loss_type={self.loss_type!r}{extra}"
