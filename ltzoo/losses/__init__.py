"""Loss functions for long-tailed recognition, one file per family, registered in ``LOSSES``.

>>> from ltzoo.losses import create_loss
>>> loss = create_loss("ldam", class_counts=[500, 50, 5])
>>> loss.set_epoch(160)  # deferred re-weighting switches on

Every loss is an ``nn.Module`` whose ``forward(logits, targets)`` returns the scalar batch mean
and which has ``set_epoch(epoch)``. Losses with ``needs_features = True`` (IWB) take
``forward(logits, targets, features, weight)`` instead.
"""

from __future__ import annotations

import inspect
from typing import Any, List

from torch import nn

from ltzoo.losses._base import LossBase
from ltzoo.losses.balanced_softmax import BalancedSoftmaxLoss
from ltzoo.losses.ce import CrossEntropyLoss
from ltzoo.losses.class_balanced import ClassBalancedLoss, class_balanced_weights
from ltzoo.losses.focal import FocalLoss
from ltzoo.losses.iwb import IWBLoss, iwb_number_coefficient
from ltzoo.losses.label_aware_smoothing import LabelAwareSmoothingLoss, smoothing_factors
from ltzoo.losses.ldam import LDAMLoss
from ltzoo.losses.logit_adjusted import LogitAdjustedLoss
from ltzoo.losses.reweighted import ReweightedUniformLoss, uniform_reweighting
from ltzoo.registry import LOSSES, check_options

__all__ = [
    "LOSSES",
    "LossBase",
    "create_loss",
    "list_losses",
    "loss_defaults",
    "CrossEntropyLoss",
    "ClassBalancedLoss",
    "FocalLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "BalancedSoftmaxLoss",
    "ReweightedUniformLoss",
    "IWBLoss",
    "LabelAwareSmoothingLoss",
    "smoothing_factors",
    "class_balanced_weights",
    "uniform_reweighting",
    "iwb_number_coefficient",
]


def list_losses(pattern: str = "*") -> List[str]:
    """Registered loss names matching a shell-style ``pattern``."""
    return LOSSES.names(pattern)


def loss_defaults(name: str) -> dict:
    """The keyword defaults of registered loss ``name``, less ``class_counts`` (so that a method
    built on it records every option)."""
    params = inspect.signature(LOSSES.get(name)).parameters
    return {
        k: p.default
        for k, p in params.items()
        if k != "class_counts" and p.default is not inspect.Parameter.empty
    }


def create_loss(name: str, class_counts: Any = None, **kwargs: Any) -> nn.Module:
    """Build the loss registered as ``name``.

    ``class_counts`` (per-class training counts: a sequence, numpy array or tensor) is passed to
    the losses that take it and ignored by the others, so a training loop can always pass the
    dataset's counts. A loss that needs them raises ``ValueError`` if they are missing; an unknown
    ``name`` raises with the valid names; an unknown keyword raises
    :class:`ltzoo.errors.InputError` listing the loss's keywords, as for heads and datasets.
    """
    cls = LOSSES.get(name)
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not takes_any:
        check_options("loss", name, cls, kwargs, fixed=("class_counts",))
    if "class_counts" in params:
        no_default = params["class_counts"].default is inspect.Parameter.empty
        if class_counts is None and getattr(cls, "requires_class_counts", no_default):
            raise ValueError(
                f"loss {name!r} needs class_counts (the per-class training-set counts from the dataset); "
                f"pass create_loss({name!r}, class_counts=...)"
            )
        kwargs["class_counts"] = class_counts
    return cls(**kwargs)
