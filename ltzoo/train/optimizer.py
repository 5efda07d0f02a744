"""The optimizer every training stage builds: stage 1, each stage-2 method on cached features, and
stage 2 on images. SGD with the stage's ``lr``, ``momentum`` (``nesterov``) and ``weight_decay``
(:class:`~ltzoo.train.config.TrainSettings`; the rate then follows
:func:`ltzoo.train.schedule.build_scheduler`)."""

from __future__ import annotations

from typing import Optional

import torch

from ltzoo.train.config import TrainSettings


def make_optimizer(
    params, settings: TrainSettings, fused: Optional[bool] = None
) -> torch.optim.SGD:
    """SGD as ``settings`` say (``params`` may be parameter groups); ``fused``: PyTorch's fused
    implementation (``engine.fused_optimizer``), ``None`` for PyTorch's default."""
    return torch.optim.SGD(
        params,
        lr=settings.lr,
        momentum=settings.momentum,
        nesterov=settings.nesterov,
        weight_decay=settings.weight_decay,
        fused=fused,
    )


__all__ = ["make_optimizer"]
