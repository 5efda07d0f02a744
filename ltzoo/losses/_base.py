"""Shared pieces of the loss modules: a base class, argument checks, class-count handling."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn


class LossBase(nn.Module):
    """Base class of every ltzoo loss.

    Class attributes read by :func:`ltzoo.losses.create_loss` and by the training engine:

    * ``loss_name``: the name the loss is registered under (used in error messages).
    * ``requires_class_counts``: ``create_loss`` raises if ``class_counts`` is missing.
    * ``needs_features``: ``forward`` takes ``(logits, targets, features, weight)`` instead of
      ``(logits, targets)`` (only IWB).
    * ``accepts_soft_targets``: ``targets`` may also be class probabilities of shape ``(B, C)``
      (what mixup and CutMix produce, :mod:`ltzoo.data.mixing`); the loss is then linear in them.
    """

    loss_name: str = "loss"
    requires_class_counts: bool = False
    needs_features: bool = False
    accepts_soft_targets: bool = False

    def set_epoch(self, epoch: int) -> None:
        """Tell the loss the (0-based) epoch about to run; a no-op unless it has a schedule."""
        self.epoch = int(epoch)


def check_range(
    loss: str,
    field: str,
    value: Any,
    low: Optional[float] = None,
    high: Optional[float] = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``float(value)`` or raise ``ValueError`` naming the loss, field, value and range."""
    lo_b = "[" if low_inclusive else "("
    hi_b = "]" if high_inclusive else ")"
    allowed = f"{lo_b}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_b}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{loss}: {field}={value!r} is not a number; allowed range {allowed}"
        ) from None
    ok = not math.isnan(v)
    if ok and low is not None:
        ok = v >= low if low_inclusive else v > low
    if ok and high is not None:
        ok = v <= high if high_inclusive else v < high
    if not ok:
        raise ValueError(f"{loss}: {field}={value!r} is out of range; allowed range {allowed}")
    return v


def check_choice(loss: str, field: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(
            f"{loss}: {field}={value!r} is not supported; choose one of {', '.join(map(repr, choices))}"
        )
    return value


def as_class_counts(class_counts: Any, loss: str, allow_zero: bool = False) -> torch.Tensor:
    """Per-class training counts (sequence, numpy array or tensor) as a 1-D float64 tensor.

    Raises ``ValueError`` naming ``loss`` if the counts are missing, not 1-D, empty, not finite,
    negative, or (unless ``allow_zero``) zero.
    """
    if class_counts is None:
        raise ValueError(
            f"loss {loss!r} needs class_counts (the per-class training-set counts from the dataset); "
            f"pass create_loss({loss!r}, class_counts=...)"
        )
    if isinstance(class_counts, torch.Tensor):
        arr = class_counts.detach().cpu().to(torch.float64).numpy()
    else:
        arr = np.asarray(class_counts, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{loss}: class_counts must be a non-empty 1-D sequence, got shape {tuple(arr.shape)}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(
            f"{loss}: class_counts must be finite and non-negative, got {arr.tolist()}"
        )
    if not allow_zero and np.any(arr == 0):
        empty = np.flatnonzero(arr == 0).tolist()
        raise ValueError(
            f"{loss}: class_counts must be positive; classes {empty} have no training images"
        )
    return torch.as_tensor(arr, dtype=torch.float64)


def class_weight(loss: str, weight: Optional[Sequence[float]]) -> Optional[torch.Tensor]:
    """A per-class weight vector as a float32 tensor (a copy), or None: 1-D, finite, non-negative."""
    if weight is None:
        return None
    weight = torch.as_tensor(weight, dtype=torch.float32).detach().clone()
    if weight.dim() != 1 or not torch.isfinite(weight).all() or (weight < 0).any():
        raise ValueError(
            f"{loss}: weight must be a 1-D sequence of non-negative finite numbers, got {weight}"
        )
    return weight


def check_logits(
    loss: str,
    logits: torch.Tensor,
    targets: torch.Tensor,
    num_classes: Optional[int] = None,
    source: str = "class_counts",
    soft_ok: bool = False,
) -> None:
    """Shape checks shared by the losses: ``logits`` (B, C), ``targets`` (B,) class indices or,
    with ``soft_ok``, (B, C) class probabilities."""
    if logits.dim() != 2:
        raise ValueError(
            f"{loss}: logits must have shape (batch, classes), got {tuple(logits.shape)}"
        )
    if soft_ok and targets.dim() == 2 and targets.is_floating_point():
        if targets.shape != logits.shape:
            raise ValueError(
                f"{loss}: soft targets must have the logits' shape {tuple(logits.shape)}, "
                f"got {tuple(targets.shape)}"
            )
    elif targets.dim() != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"{loss}: targets must be class indices of shape ({logits.shape[0]},), got {tuple(targets.shape)}"
        )
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ValueError(
            f"{loss}: logits have {logits.shape[1]} classes but {source} has {num_classes} entries"
        )
