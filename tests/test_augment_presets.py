"""The three augmentation paths (PIL transforms, device loader, JPEG loader) against each other.

Each path reads the one description in ltzoo/data/augment_presets.py. The same images go through
each path with the same seed; deterministic parts (evaluation transforms, normalisation, a crop
at given offsets, Cutout at given centres) must agree exactly, random parts in distribution:
every measured rate is compared with its exact value within 4.5 standard errors of its sample
size, so a wrong probability or range fails while chance alone fails about once in 10^5 runs.
"""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from ltzoo.data.augment_presets import FLIP_PROBABILITY, PRESETS, cutout, describe, pad_crop
from ltzoo.data.device_loader import DeviceBatchLoader, device_augment
from ltzoo.data.jpeg_loader import JpegBatchLoader, random_resized_crop_params, read_bytes
from ltzoo.data.stats import MEAN_STD
from ltzoo.data.transforms import create_transform

Z = 4.5  # standard errors allowed
MEAN, STD = MEAN_STD["cifar100"]
IMAGENET_MEAN, IMAGENET_STD = MEAN_STD["imagenet"]


def _noise(n, side=32, channels=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, channels), dtype=np.uint8)


def _pil_batch(transform, images, seed=0):
    torch.manual_seed(seed)
    return torch.stack(
        [transform(Image.fromarray(im.squeeze(-1) if im.shape[-1] == 1 else im)) for im in images]
    )


def _device_batch(images, seed=0, mean=MEAN, std=STD, **augment):
    loader = DeviceBatchLoader(
        images, np.zeros(len(images)), None, len(images), "cpu", mean, std, **augment
    )
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return loader.augment(batch, torch.Generator().manual_seed(seed), seed)


def _within(rate, expected, sd, n):
    return abs(rate - expected) <= Z * sd / math.sqrt(n)


# -- one description ---------------------------------------------------------------------------------
def test_the_paths_apply_what_the_description_says():
    spec = describe("cifar", True, padding=2, cutout=True, cutout_size=8, autoaugment=True)
    assert (
        device_augment("cifar", dict(padding=2, cutout=True, cutout_size=8, autoaugment=True))
        == dict(pad=spec.pad, flip=spec.flip, cutout=spec.cutout, autoaugment=spec.autoaugment)
        == dict(pad=2, flip=True, cutout=8, autoaugment="cifar10")
    )
    steps = create_transform(
        "cifar", True, padding=2, cutout=True, cutout_size=8, autoaugment=True
    ).transforms
    names = [type(t).__name__ for t in steps]
    assert names == [
        "ToImage",
        "RandomCrop",
        "RandomHorizontalFlip",
        "AutoAugment",
        "ToDtype",
        "Normalize",
        "Cutout",
    ]
    assert (
        steps[1].padding == [2, 2, 2, 2] and steps[2].p == FLIP_PROBABILITY and steps[-1].size == 8
    )
    loader = JpegBatchLoader(
        [], None, 1, "cpu", IMAGENET_MEAN, IMAGENET_STD, train=True, img_size=96, color_jitter=0.2
    )
    assert loader.spec == describe("imagenet", True, img_size=96, color_jitter=0.2)
    assert sorted(PRESETS) == ["cifar", "digits", "imagenet", "mnist"]
    with pytest.raises(ValueError, match=r"does not take \['mixup'\]"):
        describe("cifar", True, mixup=True)


# -- exact: deterministic parts ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "preset, side, channels", [("cifar", 32, 3), ("digits", 8, 1), ("mnist", 28, 1)]
)
def test_eval_and_normalisation_agree_exactly(preset, side, channels):
    images = _noise(16, side, channels)
    mean, std = MEAN[:channels], STD[:channels]
    pil = _pil_batch(create_transform(preset, False, mean, std), images)
    device = _device_batch(images, mean=mean, std=std)  # no augmentation: normalise only
    assert pil.shape == device.shape == (16, channels, side, side)
    assert torch.allclose(pil, device, atol=1e-5)


def test_pad_crop_at_given_offsets_is_torchvisions_pad_then_crop():
    images = torch.from_numpy(_noise(20)).permute(0, 3, 1, 2).float()
    offsets = torch.tensor([[0, 8, 3, 4, 8] * 4, [0, 0, 5, 8, 8] * 4])
    out = pad_crop(images, 4, offsets)
    for i in range(len(images)):
        top, left = int(offsets[0, i]), int(offsets[1, i])
        assert torch.equal(out[i], TF.crop(TF.pad(images[i], [4]), top, left, 32, 32))


@pytest.mark.parametrize("size", [16, 8])
def test_cutout_at_given_centres_is_devries_and_taylors_mask(size):
    """Their code: ``y1, y2 = clip(y - L // 2, 0, h), clip(y + L // 2, 0, h)`` (same for x), mask 0 there."""
    centres = torch.tensor([[0, 31, 15, 7, 24, 3], [0, 31, 16, 30, 2, 12]])
    out = cutout(torch.ones(6, 3, 32, 32), size, centres)
    for i, (y, x) in enumerate(centres.t().tolist()):
        mask = np.ones((32, 32), np.float32)
        y1, y2 = np.clip(y - size // 2, 0, 32), np.clip(y + size // 2, 0, 32)
        x1, x2 = np.clip(x - size // 2, 0, 32), np.clip(x + size // 2, 0, 32)
        mask[y1:y2, x1:x2] = 0.0
        assert torch.equal(out[i], torch.from_numpy(mask).expand(3, 32, 32))


def test_imagenet_eval_of_jpeg_files_agrees_within_one_grey_level(tmp_path):
    """PIL decode + timm's resize/centre crop against TorchCodec's libjpeg-turbo decode + torchvision's
    resize/centre crop on tensors."""
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(300, 260), (256, 400), (333, 333), (240, 500)]):
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack(
            [xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w) + 60], -1
        ) + rng.normal(0, 8, (h, w, 3))
        paths.append(str(tmp_path / f"{i}.jpg"))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(paths[-1], quality=95)
    for size in (224, 64):
        transform = create_transform("imagenet", False, IMAGENET_MEAN, IMAGENET_STD, img_size=size)
        pil = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
        loader = JpegBatchLoader(
            [(p, 0) for p in paths],
            None,
            4,
            "cpu",
            IMAGENET_MEAN,
            IMAGENET_STD,
            train=False,
            img_size=size,
        )
        jpeg = loader.augment(loader.decode([read_bytes(p) for p in paths], paths), None)
        grey_levels = ((jpeg - pil) * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255).abs()
        assert jpeg.shape == pil.shape == (4, 3, size, size)
        assert float(grey_levels.max()) <= 1.0 + 1e-3 and float(grey_levels.mean()) < 0.01


# -- distributions: random parts -----------------------------------------------------------------------
N = 2000


def test_flip_rate_is_one_half_on_every_path():
    images = _noise(N, side=8)  # asymmetric noise: an output is the image or its mirror
    plain = _pil_batch(create_transform("cifar", False, MEAN, STD), images)
    # cifar with size 8 and no padding: a flip and nothing else moves the pixels
    pil = _pil_batch(create_transform("cifar", True, MEAN, STD, size=8, padding=0), images, seed=1)
    device = _device_batch(images, seed=1, flip=True)
    for out in (pil, device):
        same = torch.isclose(out, plain, atol=1e-5).flatten(1).all(1)
        mirrored = torch.isclose(out, plain.flip(3), atol=1e-5).flatten(1).all(1)
        assert bool((same ^ mirrored).all())
        assert _within(float(mirrored.double().mean()), FLIP_PROBABILITY, 0.5, N)


def test_crop_offsets_are_uniform_on_every_path():
    """A white image padded by 4: the black rows on top / bottom give the crop's row offset dy in 0..8."""
    white = np.full((N, 32, 32, 3), 255, np.uint8)
    pil = _pil_batch(create_transform("cifar", True, MEAN, STD), white, seed=2)
    device = _device_batch(white, seed=2, pad=4, flip=True)
    for out in (pil, device):
        padded_rows = (out < 0).all(dim=1).all(dim=2)  # (N, 32): the padding normalises below 0
        top = padded_rows[:, :4].sum(1)
        bottom = padded_rows[:, -4:].sum(1)
        dy = torch.where(top > 0, 4 - top, 4 + bottom)
        counts = torch.bincount(dy, minlength=9).double()
        assert len(counts) == 9
        p = 1 / 9
        assert float((counts - N * p).abs().max()) <= Z * math.sqrt(N * p * (1 - p))


def _cutout_area_distribution(side=32, size=16):
    """Exact mean and standard deviation of the area Cutout zeroes, over uniform centres."""
    lengths = np.array(
        [min(c - size // 2 + size, side) - max(c - size // 2, 0) for c in range(side)], float
    )
    areas = (lengths[:, None] * lengths[None, :]).ravel()
    return areas.mean(), areas.std()


def test_cutout_area_follows_uniform_centres_on_every_path():
    white = np.full((N, 32, 32, 3), 255, np.uint8)
    pil = _pil_batch(
        create_transform("cifar", True, MEAN, STD, padding=0, cutout=True), white, seed=3
    )
    device = _device_batch(white, seed=3, flip=True, cutout=16)
    mean, sd = _cutout_area_distribution()
    assert mean == 14**2  # a side is 14 pixels on average: 16 less what the border clips
    for out in (pil, device):
        area = (out == 0).all(dim=1).flatten(1).sum(1).double()
        assert float(area.max()) == 256 and _within(float(area.mean()), mean, sd, N)


def test_autoaugment_changes_the_same_share_of_images_on_both_paths():
    n = 400
    images = _noise(n, side=16)
    plain = _pil_batch(create_transform("cifar", False, MEAN, STD), images)
    pil = _pil_batch(
        create_transform("cifar", True, MEAN, STD, size=16, padding=0, autoaugment=True),
        images,
        seed=4,
    )
    device = _device_batch(images, seed=4, flip=True, autoaugment="cifar10")
    unchanged = []
    for out in (pil, device):
        kept = torch.isclose(out, plain, atol=1e-5).flatten(1).all(1) | torch.isclose(
            out, plain.flip(3), atol=1e-5
        ).flatten(1).all(1)
        unchanged.append(float(kept.double().mean()))
    p = sum(unchanged) / 2  # two samples of one rate: their difference has sd sqrt(2 p (1 - p) / n)
    assert 0 < p < 1 and abs(unchanged[0] - unchanged[1]) <= Z * math.sqrt(2 * p * (1 - p) / n)


def test_random_resized_crop_boxes_follow_one_distribution():
    """timm's crop sampler (PIL path) against the JPEG path's, on a 400 x 300 image."""
    import random

    from timm.data.transforms import RandomResizedCropAndInterpolation

    spec = describe("imagenet", True)
    random.seed(5)
    img = Image.new("RGB", (400, 300))
    timm_boxes = [
        RandomResizedCropAndInterpolation.get_params(img, spec.scale, spec.ratio) for _ in range(N)
    ]
    generator = torch.Generator().manual_seed(5)
    jpeg_boxes = [
        random_resized_crop_params(300, 400, generator, spec.scale, spec.ratio) for _ in range(N)
    ]
    stats = []
    for boxes in (timm_boxes, jpeg_boxes):
        b = torch.tensor(boxes, dtype=torch.float64)  # top, left, h, w
        assert bool(((b[:, 0] + b[:, 2] <= 300) & (b[:, 1] + b[:, 3] <= 400) & (b[:, 2] > 0)).all())
        stats.append((b[:, 2] * b[:, 3] / (300 * 400), torch.log(b[:, 3] / b[:, 2])))
    for a, b in zip(*stats):  # area fraction, log aspect ratio: two-sample means
        assert abs(float(a.mean() - b.mean())) <= Z * math.sqrt(float(a.var() + b.var()) / N)


def test_imagenet_flip_and_colour_jitter_rates_agree(tmp_path):
    """Flips on a left-to-right gradient (no jitter); brightness factors on flat grey (contrast and
    saturation leave flat grey as it is): uniform in [0.6, 1.4], mean 1 and sd 0.8 / sqrt(12)."""
    n, size = 1000, 32
    gradient = np.repeat(
        np.repeat(np.linspace(0, 255, 96).astype(np.uint8)[None, :, None], 80, 0), 3, 2
    )
    grey = np.full((80, 96, 3), 128, np.uint8)
    mean, std = (
        torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
        torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
    )

    def both(image, jitter, seed):
        pil = _pil_batch(
            create_transform(
                "imagenet", True, IMAGENET_MEAN, IMAGENET_STD, img_size=size, color_jitter=jitter
            ),
            [image] * n,
            seed,
        )
        loader = JpegBatchLoader(
            [],
            None,
            n,
            "cpu",
            IMAGENET_MEAN,
            IMAGENET_STD,
            train=True,
            img_size=size,
            color_jitter=jitter,
        )
        jpeg = loader.augment(
            [torch.from_numpy(image).permute(2, 0, 1)] * n, torch.Generator().manual_seed(seed)
        )
        return [x * std + mean for x in (pil, jpeg)]  # back to [0, 1]

    for out in both(gradient, 0.0, 6):
        left, right = out[..., : size // 2].mean((1, 2, 3)), out[..., size // 2 :].mean((1, 2, 3))
        assert bool(((left - right).abs() > 0.05).all())  # every crop keeps a visible gradient
        assert _within(float((left > right).double().mean()), FLIP_PROBABILITY, 0.5, n)
    for out in both(grey, 0.4, 7):
        factor = out.mean((1, 2, 3)).double() / (128 / 255)
        sd = 0.8 / math.sqrt(12)
        assert _within(float(factor.mean()), 1.0, sd, n)
        assert float(factor.min()) >= 0.6 - 0.01 and float(factor.max()) <= 1.4 + 0.01
        # the sample sd of a uniform variable has standard error sd * sqrt(0.8 / (4 n)); PIL rounds to 1/128
        assert abs(float(factor.std()) - sd) <= Z * sd * math.sqrt(0.8 / (4 * n)) + 1 / 128
