"""Named transform presets (``TRANSFORMS``) and ``create_transform(preset, train, mean, std)``: the
PIL/torchvision path of the presets described once in :mod:`ltzoo.data.augment_presets` (the
device and JPEG loaders read the same descriptions).

Every preset takes a PIL image (what ltzoo's datasets hand a transform), or a uint8 array /
tensor, and returns a normalized float tensor (C, H, W). ``imagenet`` is timm's
``create_transform``; the small-image presets are torchvision ``v2`` ops, with Cutout
(DeVries & Taylor, arXiv 2017) as :class:`ltzoo.data.augment_presets.Cutout`.

``mean``/``std`` default to the preset's dataset statistics in ``ltzoo.data.stats.MEAN_STD``
(CIFAR-100 for ``cifar``, Fashion-MNIST for ``mnist``); pass a dataset's ``mean``/``std``.
"""

from __future__ import annotations

import inspect
from typing import Callable, Optional, Sequence

import torch
from torchvision.transforms import v2

from ltzoo.data.augment_presets import FLIP_PROBABILITY, PRESETS, Augment, Cutout, Preset
from ltzoo.data.stats import MEAN_STD
from ltzoo.registry import TRANSFORMS, check_options

PRESET_STATS = {name: p.stats for name, p in PRESETS.items()}


def pil_transform(spec: Augment, mean, std) -> Callable:
    """The torchvision/timm transform doing ``spec`` to one PIL image (or uint8 array / tensor)."""
    if spec.random_resized_crop or spec.resize_crop_pct is not None:  # timm's ImageNet transforms
        from timm.data import create_transform as timm_create_transform

        if spec.train:
            return timm_create_transform(
                spec.size,
                is_training=True,
                scale=spec.scale,
                ratio=spec.ratio,
                hflip=FLIP_PROBABILITY if spec.flip else 0.0,
                color_jitter=spec.color_jitter,
                auto_augment=spec.timm_auto_augment,
                interpolation=spec.interpolation,
                mean=tuple(mean),
                std=tuple(std),
            )
        return timm_create_transform(
            spec.size,
            is_training=False,
            crop_pct=spec.resize_crop_pct,
            interpolation=spec.interpolation,
            mean=tuple(mean),
            std=tuple(std),
        )
    steps = [v2.ToImage()]
    if spec.random_crop:
        steps.append(v2.RandomCrop(spec.size, padding=spec.pad))
    if spec.flip:
        steps.append(v2.RandomHorizontalFlip(FLIP_PROBABILITY))
    if spec.autoaugment:
        steps.append(v2.AutoAugment(v2.AutoAugmentPolicy(spec.autoaugment)))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    if spec.cutout:
        steps.append(Cutout(spec.cutout))
    return v2.Compose(steps)


def _pil_builder(preset: Preset) -> Callable:
    """``TRANSFORMS``' builder ``(train, mean, std, **options)`` of a preset described in augment_presets."""

    def build(train: bool, mean, std, **options) -> Callable:
        return pil_transform(preset.describe(bool(train), **options), mean, std)

    fixed = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for n in ("train", "mean", "std")
    ]
    build.__signature__ = inspect.Signature(fixed + list(preset.options.values()))
    build.__name__ = build.__qualname__ = f"{preset.name}_transform"
    build.__doc__ = preset.describe.__doc__
    return build


for _preset in PRESETS.values():
    TRANSFORMS.register(_preset.name, _pil_builder(_preset))


def create_transform(
    preset: str,
    train: bool,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    **options,
) -> Callable:
    """The ``preset``'s train or eval transform; an unknown preset or option lists the valid ones."""
    builder = TRANSFORMS.get(preset)
    check_options("transform preset", preset, builder, options, fixed=("train", "mean", "std"))
    default_mean, default_std = MEAN_STD[PRESET_STATS.get(preset, "imagenet")]
    mean = tuple(mean) if mean is not None else default_mean
    std = tuple(std) if std is not None else default_std
    if len(mean) != len(std) or any(s <= 0 for s in std):
        raise ValueError(
            f"mean={mean} and std={std} must have the same length (one value per channel) "
            "and std > 0"
        )
    return builder(bool(train), mean, std, **options)


def eval_data_config(preset: str, **options) -> dict:
    """timm's data-config keys (``crop_pct``, ``interpolation``, ``crop_mode``) of the preset's eval
    transform, stored in a run's ``pretrained_cfg`` so that ``timm.data.create_transform(
    **timm.data.resolve_model_data_config(model))`` preprocesses as evaluation did. Presets without
    a ``crop_pct`` option (``cifar``, ``digits``, ``mnist``) only normalize: ``crop_pct=1`` makes
    timm's resize + center crop the identity on images of the trained size.
    """
    params = inspect.signature(TRANSFORMS.get(preset)).parameters
    chosen = {
        name: options.get(name, p.default)
        for name, p in params.items()
        if name in ("crop_pct", "interpolation")
    }
    return {
        "crop_pct": float(chosen.get("crop_pct", 1.0)),
        "interpolation": str(chosen.get("interpolation", "bilinear")),
        "crop_mode": "center",
    }


def list_transforms(pattern: str = "*"):
    return TRANSFORMS.names(pattern)
