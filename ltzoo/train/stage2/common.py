"""Training a classifier head on cached features: the loop cRT, LWS and IWB share.

Mini-batches of cached features are drawn with a registered sampler (``class_balanced`` for cRT
and LWS as in Kang et al. ICLR'20; ``instance_balanced`` for IWB, whose loss re-weights), SGD
with momentum, learning rate cosine-annealed to 0 over all steps (per step, so the schedule does
not depend on the number of processes). ``grad_clip`` caps the gradient norm (seed 001: training
on the tail classes alone gave infinite gradients); ``after_step(head)`` runs after every optimizer
step (the MaxNorm projection of WD+MaxNorm). A training source that is not a :class:`FeatureSet`
but has ``fit_head`` (``ltzoo.train.stage2.on_images.ImageSource``) runs the same schedule itself,
on images, with encoder layers unfrozen (``stage2.retrain``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, Optional

import torch

from ltzoo.heads.base import HeadBase
from ltzoo.train.features import FeatureSet


TRAINING_OPTIONS = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "sampler", "sampler_kwargs", "grad_clip")


def cosine_lr(base_lr: float, progress: float, warmup: float = 0.0) -> float:
    """Linear warm-up over the first ``warmup`` fraction, then cosine from ``base_lr`` to 0."""
    if warmup > 0 and progress < warmup:
        return base_lr * progress / warmup
    span = max(1e-12, 1.0 - warmup)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, (progress - warmup) / span)))


def head_step(head, features, targets, loss_fn, optimizer, params, grad_clip=None, after_step=None) -> None:
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


def train_head(
    head: HeadBase,
    params: Iterable[torch.nn.Parameter],
    train: FeatureSet,
    loss_fn,
    *,
    sampler: str,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    seed: int,
    sampler_kwargs: Optional[Dict[str, Any]] = None,
    grad_clip: Optional[float] = None,
    after_step: Optional[Callable[[HeadBase], None]] = None,
) -> HeadBase:
    """Fit ``params`` of ``head`` on ``train`` features; returns the head in eval mode."""
    from ltzoo.data.samplers import create_sampler

    if not isinstance(train, FeatureSet) and hasattr(train, "fit_head"):
        return train.fit_head(
            head, params, loss_fn, sampler=sampler, epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum,
            weight_decay=weight_decay, seed=seed, sampler_kwargs=sampler_kwargs, grad_clip=grad_clip, after_step=after_step,
        )

    params = list(params)
    index_sampler = create_sampler(sampler, train.labels.numpy(), seed=seed, **(sampler_kwargs or {}))
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(index_sampler) / batch_size)
    total = max(1, epochs * steps_per_epoch)
    step = 0
    head.train()
    for epoch in range(epochs):
        index_sampler.set_epoch(epoch)
        if hasattr(loss_fn, "set_epoch"):
            loss_fn.set_epoch(epoch)
        order = torch.as_tensor(list(iter(index_sampler)), dtype=torch.long)
        for batch in order.split(batch_size):
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(lr, step / total)
            x, y = train.features[batch], train.labels[batch]
            head_step(head, x, y, loss_fn, optimizer, params, grad_clip, after_step)
            step += 1
    return head.eval()
