"""Stage 1: joint training of encoder and classifier on Accelerate.

SGD with momentum, learning rate linearly warmed up then cosine-annealed to 0, set per optimizer
step from the fraction of training done (``epoch + i / steps_per_epoch``), so the schedule is
the same whatever the number of processes and needs no scheduler object in ``prepare``. The
sampler's ``set_epoch`` and the loss's ``set_epoch`` (LDAM-DRW's switch) see the epoch, never
a step count. Logging and the progress bar live on the main process only.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ltzoo.train.config import RunConfig
from ltzoo.train.stage2.common import cosine_lr


def build_train_loader(cfg: RunConfig, train_set) -> DataLoader:
    from ltzoo.data.samplers import create_sampler

    sampler_kwargs = dict(cfg.stage1.sampler_kwargs)
    if cfg.stage1.sampler == "progressive":
        sampler_kwargs.setdefault("num_epochs", cfg.stage1.epochs)
    sampler = create_sampler(cfg.stage1.sampler, train_set.targets, seed=cfg.seed, **sampler_kwargs)
    return DataLoader(
        train_set, batch_size=cfg.stage1.batch_size, sampler=sampler, num_workers=cfg.data.num_workers,
        drop_last=False, persistent_workers=cfg.data.num_workers > 0,
    )


def train_stage1(
    cfg: RunConfig, accelerator, model: torch.nn.Module, train_set,
    on_epoch_end: Optional[Callable[[int, dict, torch.nn.Module], None]] = None,
) -> torch.nn.Module:
    """Train ``model`` on ``train_set``; returns the unwrapped model.

    ``on_epoch_end(epoch, stats, model)`` is called on every process after each epoch (the
    model unwrapped; it may raise to stop training, e.g. ``optuna.TrialPruned``).
    """
    from ltzoo.losses import create_loss

    s1 = cfg.stage1
    loader = build_train_loader(cfg, train_set)
    sampler = loader.sampler
    loss_fn = create_loss(s1.loss, class_counts=train_set.class_counts, **s1.loss_kwargs)
    optimizer = torch.optim.SGD(model.parameters(), lr=s1.lr, momentum=s1.momentum, weight_decay=s1.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    steps_per_epoch = max(1, len(loader))
    warmup = s1.warmup_epochs / max(1, s1.epochs)
    bar = tqdm(total=s1.epochs * steps_per_epoch, desc="stage 1", disable=not (cfg.progress and accelerator.is_main_process))
    for epoch in range(s1.epochs):
        sampler.set_epoch(epoch)
        loss_fn.set_epoch(epoch)
        model.train()
        total_loss, total_correct, total_seen = 0.0, 0, 0
        for i, (images, targets) in enumerate(loader):
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(s1.lr, (epoch + i / steps_per_epoch) / s1.epochs, warmup)
            with accelerator.autocast():
                logits = model(images)
                loss = loss_fn(logits.float(), targets)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"stage 1: loss is {loss.item()} at epoch {epoch}, step {i}")
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if s1.grad_clip:
                accelerator.clip_grad_norm_(model.parameters(), s1.grad_clip)
            optimizer.step()
            total_loss += loss.item() * len(targets)
            total_correct += int((logits.argmax(1) == targets).sum())
            total_seen += len(targets)
            bar.update(1)
        stats = dict(epoch=epoch, loss=total_loss / max(1, total_seen), train_acc=100.0 * total_correct / max(1, total_seen),
                     lr=optimizer.param_groups[0]["lr"])
        bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['train_acc']:.1f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, stats, accelerator.unwrap_model(model))
    bar.close()
    return accelerator.unwrap_model(model)


def steps_per_epoch(num_samples: int, batch_size: int, num_processes: int = 1) -> int:
    return math.ceil(math.ceil(num_samples / batch_size) / num_processes)
