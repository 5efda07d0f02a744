"""Learning-rate schedules, stepped once per training step, built from ``torch.optim.lr_scheduler``.

Every stage (stage 1, stage 2 on cached features, stage 2 on images) takes its rate from
:func:`build_scheduler`, so one recipe vocabulary covers them all:

- ``schedule: cosine`` (the default): ``CosineAnnealingLR`` from the base rate to 0 over the
  steps after the warm-up.
- ``schedule: multistep``: ``MultiStepLR``, the rate multiplied by ``gamma`` at each epoch in
  ``milestones`` (Cao et al., NeurIPS'19, LDAM-DRW code: x0.01 at epochs 160 and 180 of 200;
  Menon et al., ICLR'21, logit-adjustment code: x0.1 at epochs 691, 1059 and 1290).
- ``schedule: constant``: ``ConstantLR`` with factor 1.
- ``warmup_epochs > 0``: a linear warm-up from ``warmup_start_lr`` to the base rate first, joined
  with ``SequentialLR`` (Ren et al., NeurIPS'20, balanced softmax warm up from 0.1 x the rate).

A step is one batch of the training loader (one optimizer step unless gradients are
accumulated). Milestones in epochs become ``epoch * steps_per_epoch`` steps, so the rate is a
function of the step count alone: the same on 1 or N processes, and an interrupted run that
replays its step count (:func:`advance`) continues on exactly the rates it would have had.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import List, Sequence

import torch
from torch.optim import lr_scheduler

SCHEDULES = ("cosine", "multistep", "constant")


@dataclass(frozen=True)
class Schedule:
    """A stage's schedule as the recipe states it (epochs, not steps)."""

    name: str = "cosine"
    epochs: int = 1
    warmup_epochs: float = 0.0
    warmup_start_lr: float = 0.0
    milestones: Sequence[float] = field(default_factory=list)
    gamma: float = 0.1

    def check(self, prefix: str = "") -> None:
        """Raise ``ValueError`` naming ``prefix``+key when the schedule cannot be built."""
        if self.name not in SCHEDULES:
            raise ValueError(
                f"{prefix}schedule={self.name!r} is not allowed; allowed: {', '.join(SCHEDULES)}"
            )
        if self.warmup_epochs < 0:
            raise ValueError(
                f"{prefix}warmup_epochs={self.warmup_epochs} is not allowed; allowed: >= 0"
            )
        if self.warmup_start_lr < 0:
            raise ValueError(
                f"{prefix}warmup_start_lr={self.warmup_start_lr} is not allowed; allowed: >= 0"
            )
        if self.name == "multistep":
            ms = list(self.milestones)
            if not ms or ms != sorted(ms) or ms[0] <= self.warmup_epochs:
                raise ValueError(
                    f"{prefix}milestones={ms} is not allowed with schedule=multistep; allowed: increasing epochs "
                    f"after the warm-up ({self.warmup_epochs:g}); those at or after the last epoch never apply"
                )
            if not 0 < self.gamma <= 1:
                raise ValueError(
                    f"{prefix}gamma={self.gamma} is not allowed; allowed: 0 < gamma <= 1"
                )
        elif self.milestones:
            raise ValueError(
                f"{prefix}milestones={list(self.milestones)} is not allowed with schedule={self.name!r}; "
                "allowed only with schedule=multistep"
            )


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: Schedule, steps_per_epoch: int, base_lr: float
) -> lr_scheduler.LRScheduler:
    """The scheduler for ``schedule`` over ``schedule.epochs * steps_per_epoch`` steps.

    ``base_lr`` is the stage's rate (param groups may scale it: their own ``lr`` is their base);
    the warm-up starts every group at ``warmup_start_lr / base_lr`` of its own base rate.
    """
    schedule.check()
    total = max(1, schedule.epochs * steps_per_epoch)
    warm = round(
        schedule.warmup_epochs * steps_per_epoch
    )  # may outlast a shortened run: then only warm-up
    main_steps = max(1, total - warm)
    if schedule.name == "cosine":
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=main_steps, eta_min=0.0)
    elif schedule.name == "multistep":
        steps = [round(m * steps_per_epoch) - warm for m in schedule.milestones]
        main = lr_scheduler.MultiStepLR(optimizer, milestones=steps, gamma=schedule.gamma)
    else:
        main = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if warm <= 0:
        return main
    start = schedule.warmup_start_lr / base_lr if base_lr > 0 else 0.0
    warmup = lr_scheduler.LambdaLR(
        optimizer, lambda step: start + (1.0 - start) * min(1.0, step / warm)
    )
    return lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[warm])


def advance(scheduler: lr_scheduler.LRScheduler, steps: int) -> None:
    """Replay ``steps`` steps (resuming at global step ``steps``); the optimizer's rates follow."""
    with warnings.catch_warnings():  # "lr_scheduler.step() before optimizer.step()": intended here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(steps):
            scheduler.step()


def rates(schedule: Schedule, steps_per_epoch: int, base_lr: float) -> List[float]:
    """The rate of every step of ``schedule`` (for tests, plots and ``--print-config`` checks)."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=base_lr)
    scheduler = build_scheduler(optimizer, schedule, steps_per_epoch, base_lr)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(max(1, schedule.epochs * steps_per_epoch)):
            out.append(optimizer.param_groups[0]["lr"])
            scheduler.step()
    return out


__all__ = ["SCHEDULES", "Schedule", "advance", "build_scheduler", "rates"]
