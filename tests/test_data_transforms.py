"""Transform presets (ltzoo/data/transforms.py)."""

import numpy as np
import pytest
import torch
from PIL import Image

from ltzoo.data import MEAN_STD, create_dataset, create_transform, list_transforms
from ltzoo.registry import UnknownNameError


def _rgb(h=32, w=32, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(1, 255, (h, w, 3), dtype=np.uint8))


def _normalized(img, mean, std):
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255)
    x = x.permute(2, 0, 1) if x.ndim == 3 else x[None]
    return (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def test_presets_registered_and_errors():
    assert list_transforms() == ["cifar", "digits", "imagenet", "mnist"]
    with pytest.raises(UnknownNameError, match="did you mean 'cifar'"):
        create_transform("cifr", train=True)
    with pytest.raises(
        ValueError, match=r"preset 'cifar' does not take \['mixup'\].*autoaugment, cutout"
    ):
        create_transform("cifar", train=True, mixup=True)
    with pytest.raises(ValueError, match=r"mean=\(0.5,\) and std=\(0.1, 0.1\)"):
        create_transform("digits", train=False, mean=(0.5,), std=(0.1, 0.1))


def test_cifar_eval_is_exact_normalization_and_train_augments():
    img = _rgb()
    mean, std = MEAN_STD["cifar10"]
    x = create_transform("cifar", train=False, mean=mean, std=std)(img)
    assert x.dtype == torch.float32 and x.shape == (3, 32, 32)
    assert torch.allclose(x, _normalized(img, mean, std), atol=1e-6)
    default = create_transform("cifar", train=False)(img)  # CIFAR-100 statistics by default
    assert torch.allclose(default, _normalized(img, *MEAN_STD["cifar100"]), atol=1e-6)
    train = create_transform("cifar", train=True, mean=mean, std=std)
    torch.manual_seed(0)
    outs = [train(img) for _ in range(8)]
    assert all(o.shape == (3, 32, 32) for o in outs)
    assert sum(not torch.allclose(o, x) for o in outs) >= 6  # pad-crop / flip change the image
    # a crop of the zero-padded image: some rows or columns show the padding (= -mean/std)
    pad_value = torch.tensor([-m / s for m, s in zip(mean, std)])[:, None]
    assert any(
        torch.allclose(o[:, 0, :], pad_value.expand(3, 32))
        or torch.allclose(o[:, :, 0], pad_value.expand(3, 32))
        for o in outs
    )


def test_cifar_cutout_and_autoaugment():
    flat = Image.new("RGB", (32, 32), (200, 30, 90))
    cut = create_transform("cifar", train=True, cutout=True, padding=0)
    torch.manual_seed(0)
    areas = []
    for _ in range(60):  # one 16x16 square set to 0, centred at any pixel, clipped at the border
        hole = (cut(flat) == 0).all(dim=0)
        rows, cols = hole.any(dim=1).nonzero().flatten(), hole.any(dim=0).nonzero().flatten()
        assert int(hole.sum()) == len(rows) * len(cols)  # a rectangle
        assert (
            rows.tolist() == list(range(int(rows[0]), int(rows[-1]) + 1))
            and 8 <= len(rows) <= 16
            and 8 <= len(cols) <= 16
        )
        areas.append(int(hole.sum()))
    assert max(areas) == 16 * 16 and min(areas) < 16 * 16
    aa = create_transform("cifar", train=True, autoaugment=True, cutout=True)
    assert aa(_rgb()).shape == (3, 32, 32)


def test_imagenet_preset_sizes():
    img = _rgb(300, 260)
    train = create_transform("imagenet", train=True)
    assert train(img).shape == (3, 224, 224)
    evaluate = create_transform("imagenet", train=False)
    assert evaluate.transforms[0].size == 256 and tuple(evaluate.transforms[1].size) == (224, 224)
    assert evaluate(img).shape == (3, 224, 224)
    assert torch.allclose(evaluate(img), evaluate(img))  # eval is deterministic


def test_digits_and_mnist_presets_on_datasets():
    ds = create_dataset("digits_lt", imbalance=20)
    ds.transform = create_transform("digits", train=False, mean=ds.mean, std=ds.std)
    x, _ = ds[3]
    assert x.shape == (1, 8, 8)
    expected = (torch.from_numpy(ds.data[3]).permute(2, 0, 1).float() / 255 - ds.mean[0]) / ds.std[
        0
    ]
    assert torch.allclose(x, expected, atol=1e-6)
    ds.transform = create_transform("digits", train=True, mean=ds.mean, std=ds.std, pad_crop=1)
    loader = torch.utils.data.DataLoader(ds, batch_size=64)
    batch, labels = next(iter(loader))
    assert batch.shape == (64, 1, 8, 8) and labels.dtype == torch.int64
    grey = Image.fromarray(np.full((28, 28), 128, dtype=np.uint8), mode="L")
    m = create_transform("mnist", train=True, pad_crop=2)(grey)
    assert m.shape == (1, 28, 28)
