"""Batch mixing for stage 1: mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization",
ICLR'18) and CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
Localizable Features", ICCV'19), done by :class:`timm.data.Mixup`.

A mixed batch comes with soft targets ``lam * onehot(y) + (1 - lam) * onehot(y')``, so the
stage-1 loss must take class probabilities (``ce``, ``balanced_softmax``, ``logit_adjusted``; see
``accepts_soft_targets`` on the loss classes). For those losses the soft-target loss equals
``lam * L(z, y) + (1 - lam) * L(z, y')``, the form MiSLAS (Zhong et al., CVPR'21) trains with.

What this adds to timm's ``Mixup``:

* every batch is mixed from a numpy state seeded by ``(seed, global step)``, so a run resumed
  from a checkpoint mixes exactly as the uninterrupted run would (timm draws from numpy's global
  state, which a resume does not restore); the global state is left as it was;
* a batch of odd size (the last one of an epoch) mixes its first ``n - 1`` images and keeps the
  last image with its own label (timm's ``Mixup`` needs an even batch);
* from ``off_epoch`` on, batches pass through unmixed, with one-hot targets (timm's
  ``--mixup-off-epoch``).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import Mixup

MODES = ("batch", "pair", "elem")


class BatchMixer:
    """Mix a batch of images and turn its labels into soft targets.

    Args:
        num_classes: number of classes (the width of the soft targets).
        mixup: mixup's Beta(alpha, alpha) parameter; 0 turns mixup off.
        cutmix: CutMix's Beta(alpha, alpha) parameter; 0 turns CutMix off.
        prob: probability that a batch is mixed at all, in [0, 1].
        switch_prob: with both on, probability of CutMix rather than mixup, in [0, 1].
        mode: ``batch`` (one lam per batch), ``pair`` (per pair of images) or ``elem`` (per image).
        off_epoch: the first epoch trained without mixing (``None``: mix to the end).
        seed: the run's seed; batch ``k`` is mixed from the numpy seed ``(seed, k)``.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        mixup: float = 0.0,
        cutmix: float = 0.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        mode: str = "batch",
        off_epoch: Optional[int] = None,
        seed: int = 0,
    ):
        if not mixup > 0 and not cutmix > 0:
            raise ValueError("BatchMixer needs mixup > 0 or cutmix > 0")
        if mode not in MODES:
            raise ValueError(f"mixup_mode={mode!r} is not allowed; allowed: {', '.join(MODES)}")
        self.num_classes, self.seed, self.off_epoch = int(num_classes), int(seed), off_epoch
        self.mixup = Mixup(
            mixup_alpha=float(mixup),
            cutmix_alpha=float(cutmix),
            prob=float(prob),
            switch_prob=float(switch_prob),
            mode=mode,
            label_smoothing=0.0,
            num_classes=self.num_classes,
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Tell the mixer the (0-based) epoch about to run; at ``off_epoch`` mixing stops."""
        self.epoch = int(epoch)

    @property
    def active(self) -> bool:
        return self.off_epoch is None or self.epoch < self.off_epoch

    def __call__(
        self, images: torch.Tensor, targets: torch.Tensor, step: int
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(images, soft_targets)`` for the batch trained at global step ``step``; the images
        are mixed in place (timm's way), the targets are float class probabilities ``(B, C)``."""
        soft = F.one_hot(targets.long(), self.num_classes).to(torch.float32)
        n = len(images) - len(images) % 2
        if not self.active or n == 0:
            return images, soft
        saved = np.random.get_state()
        np.random.seed(np.random.SeedSequence([self.seed, int(step)]).generate_state(1)[0])
        try:
            mixed, mixed_targets = self.mixup(images[:n], targets[:n])
        finally:
            np.random.set_state(saved)
        images[:n] = mixed
        soft[:n] = mixed_targets.to(soft.dtype)
        return images, soft
