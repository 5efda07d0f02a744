"""The fast path for datasets that fit in device memory (CIFAR-LT, Fashion-MNIST, digits).

The public long-tail codebases push every CIFAR image through PIL and a worker-process
DataLoader, which leaves a GPU mostly idle at batch 64. Here the whole uint8 training set lives
on the device; each batch is gathered by the sampler's indices and augmented there, vectorised
over the batch: random crop with zero padding and horizontal flip (the CIFAR recipe of He et
al., CVPR'16, Sec. 4.2), optional AutoAugment (Cubuk et al., CVPR'19: torchvision.transforms.v2's
policy applied to each uint8 image tensor on the device, one call per image, so it is not
vectorised), then normalised, then optional Cutout (DeVries & Taylor, arXiv 2017: a square centred
at any pixel, clipped at the border). The ops and each preset's settings are those of
:mod:`ltzoo.data.augment_presets`, which the PIL transforms read too. No worker processes, no
host-to-device copy per step.
:func:`device_augment` maps a transform preset and its ``data.transform_kwargs`` to these options.

Randomness comes from a generator seeded from (seed, epoch, batch index), so a resumed run
draws the same augmentations, and nothing depends on the global RNG. Under N processes,
process r takes batches r, r + N, ... of the sampler's epoch order (the sampler yields the same
order everywhere), with the last ones wrapped around so every process runs the same number of
steps, as Accelerate's ``even_batches`` does.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from ltzoo.data.augment_presets import FLIP_PROBABILITY, PRESETS, cutout, describe, pad_crop
from ltzoo.data.epoch_batches import EpochBatches


class DeviceBatchLoader(EpochBatches):
    """Iterate ``(images, labels)`` batches of an in-memory uint8 dataset, built on ``device``."""

    def __init__(
        self,
        data: np.ndarray,
        targets,
        sampler,
        batch_size: int,
        device,
        mean: Sequence[float],
        std: Sequence[float],
        pad: int = 0,
        flip: bool = False,
        cutout: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        autoaugment: Optional[str] = None,
    ):
        if data.dtype != np.uint8 or data.ndim != 4:
            raise ValueError(
                f"DeviceBatchLoader needs uint8 images (N, H, W, C); got {data.dtype} {data.shape}"
            )
        self.device = torch.device(device)
        self.images = (
            torch.from_numpy(np.ascontiguousarray(data))
            .permute(0, 3, 1, 2)
            .contiguous()
            .to(self.device)
        )
        self.labels = torch.as_tensor(np.asarray(targets), dtype=torch.long, device=self.device)
        self.sampler, self.batch_size = sampler, batch_size
        self.mean = torch.tensor(mean, device=self.device).view(1, -1, 1, 1) * 255.0
        self.std = torch.tensor(std, device=self.device).view(1, -1, 1, 1) * 255.0
        self.pad, self.flip, self.cutout = pad, flip, cutout
        self.autoaugment = None
        if autoaugment is not None:
            from torchvision.transforms import v2

            policies = {p.value: p for p in v2.AutoAugmentPolicy}
            if autoaugment not in policies:
                raise ValueError(
                    f"autoaugment={autoaugment!r} is not allowed; allowed: {', '.join(policies)}"
                )
            self.autoaugment = v2.AutoAugment(policies[autoaugment])
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.channels_last = channels_last
        self.epoch = 0

    def iterate(self, skip: int = 0):
        """Batches of this epoch, starting after the first ``skip`` (for resuming mid-epoch)."""
        for batch_number, idx in self._batches()[skip:]:
            seed = self.batch_seed(batch_number)
            generator = torch.Generator(device=self.device).manual_seed(seed)
            idx = idx.to(self.device)
            yield self.augment(self.images[idx], generator, seed), self.labels[idx]

    def augment(
        self, batch: torch.Tensor, generator: Optional[torch.Generator], seed: int = 0
    ) -> torch.Tensor:
        """uint8 (B, C, H, W) -> augmented, normalised float (B, C, H, W). ``seed`` seeds AutoAugment's
        choices (torchvision draws them from the CPU generator, forked here so the global one is kept)."""
        b, _, h, w = batch.shape
        x = batch.float()
        if self.pad:
            offsets = torch.randint(
                0, 2 * self.pad + 1, (2, b), device=self.device, generator=generator
            )
            x = pad_crop(x, self.pad, offsets)
        if self.flip:
            flipped = torch.rand(b, device=self.device, generator=generator) < FLIP_PROBABILITY
            x = torch.where(flipped.view(b, 1, 1, 1), x.flip(3), x)
        if self.autoaugment is not None:
            x = self.auto_augment(x.to(torch.uint8), seed).float()
        x = (x - self.mean) / self.std
        if self.cutout:
            centres = torch.stack(
                [
                    torch.randint(0, h, (b,), device=self.device, generator=generator),
                    torch.randint(0, w, (b,), device=self.device, generator=generator),
                ]
            )
            x = cutout(x, self.cutout, centres)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def auto_augment(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """AutoAugment on each uint8 image in turn, its random choices seeded by ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            return torch.stack([self.autoaugment(image) for image in images])


DEVICE_PRESETS = tuple(
    name for name, p in PRESETS.items() if p.describe(True).native_size is not None
)


def device_augment(preset: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """:class:`DeviceBatchLoader`'s augmentation arguments for transform ``preset`` with its
    ``options`` (``data.transform_kwargs``): the preset's training augmentation as
    :mod:`ltzoo.data.augment_presets` describes it, done on the device. ValueError for what it
    cannot do."""
    spec = describe(preset, True, **options)
    if (
        spec.native_size is None
        or spec.random_resized_crop
        or spec.color_jitter
        or spec.timm_auto_augment
    ):
        raise ValueError(
            f"no device augmentation for transform preset {preset!r}; allowed: {', '.join(DEVICE_PRESETS)}"
        )
    if spec.size != spec.native_size:
        raise ValueError(
            f"size={spec.size!r} is not allowed on the device path (it crops without resizing); "
            f"allowed: {spec.native_size}, or data.loader=torch"
        )
    return dict(
        pad=spec.pad if spec.random_crop else 0,
        flip=spec.flip,
        cutout=spec.cutout,
        autoaugment=spec.autoaugment,
    )
