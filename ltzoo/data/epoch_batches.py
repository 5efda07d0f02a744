"""The batch plan shared by ltzoo's on-device loaders (``DeviceBatchLoader``, ``JpegBatchLoader``).

An epoch's order comes from the sampler (the same on every process, a function of (seed,
epoch)); it is cut into batches, and process ``r`` of ``N`` takes batches ``r, r + N, ...``,
wrapping around so that every process runs the same number of steps (Accelerate's
``even_batches``). Each batch has a global number, from which its augmentation generator is
seeded: a resumed run draws exactly the augmentations it would have drawn.
"""

from __future__ import annotations

import math
from typing import List, Tuple

import torch


class EpochBatches:
    """Mixin: needs ``sampler``, ``batch_size``, ``seed``, ``rank``, ``world_size``, ``epoch``."""

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def _batches(self) -> List[Tuple[int, torch.Tensor]]:
        """``(global batch number, sample indices)`` of this process, for this epoch."""
        self.sampler.set_epoch(self.epoch)  # the epoch's order, however often it is iterated
        order = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long)
        chunks = list(order.split(self.batch_size))
        per_rank = math.ceil(len(chunks) / self.world_size)
        mine = [chunks[(i * self.world_size + self.rank) % len(chunks)] for i in range(per_rank)]
        return [(i * self.world_size + self.rank, idx) for i, idx in enumerate(mine)]

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.sampler) / self.batch_size) / self.world_size)

    def batch_seed(self, batch_number: int) -> int:
        return (self.seed * 1_000_003 + self.epoch) * 1_000_003 + batch_number

    def __iter__(self):
        return self.iterate()
