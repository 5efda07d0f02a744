"""Batched JPEG decoding and augmentation on the device, for the file datasets (ImageNet-LT, iNat).

Why: the ordinary path (``FileLTDataset`` + timm transform + a worker-process ``DataLoader``)
opens, decodes and augments every image with PIL on the CPU. At ImageNet resolution the JPEG
decode alone costs a few milliseconds per image per core, so with a fast GPU the training step
waits on the CPU unless there are many cores. Here the worker threads only *read* the
compressed bytes (cheap I/O); the whole batch is decoded at once by TorchCodec's
``torchcodec.decoders.decode_jpeg(list, device=...)``, which on CUDA is nvjpeg's batched decoder,
and cropped, resized, flipped, colour-jittered and normalised on the device. The CPU is left
free. On a CPU device the same code runs, decoding with libjpeg-turbo (that is what the tests
exercise).

The augmentation is the standard ImageNet recipe as timm's ``create_transform`` (ltzoo's
``imagenet`` preset, described once in :mod:`ltzoo.data.augment_presets`) builds it: training =
random-resized crop (scale 0.08-1, aspect ratio 3/4-4/3, the "Inception" crop of Szegedy et al.,
"Going Deeper with Convolutions", CVPR'15) to ``img_size``, horizontal flip with p = 0.5 and
colour jitter 0.4 (brightness, contrast, saturation; applied here in that fixed order rather than
timm's random order); evaluation =
resize the shorter side to ``floor(img_size / 0.875)`` (256 for 224) and centre-crop
``img_size``. Bilinear interpolation with antialiasing, as timm's default.

Randomness: the crop boxes, flips and jitter factors of a batch come from a CPU generator
seeded from (seed, epoch, batch index), so a resumed run draws the same augmentations and the
crops are the same on any device. Under N processes, process r takes batches r, r + N, ... of
the sampler's epoch order, the last ones wrapped around so every process runs the same number
of steps, exactly as :class:`ltzoo.data.device_loader.DeviceBatchLoader`.

Files that are not JPEG (by their first bytes; ImageNet has a few PNG and CMYK files named
``.JPEG``) are decoded on the CPU with ``torchcodec.decoders.decode_image`` and moved to the device;
a file nvjpeg refuses is retried on the CPU; a file nothing can decode raises
:class:`ltzoo.data.files.UnreadableImageError` naming its path.
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

import torch
from torchcodec.decoders import decode_image, decode_jpeg
from torchvision.transforms.v2 import functional as F

from ltzoo.data.augment_presets import FLIP_PROBABILITY, PRESETS, Augment, describe
from ltzoo.data.epoch_batches import EpochBatches
from ltzoo.data.files import UnreadableImageError

JPEG_MAGIC = b"\xff\xd8"


def read_bytes(path: str) -> torch.Tensor:
    """The file's raw bytes as a uint8 tensor; a missing/unreadable file names its path."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise UnreadableImageError(f"cannot read image {path}: {err}") from err
    if not data:
        raise UnreadableImageError(f"cannot read image {path}: the file is empty")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def random_resized_crop_params(
    height: int, width: int, generator: torch.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
) -> Tuple[int, int, int, int]:
    """``(top, left, h, w)``: torchvision's ``RandomResizedCrop.get_params`` with an explicit generator."""
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        aspect = math.exp(
            torch.empty(1)
            .uniform_(log_ratio[0].item(), log_ratio[1].item(), generator=generator)
            .item()
        )
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator).item())
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator).item())
            return top, left, h, w
    in_ratio = width / height  # fallback: the central crop with the ratio clamped
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


JPEG_PRESETS = tuple(name for name, p in PRESETS.items() if p.describe(True).random_resized_crop)


def jpeg_augment(preset: str, train: bool, options, **fields) -> Augment:
    """Preset ``preset``'s augmentation with ``options`` as the JPEG loader does it (described in
    :mod:`ltzoo.data.augment_presets`, ``fields`` replacing described ones, e.g. ``scale``);
    ValueError for what it cannot do."""
    spec = describe(preset, train, **options)
    if preset not in JPEG_PRESETS:
        raise ValueError(
            f"no JPEG augmentation for transform preset {preset!r}; allowed: {', '.join(JPEG_PRESETS)}"
        )
    if spec.interpolation != "bilinear" or spec.timm_auto_augment:
        raise ValueError(
            "the JPEG loader resizes bilinearly without auto-augment; interpolation="
            f"{spec.interpolation!r}, auto_augment={spec.timm_auto_augment!r} need data.loader=torch"
        )
    return dataclasses.replace(spec, **fields)


class JpegBatchLoader(EpochBatches):
    """Iterate ``(images, labels)`` batches of a file dataset, decoded and augmented on ``device``.

    ``dataset``: anything with ``samples`` = ``[(path, label), ...]`` (``FileLTDataset``), or that
    list itself. ``images`` are float (B, 3, img_size, img_size), normalised with ``mean``/``std``
    (in [0, 1] units, as the datasets' ``mean``/``std``); ``labels`` are int64 (B,).
    """

    def __init__(
        self,
        dataset,
        sampler,
        batch_size: int,
        device,
        mean: Sequence[float],
        std: Sequence[float],
        train: bool,
        img_size: int = 224,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        num_threads: Optional[int] = None,
        crop_pct: float = 0.875,
        color_jitter: float = 0.4,
        scale=(0.08, 1.0),
        ratio=(3 / 4, 4 / 3),
        channels_last: bool = False,
        preset: str = "imagenet",
    ):
        samples = getattr(dataset, "samples", dataset)
        self.paths: List[str] = [str(p) for p, _ in samples]
        self.device = torch.device(device)
        self.labels = torch.as_tensor([int(label) for _, label in samples], dtype=torch.long)
        self.sampler, self.batch_size, self.train = sampler, int(batch_size), bool(train)
        self.spec = jpeg_augment(
            preset,
            train,
            dict(img_size=img_size, crop_pct=crop_pct, color_jitter=color_jitter),
            scale=tuple(scale),
            ratio=tuple(ratio),
        )
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.channels_last = channels_last
        self.num_threads = int(num_threads or min(8, os.cpu_count() or 1))
        self._pool: Optional[ThreadPoolExecutor] = None
        self.epoch = 0

    def generator(self, batch_number: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.batch_seed(batch_number))

    def iterate(self, skip: int = 0):
        """Batches of this epoch, starting after the first ``skip`` (for resuming mid-epoch).

        The bytes of batch k + 1 are read by the thread pool while batch k is decoded.
        """
        batches = self._batches()[skip:]
        if not batches:
            return
        pending = self._read_async(batches[0][1])
        for i, (batch_number, idx) in enumerate(batches):
            paths, data = pending[0], [f.result() for f in pending[1]]
            if i + 1 < len(batches):
                pending = self._read_async(batches[i + 1][1])
            images = self.decode(data, paths)
            yield (
                self.augment(images, self.generator(batch_number)),
                self.labels[idx].to(self.device),
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _read_async(self, idx: torch.Tensor):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.num_threads, thread_name_prefix="ltzoo-jpeg")
        paths = [self.paths[i] for i in idx.tolist()]
        return paths, [self._pool.submit(read_bytes, p) for p in paths]

    # -- decoding ---------------------------------------------------------------------------------
    def decode(self, data: List[torch.Tensor], paths: List[str]) -> List[torch.Tensor]:
        """Raw file bytes -> uint8 (3, H_i, W_i) images on the device (batched JPEG decode)."""
        images: List[Optional[torch.Tensor]] = [None] * len(data)
        jpeg = [i for i, d in enumerate(data) if bytes(d[:2].tolist()) == JPEG_MAGIC]
        if jpeg:
            try:
                decoded = decode_jpeg([data[i] for i in jpeg], device=self.device, mode="RGB")
                for i, img in zip(jpeg, decoded):
                    images[i] = img
            except RuntimeError:
                pass  # one bad file fails the whole batch: decode one by one to find it
        for i in range(len(data)):
            if images[i] is None:
                images[i] = self._decode_one(data[i], paths[i], is_jpeg=i in jpeg)
        return images  # type: ignore[return-value]

    def _decode_one(self, data: torch.Tensor, path: str, is_jpeg: bool) -> torch.Tensor:
        errors = []
        if is_jpeg and self.device.type != "cpu":
            try:
                return decode_jpeg(data, device=self.device, mode="RGB")
            except RuntimeError as err:  # e.g. a CMYK file nvjpeg does not take: retry on the CPU
                errors.append(err)
        try:
            image = decode_jpeg(data, mode="RGB") if is_jpeg else decode_image(data, mode="RGB")
            return image.to(self.device, non_blocking=True)
        except (RuntimeError, ValueError) as err:
            errors.append(err)
        kind = "JPEG" if is_jpeg else "image (not a JPEG, and decode_image failed)"
        raise UnreadableImageError(f"cannot decode {kind} {path}: {errors[-1]}") from errors[-1]

    # -- augmentation -----------------------------------------------------------------------------
    def augment(
        self, images: List[torch.Tensor], generator: Optional[torch.Generator]
    ) -> torch.Tensor:
        """uint8 images of any sizes -> normalised float (B, 3, img_size, img_size)."""
        spec, size = self.spec, self.spec.size
        if not self.train:
            resize = math.floor(size / spec.resize_crop_pct)
            out = [
                F.center_crop(F.resize(img, [resize], antialias=True), [size, size])
                for img in images
            ]
            x = torch.stack(out).float().div_(255)
        else:
            generator = generator if generator is not None else torch.Generator().manual_seed(0)
            out = []
            for img in images:
                top, left, h, w = random_resized_crop_params(
                    img.shape[-2], img.shape[-1], generator, spec.scale, spec.ratio
                )
                out.append(
                    F.resize(img[:, top : top + h, left : left + w], [size, size], antialias=True)
                )
            x = torch.stack(out).float().div_(255)
            b = x.shape[0]
            if spec.flip:
                flipped = (torch.rand(b, generator=generator) < FLIP_PROBABILITY).to(self.device)
                x = torch.where(flipped.view(b, 1, 1, 1), x.flip(3), x)
            if spec.color_jitter:
                x = self.jitter(x, generator)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def jitter(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Brightness, contrast, saturation factors in [1 - j, 1 + j] per image (torchvision's formulas)."""
        b, j = x.shape[0], self.spec.color_jitter
        factors = (
            torch.empty(3, b).uniform_(max(0.0, 1 - j), 1 + j, generator=generator).to(self.device)
        )
        brightness, contrast, saturation = (f.view(b, 1, 1, 1) for f in factors)
        x = (x * brightness).clamp_(0, 1)
        grey = F.rgb_to_grayscale(x)
        x = (contrast * x + (1 - contrast) * grey.mean(dim=(1, 2, 3), keepdim=True)).clamp_(0, 1)
        grey = F.rgb_to_grayscale(x)
        return (saturation * x + (1 - saturation) * grey).clamp_(0, 1)
