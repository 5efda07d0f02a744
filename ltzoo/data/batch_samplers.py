"""Samplers whose epoch is built class by class: uniform mini-batches, random over-/under-sampling.

See :mod:`ltzoo.data.samplers` for the shared contract (``generator`` seeded from
``(seed, epoch)`` in ``set_epoch``, not rank-aware). These three use
:meth:`~ltzoo.data.samplers.LTSampler._class_perm`: a class's images are drawn without
replacement until it runs out, then from a fresh permutation, so repeats are spread evenly.
"""

from __future__ import annotations

import torch

from ltzoo.data.samplers import LTSampler
from ltzoo.registry import SAMPLERS


@SAMPLERS.register("uniform_batch")
class UniformBatchSampler(LTSampler):
    """``num_batches`` chunks of ``batch_size = s * C`` indices, each with exactly ``s`` images of
    every class, in a shuffled order inside the chunk. A class's images are drawn without
    replacement until it runs out, then from a fresh permutation. ``num_batches`` defaults to
    ``max(1, N // (s * C))`` so an epoch is about ``N`` images."""

    def __init__(
        self, targets, seed=0, num_classes=None, samples_per_class: int = 1, num_batches=None
    ):
        super().__init__(targets, seed=seed, num_classes=num_classes)
        self.samples_per_class = int(samples_per_class)
        if self.samples_per_class < 1:
            raise ValueError(f"samples_per_class={samples_per_class!r} must be >= 1")
        empty = torch.nonzero(self.class_counts == 0).flatten()
        if len(empty):
            raise ValueError(
                f"class {int(empty[0])} has no images; uniform_batch needs every class"
            )
        self.batch_size = self.samples_per_class * self.num_classes
        self.num_batches = int(num_batches or max(1, len(self.targets) // self.batch_size))

    def __len__(self):
        return self.num_batches * self.batch_size

    def indices(self):
        s, m = self.samples_per_class, self.num_batches
        per_class = torch.stack(
            [self._class_perm(c, m * s).view(m, s) for c in range(self.num_classes)], 1
        )
        batches = per_class.reshape(m, self.batch_size)
        order = torch.argsort(torch.rand(m, self.batch_size, generator=self.generator), dim=1)
        return torch.gather(batches, 1, order).flatten()


class _FlatSampler(LTSampler):
    """Every class with images gets ``self.per_class`` draws per epoch, then a global shuffle."""

    per_class: int

    def __len__(self):
        return self.per_class * int((self.class_counts > 0).sum())

    def indices(self):
        parts = [
            self._class_perm(c, self.per_class)
            for c in range(self.num_classes)
            if self.class_counts[c]
        ]
        return self._shuffle(torch.cat(parts))


@SAMPLERS.register("oversample")
class RandomOverSampler(_FlatSampler):
    """ROS: every class ``max_j n_j`` images per epoch, each image ``floor`` or ``ceil`` of
    ``n_max / n_j`` times (whole permutations, then part of one)."""

    def __init__(self, targets, seed=0, num_classes=None):
        super().__init__(targets, seed=seed, num_classes=num_classes)
        self.per_class = int(self.class_counts.max())


@SAMPLERS.register("undersample")
class RandomUnderSampler(_FlatSampler):
    """RUS: every class ``min_j n_j`` (over classes with images) distinct images per epoch,
    a fresh random subset each epoch."""

    def __init__(self, targets, seed=0, num_classes=None):
        super().__init__(targets, seed=seed, num_classes=num_classes)
        self.per_class = int(self.class_counts[self.class_counts > 0].min())
