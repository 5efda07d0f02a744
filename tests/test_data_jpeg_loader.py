"""The batched JPEG loader: shapes, eval = torchvision's resize + centre crop, train crops,
determinism per (seed, epoch, batch), sharding, and errors naming the bad file (CPU decode)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchcodec.decoders import decode_jpeg
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ltzoo.data.files import UnreadableImageError
from ltzoo.data.jpeg_loader import JpegBatchLoader, random_resized_crop_params, read_bytes
from ltzoo.data.samplers import create_sampler

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZES = [(50, 40), (37, 61), (64, 64), (45, 30), (80, 52)]  # (width, height), varied aspect ratios


def _images(folder, n=10):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        # smooth content (a gradient plus a little noise) so JPEG artefacts stay small
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack(
            [xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (w + h) + 60 * (i % 3)], -1
        )
        img = np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)
        path = folder / f"img{i}.jpg"
        Image.fromarray(img).save(path, quality=90)
        samples.append((str(path), i % 3))
    return samples


def _loader(samples, train, batch_size=4, img_size=16, **kwargs):
    sampler = create_sampler("instance_balanced", [label for _, label in samples], seed=0)
    return JpegBatchLoader(
        samples,
        sampler,
        batch_size,
        "cpu",
        MEAN,
        STD,
        train=train,
        img_size=img_size,
        num_threads=2,
        **kwargs,
    )


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return _images(tmp_path_factory.mktemp("jpegs"))


@pytest.mark.parametrize("train", [True, False])
def test_shapes_dtypes_and_length(samples, train):
    loader = _loader(samples, train)
    batches = list(loader)
    assert len(batches) == len(loader) == 3  # 10 images, batch 4
    for images, labels in batches:
        assert images.dtype == torch.float32 and labels.dtype == torch.int64
        assert images.shape[1:] == (3, 16, 16) and images.shape[0] == labels.shape[0]
    assert sum(len(labels) for _, labels in batches) == 10


def test_eval_equals_torchvision_resize_centre_crop_normalise(samples):
    """Same decoder (libjpeg-turbo via TorchCodec) and the same torchvision functions on the same
    uint8 tensors, so the only possible difference is float rounding of the normalisation: 1e-5.
    Against timm's PIL eval transform the difference is larger (PIL's own resampling rounds
    differently): checked separately with a mean tolerance of 2/255 in [0, 1] units."""
    loader = _loader(samples, train=False, img_size=16)
    images = loader.augment(
        loader.decode([read_bytes(p) for p, _ in samples], [p for p, _ in samples]), None
    )
    for k, (path, _) in enumerate(samples):
        decoded = decode_jpeg(str(path), mode="RGB")
        ref = F.center_crop(
            F.resize(decoded, [18], antialias=True), [16, 16]
        )  # floor(16 / 0.875) = 18
        ref = v2.Normalize(MEAN, STD)(ref.float() / 255)
        assert torch.allclose(images[k], ref, atol=1e-5)
        pil = v2.Compose(
            [
                v2.Resize(18, antialias=True),
                v2.CenterCrop(16),
                v2.ToImage(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(MEAN, STD),
            ]
        )(Image.open(path).convert("RGB"))
        std = torch.tensor(STD).view(3, 1, 1)
        assert ((images[k] - pil) * std).abs().mean() < 2 / 255


def test_train_crops_are_inside_the_image_and_follow_the_ranges():
    g = torch.Generator().manual_seed(0)
    for _ in range(500):
        top, left, h, w = random_resized_crop_params(375, 500, g)
        assert 0 <= top and 0 <= left and top + h <= 375 and left + w <= 500
        assert 0.08 * 375 * 500 * 0.9 <= h * w <= 375 * 500
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
    top, left, h, w = random_resized_crop_params(10, 200, g)  # extreme ratio -> clamped centre crop
    assert 0 <= top and 0 <= left and top + h <= 10 and left + w <= 200


def test_train_is_deterministic_per_seed_epoch_batch(samples):
    def epoch_batches(seed, epoch):
        loader = _loader(samples, train=True, seed=seed)
        loader.set_epoch(epoch)
        return list(loader)

    a, b = epoch_batches(0, 1), epoch_batches(0, 1)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    assert not torch.equal(a[0][0], epoch_batches(0, 2)[0][0])
    assert not torch.equal(a[0][0], epoch_batches(1, 1)[0][0])
    loader = _loader(samples, train=True)
    loader.set_epoch(1)
    resumed = list(loader.iterate(skip=1))  # resuming mid-epoch draws the same augmentations
    assert len(resumed) == 2 and all(torch.equal(x[0], y[0]) for x, y in zip(a[1:], resumed))
    assert torch.isfinite(a[0][0]).all()


def test_two_ranks_cover_the_epoch(samples):
    loaders = [_loader(samples, train=False, batch_size=2, world_size=2, rank=r) for r in (0, 1)]
    for loader in loaders:
        loader.set_epoch(3)
    labels = [torch.cat([y for _, y in loader]) for loader in loaders]
    assert (
        len(loaders[0]) == len(loaders[1]) == 3
    )  # 5 batches of 2 over 2 ranks: the last one wraps
    loaders[0].sampler.set_epoch(3)  # the generator advanced while iterating
    order = list(loaders[0].sampler)
    expected = torch.tensor([samples[i][1] for i in order])
    chunks = expected.split(2)
    assert torch.equal(labels[0], torch.cat([chunks[0], chunks[2], chunks[4]]))
    assert torch.equal(labels[1], torch.cat([chunks[1], chunks[3], chunks[0]]))  # wrapped


def test_corrupt_and_non_jpeg_files(samples, tmp_path):
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(open(samples[0][0], "rb").read()[:20])
    loader = _loader(samples[:3] + [(str(bad), 0)], train=True)
    with pytest.raises(UnreadableImageError, match="truncated.jpg"):
        list(loader)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(UnreadableImageError, match="notes.jpg"):
        list(_loader([(str(text), 0)], train=False))
    with pytest.raises(UnreadableImageError, match="missing.jpg"):
        list(_loader([(str(tmp_path / "missing.jpg"), 0)], train=False))
    png = tmp_path / "really_a_png.JPEG"  # as a few ImageNet files are
    Image.open(samples[0][0]).save(png, format="PNG")
    images, _ = next(iter(_loader([(str(png), 0)], train=False)))
    assert images.shape == (1, 3, 16, 16)
