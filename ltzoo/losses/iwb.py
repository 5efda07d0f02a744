"""Inverse Weight-Balancing (IWB) stage-2 loss (Dang, Yang, Dong, Li and Shi, "Inverse
Weight-Balancing for Deep Long-Tailed Learning", AAAI'24).

The paper, with ``W`` (C x D) the classifier weight, ``x`` a pooled feature (D) and ``y`` its label:

* Eq. 3, number coefficient (per class): ``NC_j = log2(N / (N_j + 1))``, ``N = sum_j N_j``.
* Eq. 5, difficulty (per sample, a C-vector): ``g(x)_j = W_j x / (|W_j| |x|)``.
  Eq. 4 (the "scalar" ablation of Table 3): ``g(x) = W_y x / (|W_y| |x|)``.
* Eq. 6, hardness coefficient: ``HC = (1 - g(x)) / 2`` in [0, 1].
* Eq. 7, target distribution: ``P = lambda * NC * HC`` (a C-vector per sample).
* Eq. 8: ``D_KL(|W|, P) = sum_j softmax(|W|)_j [log softmax(|W|)_j - log softmax(P)_j]``, with
  ``|W|`` the C-vector of per-class weight norms, i.e. ``KL(softmax(|W|) || softmax(P))``.
* Eq. 10, stage 2 (frozen encoder, classifier fine-tuned):
  ``sum_i [ l(f(x_i), y_i) + D_KL(|W|, P_i) ]`` with ``l`` the CB loss (Table 1 "IWB+CB") or CE
  ("IWB").

Choices made here where the paper is silent or ambiguous (``variant="paper"``):

* Reduction: Eq. 10 sums over the samples; we return the batch *mean* of
  ``l_i + D_KL,i`` (Eq. 10 divided by the batch size: same minimiser, learning rates comparable
  with the other losses). ``D_KL`` is computed per sample (``P`` depends on the sample through
  ``HC``) and averaged over the batch; ``softmax(|W|)`` is the same for every sample.
* ``|W|_j`` is the L2 norm of row j of the weight matrix; the classifier bias, if any, is not used
  (Eq. 4-5 use ``W`` only).
* ``g`` uses the features as given (after pooling, before the classifier); features with more than
  two dimensions are flattened.
* Gradients flow through both ``|W|`` and ``P`` (``P`` depends on ``W`` through the cosine): the
  paper calls the target "learnable" and shows no stop-gradient. ``detach_target=True`` stops
  the gradient through ``P``.
* The CB base loss is the paper's (Cui et al.) softmax CB loss ``-alpha_y log softmax(z)_y`` with
  ``beta = 0.9999`` (the paper does not give beta; 0.9999 is Cui et al.'s CIFAR value and the
  authors' code's).
* ``lambda`` defaults to 0.15 (the CIFAR100-LT value); the paper uses 0.05 for ImageNet-LT and 0.01
  for iNaturalist 2018.
* ``divergence="mse"`` (Table 4 ablation): the paper only says MSE "constrains |W|" towards P and
  that "we do not require |W| and P to be equal in value", so MSE is taken between the raw vectors,
  ``mean_j (|W|_j - P_j)^2``, averaged over the batch.

``variant="reference"`` reproduces the authors' public code, which differs from the paper:

* the divergence is taken the other way round, ``KL(softmax(P) || softmax(|W|)) =
  sum_j softmax(P)_j [log softmax(P)_j - log softmax(|W|)_j]``;
* it is SUMMED over the batch (not averaged), while the base loss stays a mean;
* ``lambda`` defaults to 0.01;
* the CB base loss is binary cross-entropy on softmax probabilities with one-hot targets
  (``ClassBalancedLoss(loss_type="softmax_bce")``), ``beta = 0.9999``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F

from ltzoo.losses._base import LossBase, as_class_counts, check_choice, check_logits, check_range
from ltzoo.losses.ce import CrossEntropyLoss
from ltzoo.losses.class_balanced import CB_LOSS_TYPES, ClassBalancedLoss
from ltzoo.registry import LOSSES

IWB_VARIANTS = ("paper", "reference")
_DEFAULT_LAMBDA = {"paper": 0.15, "reference": 0.01}
_DEFAULT_CB_TYPE = {"paper": "softmax", "reference": "softmax_bce"}


def iwb_number_coefficient(class_counts: Any, loss: str = "iwb") -> torch.Tensor:
    """``NC_j = log2(N / (N_j + 1))`` (Dang et al., Eq. 3), float64 of shape (C,)."""
    counts = as_class_counts(class_counts, loss, allow_zero=True)
    if counts.sum() <= 0:
        raise ValueError(f"{loss}: class_counts must contain at least one training image")
    return torch.log2(counts.sum() / (counts + 1.0))


@LOSSES.register("iwb")
class IWBLoss(LossBase):
    """Stage-2 IWB loss: base loss (CB or CE) + divergence between ``softmax(|W|)`` and ``softmax(P)``.

    ``forward(logits, targets, features, weight)`` takes the pooled features (B x D) and the
    classifier weight matrix (C x D) besides the logits; see the module docstring for the
    equations and the choices made.

    Args:
        class_counts: per-class training counts N_j.
        lam: lambda of Eq. 7, > 0; default 0.15 (``paper``) or 0.01 (``reference``).
        base: ``"class_balanced"`` (default) or ``"ce"``.
        variant: ``"paper"`` (default) or ``"reference"`` (the authors' code).
        difficulty: ``"vector"`` (Eq. 5, default) or ``"scalar"`` (Eq. 4, ablation).
        divergence: ``"kl"`` (Eq. 8, default) or ``"mse"`` (Table 4 ablation).
        beta: beta of the CB base loss, in [0, 1) (default 0.9999).
        cb_loss_type: CB form; default ``"softmax"`` (paper) or ``"softmax_bce"`` (reference).
        detach_target: stop the gradient through ``P`` (default False).

    After each forward, ``last_terms`` holds the detached ``base`` and ``divergence`` values.
    """

    loss_name = "iwb"
    requires_class_counts = True
    needs_features = True

    def __init__(
        self,
        class_counts: Any,
        lam: Optional[float] = None,
        base: str = "class_balanced",
        variant: str = "paper",
        difficulty: str = "vector",
        divergence: str = "kl",
        beta: float = 0.9999,
        cb_loss_type: Optional[str] = None,
        detach_target: bool = False,
    ):
        super().__init__()
        name = self.loss_name
        self.variant = check_choice(name, "variant", variant, IWB_VARIANTS)
        self.lam = check_range(
            name, "lam", _DEFAULT_LAMBDA[variant] if lam is None else lam, 0.0, None, False
        )
        self.base = check_choice(name, "base", base, ("class_balanced", "ce"))
        self.difficulty = check_choice(name, "difficulty", difficulty, ("vector", "scalar"))
        self.divergence = check_choice(name, "divergence", divergence, ("kl", "mse"))
        self.detach_target = bool(detach_target)
        self.register_buffer("nc", iwb_number_coefficient(class_counts, name).to(torch.float32))
        if self.base == "ce":
            self.base_loss = CrossEntropyLoss()
        else:
            cb_type = _DEFAULT_CB_TYPE[variant] if cb_loss_type is None else cb_loss_type
            check_choice(name, "cb_loss_type", cb_type, CB_LOSS_TYPES)
            self.base_loss = ClassBalancedLoss(class_counts, beta=beta, loss_type=cb_type)
        self.last_terms: Dict[str, torch.Tensor] = {}

    def weight_norms(self, weight: torch.Tensor) -> torch.Tensor:
        """``|W|``: the L2 norm of every class weight (C,)."""
        return weight.float().norm(dim=1)

    def target_distribution(
        self, features: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """``P = lambda * NC * HC`` (Eq. 7), shape (B, C), before the softmax."""
        x = F.normalize(features.float().flatten(1), dim=1)
        w = F.normalize(weight.float(), dim=1)
        if self.difficulty == "vector":
            g = x @ w.t()  # (B, C), Eq. 5
        else:
            g = (x * w[targets]).sum(dim=1, keepdim=True)  # (B, 1), Eq. 4
        hc = (1.0 - g) / 2.0  # Eq. 6
        p = self.lam * self.nc.to(x.device)[None, :] * hc  # Eq. 7, broadcast to (B, C)
        return p.detach() if self.detach_target else p

    def divergence_term(
        self, features: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """The regulariser added to the base loss (Eq. 8, or its variants), a scalar."""
        p = self.target_distribution(features, weight, targets)  # (B, C)
        norms = self.weight_norms(weight)[None, :]  # (1, C)
        if self.divergence == "mse":
            per_sample = (norms - p).pow(2).mean(dim=1)
        else:
            log_q = F.log_softmax(norms, dim=1)  # softmax(|W|)
            log_p = F.log_softmax(p, dim=1)  # softmax(P)
            if self.variant == "paper":  # KL(softmax(|W|) || softmax(P))
                per_sample = (log_q.exp() * (log_q - log_p)).sum(dim=1)
            else:  # KL(softmax(P) || softmax(|W|))
                per_sample = (log_p.exp() * (log_p - log_q)).sum(dim=1)
        return per_sample.mean() if self.variant == "paper" else per_sample.sum()

    def forward(
        self,
        logits: torch.Tensor,
        targets: torch.Tensor,
        features: Optional[torch.Tensor] = None,
        weight: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        num_classes = self.nc.numel()
        check_logits(self.loss_name, logits, targets, num_classes)
        if features is None or weight is None:
            raise ValueError(
                "iwb: forward needs the pooled features and the classifier weight (needs_features=True)"
            )
        if weight.dim() != 2 or weight.shape[0] != num_classes:
            raise ValueError(
                f"iwb: weight must have shape ({num_classes}, D), got {tuple(weight.shape)}"
            )
        flat = features.flatten(1) if features.dim() > 2 else features
        if flat.dim() != 2 or flat.shape[0] != logits.shape[0] or flat.shape[1] != weight.shape[1]:
            raise ValueError(
                f"iwb: features must have shape ({logits.shape[0]}, {weight.shape[1]}), got {tuple(features.shape)}"
            )
        base = self.base_loss(logits, targets)
        div = self.divergence_term(flat, weight, targets)
        self.last_terms = {"base": base.detach(), "divergence": div.detach()}
        return base + div

    def extra_repr(self) -> str:
        return (
            f"variant={self.variant!r}, lam={self.lam}, base={self.base!r}, difficulty={self.difficulty!r}, "
            f"divergence={self.divergence!r}, detach_target={self.detach_target}"
        )
