"""Named transform presets (``TRANSFORMS``) and ``create_transform(preset, train, mean, std)``.

Every preset takes a PIL image (what ltzoo's datasets hand a transform), or a uint8 array /
tensor, and returns a normalized float tensor (C, H, W):

* ``cifar``: train = random crop 32 with 4-pixel zero padding + horizontal flip (He et al.
  CVPR'16, Sec. 4.2), optionally AutoAugment's CIFAR-10 policy (Cubuk et al. CVPR'19) and
  Cutout (DeVries & Taylor 2017: one 16x16 square set to 0 after normalization; here
  torchvision's ``RandomErasing`` with a fixed square, which keeps the square inside the
  image); eval = normalize only.
* ``imagenet``: timm's ``create_transform``: train = random resized crop 224 + flip + colour
  jitter 0.4; eval = resize 256 + center crop 224 (``crop_pct = 0.875``).
* ``digits`` (8x8) / ``mnist`` (28x28, Fashion-MNIST too): normalize only, or with
  ``pad_crop=k`` a random crop with ``k`` pixels of padding in training.

``mean``/``std`` default to the preset's dataset statistics in ``ltzoo.data.stats.MEAN_STD``
(CIFAR-100 for ``cifar``, Fashion-MNIST for ``mnist``); pass a dataset's ``mean``/``std``.
"""

from __future__ import annotations

import inspect
from typing import Callable, Optional, Sequence

import torch
from torchvision.transforms import v2

from ltzoo.data.stats import MEAN_STD
from ltzoo.registry import TRANSFORMS

PRESET_STATS = {"cifar": "cifar100", "imagenet": "imagenet", "digits": "digits", "mnist": "fashion_mnist"}


def _to_float() -> list:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]


@TRANSFORMS.register("cifar")
def cifar_transform(train: bool, mean, std, size: int = 32, padding: int = 4, autoaugment: bool = False,
                    cutout: bool = False, cutout_size: int = 16) -> Callable:
    if not train:
        return v2.Compose(_to_float() + [v2.Normalize(mean, std)])
    steps = [v2.ToImage(), v2.RandomCrop(size, padding=padding), v2.RandomHorizontalFlip()]
    if autoaugment:
        steps.append(v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    if cutout:
        area = (cutout_size / size) ** 2
        steps.append(v2.RandomErasing(p=1.0, scale=(area, area), ratio=(1.0, 1.0), value=0))
    return v2.Compose(steps)


@TRANSFORMS.register("imagenet")
def imagenet_transform(train: bool, mean, std, img_size: int = 224, crop_pct: float = 0.875,
                       color_jitter: float = 0.4, auto_augment: Optional[str] = None,
                       interpolation: str = "bilinear") -> Callable:
    from timm.data import create_transform as timm_create_transform

    if train:
        return timm_create_transform(img_size, is_training=True, color_jitter=color_jitter,
                                     auto_augment=auto_augment, interpolation=interpolation,
                                     mean=tuple(mean), std=tuple(std))
    return timm_create_transform(img_size, is_training=False, crop_pct=crop_pct,
                                 interpolation=interpolation, mean=tuple(mean), std=tuple(std))


def _small_grey(size: int):
    def preset(train: bool, mean, std, pad_crop: int = 0) -> Callable:
        steps = [v2.ToImage()]
        if train and pad_crop:
            steps.append(v2.RandomCrop(size, padding=int(pad_crop)))
        return v2.Compose(steps + [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])

    preset.__doc__ = f"Normalize ({size}x{size} grey images); ``pad_crop=k``: random crop with padding k."
    return preset


TRANSFORMS.register("digits", _small_grey(8))
TRANSFORMS.register("mnist", _small_grey(28))


def create_transform(preset: str, train: bool, mean: Optional[Sequence[float]] = None,
                     std: Optional[Sequence[float]] = None, **options) -> Callable:
    """The ``preset``'s train or eval transform; an unknown preset or option lists the valid ones."""
    builder = TRANSFORMS.get(preset)
    allowed = [p for p in inspect.signature(builder).parameters if p not in ("train", "mean", "std")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"transform preset {preset!r} does not take {unknown}; its options are: "
                         f"{', '.join(allowed) or '(none)'}")
    default_mean, default_std = MEAN_STD[PRESET_STATS.get(preset, "imagenet")]
    mean = tuple(mean) if mean is not None else default_mean
    std = tuple(std) if std is not None else default_std
    if len(mean) != len(std) or any(s <= 0 for s in std):
        raise ValueError(f"mean={mean} and std={std} must have the same length (one value per channel) "
                         "and std > 0")
    return builder(bool(train), mean, std, **options)


def eval_data_config(preset: str, **options) -> dict:
    """timm's data-config keys (``crop_pct``, ``interpolation``, ``crop_mode``) of the preset's eval
    transform, stored in a run's ``pretrained_cfg`` so that ``timm.data.create_transform(
    **timm.data.resolve_model_data_config(model))`` preprocesses as evaluation did. Presets without
    a ``crop_pct`` option (``cifar``, ``digits``, ``mnist``) only normalize: ``crop_pct=1`` makes
    timm's resize + center crop the identity on images of the trained size.
    """
    params = inspect.signature(TRANSFORMS.get(preset)).parameters
    chosen = {name: options.get(name, p.default) for name, p in params.items() if name in ("crop_pct", "interpolation")}
    return {"crop_pct": float(chosen.get("crop_pct", 1.0)), "interpolation": str(chosen.get("interpolation", "bilinear")),
            "crop_mode": "center"}


def list_transforms(pattern: str = "*"):
    return TRANSFORMS.names(pattern)
