"""Training a classifier head on cached features: the loop cRT, LWS, IWB, WD+MaxNorm and the
experts share (each method's ``fit`` reaches it through its training source's ``fit_head``).

``settings`` (a :class:`~ltzoo.train.config.TrainSettings`, resolved per method by
:mod:`ltzoo.train.stage2`) says everything: mini-batches of cached features drawn with the
registered ``sampler``, SGD with ``momentum`` (``nesterov``) and ``weight_decay``, and the rate
from :func:`ltzoo.train.schedule.build_scheduler` (cosine to 0 by default), stepped per batch.
``grad_clip`` caps the gradient norm; ``after_step(head)`` runs after every optimizer step and
``after_epoch(head)`` after every epoch (the MaxNorm projection of WD+MaxNorm, per step or per
epoch). On images, :class:`ltzoo.train.image_training.ImageSource` runs the same schedule with
:func:`head_step`.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Optional

import torch

from ltzoo.data.samplers import create_sampler
from ltzoo.heads.base import HeadBase
from ltzoo.train.config import TrainSettings
from ltzoo.train.optimizer import make_optimizer
from ltzoo.train.schedule import build_scheduler


def head_step(
    head, features, targets, loss_fn, optimizer, params, grad_clip=None, after_step=None
) -> None:
    """One optimizer step of a head on pooled ``features``: the loss (with the features and the
    class weights for losses that need them, e.g. IWB), backward, optional clipping, step, and
    ``after_step(head)`` (e.g. WD+MaxNorm's projection)."""
    logits = head(features)
    if getattr(loss_fn, "needs_features", False):
        loss = loss_fn(logits, targets, features=features, weight=head.class_weight)
    else:
        loss = loss_fn(logits, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    if after_step is not None:
        after_step(head)


def train_on_features(
    train,
    head: HeadBase,
    params: Iterable[torch.nn.Parameter],
    loss_fn,
    *,
    settings: TrainSettings,
    seed: int,
    after_step: Optional[Callable[[HeadBase], None]] = None,
    after_epoch: Optional[Callable[[HeadBase], None]] = None,
) -> HeadBase:
    """Fit ``params`` of ``head`` on the cached features ``train`` (``features``, ``labels``);
    returns the head in eval mode."""
    params = list(params)
    index_sampler = create_sampler(
        settings.sampler, train.labels.numpy(), seed=seed, **settings.sampler_kwargs
    )
    optimizer = make_optimizer(params, settings)
    steps_per_epoch = math.ceil(len(index_sampler) / settings.batch_size)
    scheduler = build_scheduler(optimizer, settings.schedule_spec(), steps_per_epoch, settings.lr)
    head.train()
    for epoch in range(settings.epochs):
        index_sampler.set_epoch(epoch)
        if hasattr(loss_fn, "set_epoch"):
            loss_fn.set_epoch(epoch)
        order = torch.as_tensor(list(iter(index_sampler)), dtype=torch.long)
        for batch in order.split(settings.batch_size):
            x, y = train.features[batch], train.labels[batch]
            head_step(head, x, y, loss_fn, optimizer, params, settings.grad_clip, after_step)
            scheduler.step()
        if after_epoch is not None:
            after_epoch(head)
    return head.eval()


def train_head(
    head: HeadBase,
    params: Iterable[torch.nn.Parameter],
    train,
    loss_fn,
    *,
    seed: int,
    settings: Optional[TrainSettings] = None,
    after_step: Optional[Callable[[HeadBase], None]] = None,
    after_epoch: Optional[Callable[[HeadBase], None]] = None,
    **setting_values,
) -> HeadBase:
    """Fit ``params`` of ``head`` on the training source ``train`` (cached features or images);
    returns the head in eval mode.

    ``settings`` or, for short, its fields as keywords (``epochs=2, lr=0.1, sampler=...``; the
    others take :class:`TrainSettings`' defaults).
    """
    if settings is None:
        settings = TrainSettings(**setting_values)
    elif setting_values:
        raise TypeError(
            f"train_head: give settings or keywords, not both ({', '.join(setting_values)})"
        )
    return train.fit_head(
        head,
        params,
        loss_fn,
        settings=settings,
        seed=seed,
        after_step=after_step,
        after_epoch=after_epoch,
    )


__all__ = ["head_step", "train_head", "train_on_features"]
