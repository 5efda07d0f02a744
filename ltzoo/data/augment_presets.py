"""ONE description of each augmentation preset, read by the three paths that apply it: the
PIL/torchvision transforms (:mod:`ltzoo.data.transforms`), the batched in-memory device loader
(:mod:`ltzoo.data.device_loader`) and the batched JPEG loader (:mod:`ltzoo.data.jpeg_loader`).
A new option is one edit here; each path then reads the field it applies.

Presets (``describe(preset, train, **options)``; the options are the keyword arguments below):

* ``cifar``: train = random crop ``size`` with ``padding`` pixels of zero padding + horizontal
  flip (He et al., CVPR'16, Sec. 4.2), optionally AutoAugment's CIFAR-10 policy (Cubuk et al.,
  CVPR'19) and Cutout (DeVries & Taylor, arXiv 2017); eval = normalise only.
* ``imagenet``: train = random-resized crop to ``img_size`` (scale 0.08-1, aspect ratio 3/4-4/3,
  Szegedy et al., CVPR'15) + flip + colour jitter ``color_jitter`` (brightness, contrast,
  saturation), as timm's ``create_transform`` builds it; eval = resize the shorter side to
  ``floor(img_size / crop_pct)`` and centre-crop ``img_size``.
* ``digits`` (8x8) / ``mnist`` (28x28 grey, Fashion-MNIST too): normalise only, or with
  ``pad_crop=k`` a random crop with ``k`` pixels of zero padding in training.

Every path normalises last with the dataset's ``mean``/``std`` (in [0, 1] units; the preset's
default statistics are ``stats``) and applies Cutout after normalisation, filling with 0, as
DeVries & Taylor's code does: a square of side ``cutout`` centred at a uniformly random pixel
(any pixel of the image, so the square is clipped at the border; rows ``cy - cutout // 2`` to
``cy - cutout // 2 + cutout - 1``, the same for columns).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch

from ltzoo.registry import UnknownNameError, check_options, unknown_name_message

FLIP_PROBABILITY = 0.5


@dataclass(frozen=True)
class Augment:
    """What one preset does to a training or evaluation image, in the order listed."""

    preset: str
    train: bool
    size: int  # output side (crop size of pad-crop, random-resized crop, centre crop)
    native_size: Optional[int] = (
        None  # the dataset's image side (in-memory presets); None: any size
    )
    random_crop: bool = False  # a random ``size`` window of the image zero-padded by ``pad`` pixels
    pad: int = 0
    random_resized_crop: bool = False
    scale: Tuple[float, float] = (0.08, 1.0)
    ratio: Tuple[float, float] = (3 / 4, 4 / 3)
    resize_crop_pct: Optional[float] = (
        None  # eval: resize the shorter side to floor(size / pct), centre crop
    )
    interpolation: str = "bilinear"
    flip: bool = False  # a horizontal flip with probability FLIP_PROBABILITY
    color_jitter: float = 0.0  # brightness, contrast, saturation factors drawn in [1 - j, 1 + j]
    autoaugment: Optional[str] = None  # a torchvision ``AutoAugmentPolicy`` value ("cifar10")
    timm_auto_augment: Optional[str] = None  # a timm auto-augment string (PIL path only)
    cutout: int = 0  # side of the Cutout square, applied after normalisation (0: none)


@dataclass(frozen=True)
class Preset:
    name: str
    stats: str  # key of ltzoo.data.stats.MEAN_STD: the default normalisation
    describe: Callable[..., Augment]  # (train, **options) -> Augment

    @property
    def options(self) -> Dict[str, inspect.Parameter]:
        return {
            n: p for n, p in inspect.signature(self.describe).parameters.items() if n != "train"
        }


PRESETS: Dict[str, Preset] = {}


def preset(name: str, stats: str):
    def register(describe: Callable[..., Augment]) -> Callable[..., Augment]:
        PRESETS[name] = Preset(name, stats, describe)
        return describe

    return register


@preset("cifar", stats="cifar100")
def cifar(
    train: bool,
    size: int = 32,
    padding: int = 4,
    autoaugment: bool = False,
    cutout: bool = False,
    cutout_size: int = 16,
) -> Augment:
    if not train:
        return Augment("cifar", False, size=int(size), native_size=32)
    return Augment(
        "cifar",
        True,
        size=int(size),
        native_size=32,
        random_crop=True,
        pad=int(padding),
        flip=True,
        autoaugment="cifar10" if autoaugment else None,
        cutout=int(cutout_size) if cutout else 0,
    )


@preset("imagenet", stats="imagenet")
def imagenet(
    train: bool,
    img_size: int = 224,
    crop_pct: float = 0.875,
    color_jitter: float = 0.4,
    auto_augment: Optional[str] = None,
    interpolation: str = "bilinear",
) -> Augment:
    if not train:
        return Augment(
            "imagenet",
            False,
            size=int(img_size),
            resize_crop_pct=float(crop_pct),
            interpolation=interpolation,
        )
    return Augment(
        "imagenet",
        True,
        size=int(img_size),
        random_resized_crop=True,
        flip=True,
        color_jitter=float(color_jitter or 0.0),
        timm_auto_augment=auto_augment,
        interpolation=interpolation,
    )


def _small_grey(name: str, side: int):
    def describe(train: bool, pad_crop: int = 0) -> Augment:
        crop = bool(train and pad_crop)
        return Augment(
            name,
            bool(train),
            size=side,
            native_size=side,
            random_crop=crop,
            pad=int(pad_crop) if crop else 0,
        )

    describe.__doc__ = (
        f"Normalise ({side}x{side} grey images); ``pad_crop=k``: random crop with padding k."
    )
    return describe


preset("digits", stats="digits")(_small_grey("digits", 8))
preset("mnist", stats="fashion_mnist")(_small_grey("mnist", 28))


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UnknownNameError(unknown_name_message("transform preset", name, sorted(PRESETS)))
    return PRESETS[name]


def describe(name: str, train: bool, **options) -> Augment:
    """Preset ``name``'s augmentation with ``options``; an unknown option lists the valid ones."""
    check_options("transform preset", name, get_preset(name).describe, options, fixed=("train",))
    return PRESETS[name].describe(bool(train), **options)


# -- ops shared by the paths ---------------------------------------------------------------------------
def pad_crop(x: torch.Tensor, pad: int, offsets: torch.Tensor) -> torch.Tensor:
    """Batched random crop: window ``(top, left) = offsets[:, i]`` of image ``i`` zero-padded by
    ``pad``, of the image's own size. ``x``: (B, C, H, W); ``offsets``: (2, B) in ``[0, 2 pad]``."""
    b, c, h, w = x.shape
    x = torch.nn.functional.pad(x, (pad,) * 4)
    rows = (offsets[0, :, None] + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = (offsets[1, :, None] + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    return x.gather(2, rows.expand(b, c, h, x.shape[3])).gather(3, cols.expand(b, c, h, w))


def cutout(x: torch.Tensor, size: int, centres: torch.Tensor) -> torch.Tensor:
    """Cutout (DeVries & Taylor, arXiv 2017): zero a ``size`` square centred at ``centres[:, i] =
    (row, column)`` of image ``i``, clipped at the border. ``x``: (B, C, H, W)."""
    b, _, h, w = x.shape
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    top = centres[0].view(b, 1, 1) - size // 2
    left = centres[1].view(b, 1, 1) - size // 2
    hole = (ys >= top) & (ys < top + size) & (xs >= left) & (xs < left + size)
    return x.masked_fill(hole.unsqueeze(1), 0.0)


class Cutout(torch.nn.Module):
    """:func:`cutout` on one (C, H, W) tensor image, its centre drawn from the global RNG (as
    torchvision's random transforms draw theirs)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = int(size)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        centre = torch.stack([torch.randint(0, h, (1,)), torch.randint(0, w, (1,))])
        return cutout(image[None], self.size, centre)[0]

    def extra_repr(self) -> str:
        return f"size={self.size}"


__all__ = [
    "FLIP_PROBABILITY",
    "Augment",
    "Cutout",
    "PRESETS",
    "Preset",
    "cutout",
    "describe",
    "get_preset",
    "pad_crop",
    "preset",
]
