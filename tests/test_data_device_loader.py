"""The device-resident batch loader: crops, flips, AutoAugment, Cutout, normalisation, sharding,
determinism, and the presets' options it follows."""

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from ltzoo.data.device_loader import DeviceBatchLoader
from ltzoo.data.samplers import create_sampler


def _loader(n=64, size=6, channels=3, **kwargs):
    rng = np.random.default_rng(0)
    data = rng.integers(
        1, 256, size=(n, size, size, channels), dtype=np.uint8
    )  # no zeros: padding is visible
    targets = np.arange(n) % 4
    sampler = create_sampler("instance_balanced", targets, seed=0)
    options = dict(mean=[0.0] * channels, std=[1 / 255] * channels)  # identity normalisation
    options.update(kwargs)
    return DeviceBatchLoader(data, targets, sampler, 16, "cpu", **options), data


def test_random_crop_is_a_window_of_the_padded_image_and_covers_every_offset():
    loader, data = _loader(pad=2)
    image = torch.from_numpy(data[:1]).permute(0, 3, 1, 2)
    padded = torch.nn.functional.pad(image.float(), (2, 2, 2, 2))
    seen = set()
    for seed in range(400):
        out = loader.augment(image, torch.Generator().manual_seed(seed))
        matches = [
            (r, c)
            for r in range(5)
            for c in range(5)
            if torch.equal(out, padded[..., r : r + 6, c : c + 6])
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 25  # all (2p+1)^2 offsets occur


def test_flip_rate_is_one_half():
    loader, data = _loader(flip=True)
    batch = torch.from_numpy(data).permute(0, 3, 1, 2)
    out = loader.augment(batch, torch.Generator().manual_seed(0))
    flipped = sum(torch.equal(out[i], batch[i].float().flip(2)) for i in range(64))
    same = sum(torch.equal(out[i], batch[i].float()) for i in range(64))
    assert flipped + same == 64
    assert 20 <= flipped <= 44  # Binomial(64, 0.5): mean 32, sd 4; +-3 sd


def test_normalisation_matches_torchvision():
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    loader, data = _loader(mean=mean, std=std)
    batch = torch.from_numpy(data[:4]).permute(0, 3, 1, 2)
    expected = v2.Normalize(mean, std)(batch.float() / 255)
    assert torch.allclose(loader.augment(batch, None), expected, atol=1e-5)


def test_cutout_zeroes_a_square():
    loader, data = _loader(size=12, cutout=4, mean=[0.0] * 3, std=[1 / 255] * 3)
    batch = torch.from_numpy(data).permute(0, 3, 1, 2)
    out = loader.augment(batch, torch.Generator().manual_seed(1))
    zeros = (out == 0).all(1).sum(dim=(1, 2))
    assert zeros.max() == 16 and zeros.min() >= 4  # a 4x4 hole, clipped at the border


def test_epoch_order_determinism_and_two_process_sharding():
    loader, _ = _loader(pad=1, flip=True)
    loader.set_epoch(3)
    first = [(x.clone(), y.clone()) for x, y in loader]
    again = list(loader)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    resumed = list(loader.iterate(skip=2))
    assert torch.equal(
        resumed[0][0], first[2][0]
    )  # resuming mid-epoch sees the same augmented batch
    ranks = []
    for rank in range(2):
        shard, _ = _loader(pad=1, flip=True, rank=rank, world_size=2)
        shard.set_epoch(3)
        assert len(shard) == 2
        ranks.append(torch.cat([y for _, y in shard.iterate()]))
    # both shards together are the epoch's batches, each exactly once
    assert torch.equal(
        torch.sort(torch.cat(ranks)).values, torch.sort(torch.cat([y for _, y in first])).values
    )


def test_rejects_float_data():
    with pytest.raises(ValueError, match="needs uint8 images"):
        DeviceBatchLoader(np.zeros((2, 4, 4, 1), np.float32), [0, 1], None, 1, "cpu", [0.0], [1.0])


def test_autoaugment_is_torchvisions_policy_per_image_seeded_per_batch():
    plain, data = _loader(size=12, pad=2, flip=True)
    auto, _ = _loader(size=12, pad=2, flip=True, autoaugment="cifar10")
    batch = torch.from_numpy(data[:16]).permute(0, 3, 1, 2)
    cropped = plain.augment(batch, torch.Generator().manual_seed(5)).to(
        torch.uint8
    )  # same crops and flips
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    out = auto.augment(batch, torch.Generator().manual_seed(5), seed=77)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global generator is left alone
    policy = v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)
    torch.random.default_generator.manual_seed(77)
    expected = torch.stack([policy(image) for image in cropped]).float()
    assert torch.equal(out, expected)
    changed = sum(not torch.equal(out[i], cropped[i].float()) for i in range(16))
    assert changed >= 8  # each sub-policy applies at least one op to most images


def test_autoaugment_batches_repeat_for_a_resumed_epoch():
    auto, _ = _loader(size=8, pad=1, flip=True, autoaugment="cifar10")
    auto.set_epoch(3)
    full = [x for x, _ in auto.iterate()]
    resumed = [x for x, _ in auto.iterate(skip=2)]
    assert len(full) == 4 and all(torch.equal(a, b) for a, b in zip(full[2:], resumed))
    assert not torch.equal(full[0], full[1])
    with pytest.raises(
        ValueError, match="autoaugment='cifar100' is not allowed; allowed: imagenet, cifar10, svhn"
    ):
        _loader(autoaugment="cifar100")


def test_device_augment_follows_the_presets_options():
    from ltzoo.data.device_loader import device_augment

    assert device_augment("cifar", {}) == dict(pad=4, flip=True, cutout=0, autoaugment=None)
    assert device_augment("cifar", {"autoaugment": True, "cutout": True}) == dict(
        pad=4, flip=True, cutout=16, autoaugment="cifar10"
    )
    assert device_augment("cifar", {"cutout": True, "cutout_size": 8, "padding": 2}) == dict(
        pad=2, flip=True, cutout=8, autoaugment=None
    )
    assert device_augment("digits", {"pad_crop": 1}) == dict(
        pad=1, flip=False, cutout=0, autoaugment=None
    )
    with pytest.raises(ValueError, match="size=24 is not allowed on the device path"):
        device_augment("cifar", {"size": 24})
    with pytest.raises(
        ValueError,
        match="no device augmentation for transform preset 'imagenet'; allowed: cifar, digits, mnist",
    ):
        device_augment("imagenet", {})
