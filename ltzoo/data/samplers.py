"""Re-sampling for long-tailed training, one registered sampler per scheme.

With ``n_j`` images in class ``j``, ``N = sum n_j``, ``C`` classes (Kang et al., "Decoupling
Representation and Classifier", ICLR'20, Sec. 3.1, ``p_j = n_j^q / sum_i n_i^q``):

* ``instance_balanced``: every image once per epoch, shuffled (``q = 1``);
* ``class_balanced``: a class uniformly (``q = 0``), then an image of it uniformly;
* ``square_root``: ``p_j ∝ n_j^q`` with ``q = 1/2`` by default (Mahajan et al., ECCV'18);
* ``progressive``: ``p_j(t) = (1 - t/T) p_j^IB + (t/T) p_j^CB``, ``t`` the epoch (clipped to ``T = num_epochs``);
* ``uniform_batch``: every consecutive chunk of ``s * C`` indices holds exactly ``s`` images of
  every class (Park, Piao and Kim (Korea University)'s uniform mini-batch). Use
  ``DataLoader(batch_size=sampler.batch_size)`` (``s * C``, or a multiple of it); under
  Accelerate each process then gets whole uniform batches and the global batch is
  ``num_processes * s * C`` (with ``split_batches=True`` one batch is split across processes and
  only the global batch is uniform);
* ``oversample`` / ``undersample``: random over-/under-sampling to a flat profile, every class
  ``max n_j`` / ``min n_j`` images per epoch (Lee (Yonsei University, 2022)'s ROS / RUS; Buda et al. 2018).

``uniform_batch``, ``oversample`` and ``undersample`` live in :mod:`ltzoo.data.batch_samplers`.

Determinism (see DESIGN.md): each sampler owns a ``torch.Generator`` in ``generator``, seeded
from ``(seed, epoch)`` in ``set_epoch`` (Accelerate calls it at every epoch); iterating again
without ``set_epoch`` continues the generator, giving a new order. Samplers are not rank-aware:
every process yields the same order and Accelerate keeps every N-th batch per process.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Sampler

from ltzoo.registry import SAMPLERS, check_options


def seed_for(seed: int, epoch: int) -> int:
    """A well-mixed 63-bit seed from ``(seed, epoch)`` (numpy's SeedSequence)."""
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class LTSampler(Sampler):
    """Base: class counts, indices grouped by class, a ``generator`` seeded per epoch."""

    def __init__(self, targets, seed: int = 0, num_classes: int = None):
        targets = np.asarray(targets)
        if (
            targets.ndim != 1
            or targets.size == 0
            or not np.issubdtype(targets.dtype, np.integer)
            or targets.min() < 0
        ):
            raise ValueError(
                f"targets must be a non-empty 1-D array of labels >= 0, got shape "
                f"{targets.shape} and dtype {targets.dtype}"
            )
        self.targets = torch.as_tensor(targets.astype(np.int64))
        self.num_classes = int(num_classes or targets.max() + 1)
        counts = np.bincount(targets, minlength=self.num_classes)
        if len(counts) > self.num_classes:
            raise ValueError(
                f"label {len(counts) - 1} is outside [0, num_classes={self.num_classes})"
            )
        self.class_counts = torch.as_tensor(counts, dtype=torch.int64)
        self.by_class = torch.argsort(self.targets, stable=True)  # indices grouped by class
        self.offsets = torch.cumsum(self.class_counts, 0) - self.class_counts
        self.seed, self.epoch = int(seed), 0
        self.generator = torch.Generator()
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.generator.manual_seed(seed_for(self.seed, self.epoch))

    def __iter__(self):
        return iter(self.indices().tolist())

    def _class_perm(self, c: int, length: int) -> torch.Tensor:
        """``length`` indices of class ``c``: concatenated fresh permutations, cut to length."""
        n = int(self.class_counts[c])
        reps = math.ceil(length / n)
        perms = torch.argsort(torch.rand(reps, n, generator=self.generator), dim=1).flatten()[
            :length
        ]
        return self.by_class[self.offsets[c] + perms]

    def _shuffle(self, idx: torch.Tensor) -> torch.Tensor:
        return idx[torch.randperm(len(idx), generator=self.generator)]


@SAMPLERS.register("instance_balanced")
class InstanceBalancedSampler(LTSampler):
    """Every image once per epoch in a random order: class ``j`` gets exactly ``n_j``."""

    def __len__(self):
        return len(self.targets)

    def indices(self):
        return torch.randperm(len(self.targets), generator=self.generator)


class ClassAwareSampler(LTSampler):
    """Draws a class from ``class_probabilities()``, then one of its images uniformly, with
    replacement, ``num_samples`` times (default ``N``) per epoch."""

    def __init__(self, targets, seed=0, num_classes=None, num_samples=None):
        super().__init__(targets, seed=seed, num_classes=num_classes)
        self.num_samples = int(num_samples or len(self.targets))
        if self.num_samples < 1:
            raise ValueError(f"num_samples={num_samples!r} must be >= 1")

    def __len__(self):
        return self.num_samples

    def class_weights(self) -> torch.Tensor:
        raise NotImplementedError

    def class_probabilities(self) -> np.ndarray:
        weights = self.class_weights().double() * (self.class_counts > 0)
        return (weights / weights.sum()).numpy()

    def indices(self):
        probs = torch.as_tensor(self.class_probabilities())
        classes = torch.multinomial(
            probs, self.num_samples, replacement=True, generator=self.generator
        )
        within = torch.rand(self.num_samples, generator=self.generator, dtype=torch.float64)
        within = (within * self.class_counts[classes]).long()
        return self.by_class[self.offsets[classes] + within]


@SAMPLERS.register("class_balanced")
class ClassBalancedSampler(ClassAwareSampler):
    """``p_j = 1 / C`` (over the classes that have images)."""

    def class_weights(self):
        return torch.ones(self.num_classes, dtype=torch.float64)


@SAMPLERS.register("square_root")
class SquareRootSampler(ClassAwareSampler):
    """``p_j ∝ n_j^q``; ``q = 1/2`` is square-root sampling, ``q = 0`` / ``1`` are CB / IB."""

    def __init__(self, targets, seed=0, num_classes=None, num_samples=None, q: float = 0.5):
        self.q = float(q)
        super().__init__(targets, seed=seed, num_classes=num_classes, num_samples=num_samples)

    def class_weights(self):
        return self.class_counts.double() ** self.q


@SAMPLERS.register("progressive")
class ProgressivelyBalancedSampler(ClassAwareSampler):
    """``p_j(t) = (1 - t/T) n_j / N + (t/T) / C`` with ``t = min(epoch, T)``, ``T = num_epochs``."""

    def __init__(self, targets, seed=0, num_classes=None, num_samples=None, num_epochs: int = None):
        if num_epochs is None or int(num_epochs) < 1:
            raise ValueError(
                f"num_epochs={num_epochs!r} must be an integer >= 1 (the T of "
                "(1 - t/T) p_IB + (t/T) p_CB)"
            )
        self.num_epochs = int(num_epochs)
        super().__init__(targets, seed=seed, num_classes=num_classes, num_samples=num_samples)

    def class_weights(self):
        t = min(self.epoch, self.num_epochs) / self.num_epochs
        counts = self.class_counts.double()
        nonempty = (counts > 0).double()
        return (1 - t) * counts / counts.sum() + t * nonempty / nonempty.sum()


def create_sampler(name: str, targets, seed: int = 0, **kwargs) -> LTSampler:
    """Build the sampler registered as ``name`` over the labels ``targets`` (an unknown name or
    option raises with the valid ones)."""
    cls = SAMPLERS.get(name)
    check_options("sampler", name, cls.__init__, kwargs, fixed=("targets", "seed"))
    return cls(targets, seed=seed, **kwargs)


def list_samplers(pattern: str = "*"):
    return SAMPLERS.names(pattern)
