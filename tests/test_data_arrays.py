"""In-memory datasets: digits_lt, cifar10_lt / cifar100_lt, fashion_mnist_lt, and the factory."""

import gzip
import os
import pickle
import struct
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ltzoo.data import create_dataset, exponential_profile, list_datasets
from ltzoo.data.digits import fixed_test_split, load_digits_arrays
from ltzoo.registry import UnknownNameError
from tests.conftest import CIFAR100 as _CIFAR100

CIFAR100 = str(_CIFAR100)
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"


def test_registered_names():
    assert list_datasets() == [
        "cifar100_lt",
        "cifar10_lt",
        "digits_lt",
        "fashion_mnist_lt",
        "folder_lt",
        "imagenet_lt",
        "inat2018",
        "places_lt",
    ]
    with pytest.raises(UnknownNameError, match=r"did you mean 'cifar100_lt'"):
        create_dataset("cifar100lt")
    with pytest.raises(ValueError, match=r"dataset 'digits_lt' does not take \['colour'\].*n_max"):
        create_dataset("digits_lt", colour=True)


# ---------------------------------------------------------------- digits_lt
def test_digits_matches_sklearn_and_is_fast():
    from sklearn.datasets import load_digits

    images, targets = load_digits_arrays()
    ref = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 255
    assert np.array_equal(images, np.round(ref.images * 255 / 16).astype(np.uint8))
    assert np.array_equal(targets, ref.target)
    start = time.perf_counter()
    create_dataset("digits_lt", imbalance=20, seed=3)
    assert time.perf_counter() - start < 1.0


def test_digits_lt_train_split():
    ds = create_dataset("digits_lt", imbalance=20)
    assert len(ds) == 489 and ds.num_classes == 10 and ds.classes == [str(d) for d in range(10)]
    assert ds.class_counts.tolist() == [144, 103, 74, 53, 38, 27, 19, 14, 10, 7]
    assert ds.class_counts.dtype == np.int64 and ds.targets.dtype == np.int64
    assert np.array_equal(np.bincount(ds.targets), ds.class_counts)
    assert ds.data.shape == (489, 8, 8, 1) and ds.data.dtype == np.uint8
    x, y = ds[5]
    assert x.dtype == torch.float32 and x.shape == (1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert (
        torch.allclose(x, torch.from_numpy(ds.data[5]).permute(2, 0, 1).float() / 255)
        and y == ds.targets[5]
    )
    assert isinstance(ds, torch.utils.data.Dataset)
    seen = []
    ds.transform = lambda img: seen.append(img) or "done"
    assert (
        ds[0] == ("done", int(ds.targets[0]))
        and isinstance(seen[0], Image.Image)
        and seen[0].mode == "L"
    )


def test_digits_test_split_is_fixed_and_disjoint():
    pool, test = fixed_test_split(load_digits_arrays()[1])
    assert len(test) == 300 and not set(pool) & set(test) and len(pool) + len(test) == 1797
    a = create_dataset("digits_lt", split="test", imbalance=20, seed=0)
    b = create_dataset("digits_lt", split="test", imbalance=5, seed=7)
    assert len(a) == 300 and np.bincount(a.targets).tolist() == [30] * 10
    assert np.array_equal(a.data, b.data) and np.array_equal(a.targets, b.targets)
    assert a.class_counts.tolist() == [144, 103, 74, 53, 38, 27, 19, 14, 10, 7]  # TRAINING counts


def test_digits_val_split_and_seeds():
    train = create_dataset("digits_lt", imbalance=20, val_fraction=0.2, seed=1)
    val = create_dataset("digits_lt", split="val", imbalance=20, val_fraction=0.2, seed=1)
    full = [144, 103, 74, 53, 38, 27, 19, 14, 10, 7]
    n_val = [int(np.floor(n * 0.2 + 0.5)) for n in full]
    assert np.bincount(val.targets).tolist() == n_val
    assert (
        train.class_counts.tolist()
        == val.class_counts.tolist()
        == [f - v for f, v in zip(full, n_val)]
    )
    assert len(train) + len(val) == 489
    other = create_dataset("digits_lt", imbalance=20, seed=2)
    same = create_dataset("digits_lt", imbalance=20, seed=2)
    assert np.array_equal(other.data, same.data)
    assert not np.array_equal(other.data, create_dataset("digits_lt", imbalance=20, seed=0).data)
    assert (
        create_dataset("digits_lt", profile="step", imbalance=10).class_counts.tolist()
        == [144] * 5 + [14] * 5
    )
    assert len(create_dataset("digits_lt", profile="none")) == 1440


def test_dataset_errors_name_the_field():
    with pytest.raises(ValueError, match=r"split='valid'.*train, val, test"):
        create_dataset("digits_lt", split="valid")
    with pytest.raises(ValueError, match=r"split='val'.*val_fraction"):
        create_dataset("digits_lt", split="val")
    with pytest.raises(ValueError, match=r"class 9 \('9'\) has no training images.*imbalance=200"):
        create_dataset("digits_lt", imbalance=200)
    with pytest.raises(ValueError, match=r"imbalance=-3"):
        create_dataset("digits_lt", imbalance=-3)
    with pytest.raises(ValueError, match=r"seed=-1"):
        create_dataset("digits_lt", seed=-1)
    with pytest.raises(ValueError, match=r"class 0 has 148 images but the profile asks for 200"):
        create_dataset("digits_lt", n_max=200)


# ---------------------------------------------------------------- CIFAR
def _fake_cifar(rng, num_classes, per_class):
    y = np.repeat(np.arange(num_classes), per_class)
    x = rng.integers(1, 255, size=(len(y), 32, 32, 3), dtype=np.uint8)
    x[:, 0, 0, 0] = y  # label readable from the pixels
    return x, y


def test_cifar_npz_root(tmp_path):
    rng = np.random.default_rng(0)
    x, y = _fake_cifar(rng, 10, 50)
    tx, ty = _fake_cifar(rng, 10, 5)
    names = np.array([f"c{i}" for i in range(10)])
    np.savez(tmp_path / "train.npz", x=x, y=y, classes=names)
    np.savez(tmp_path / "test.npz", x=tx, y=ty, classes=names)
    ds = create_dataset("cifar10_lt", root=tmp_path, imbalance=10)
    assert (
        ds.class_counts.tolist()
        == exponential_profile(50, 10, 10).tolist()
        == [50, 38, 29, 23, 17, 13, 10, 8, 6, 5]
    )
    assert len(ds) == 199 and ds.classes == list(names) and ds.data.shape == (199, 32, 32, 3)
    assert np.array_equal(ds.data[:, 0, 0, 0], ds.targets)
    assert ds.mean == (0.4914, 0.4822, 0.4465) and ds.transform_preset == "cifar"
    test = create_dataset("cifar10_lt", split="test", root=tmp_path, imbalance=10)
    assert len(test) == 50 and np.bincount(test.targets).tolist() == [5] * 10
    assert np.array_equal(test.data, tx) and test.class_counts.tolist() == ds.class_counts.tolist()
    with pytest.raises(ValueError, match=r"train.npz lists 10 classes; cifar100_lt has 100"):
        create_dataset("cifar100_lt", root=tmp_path)


def test_cifar_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        create_dataset("cifar100_lt", root=tmp_path / "nowhere")
    msg = str(err.value)
    assert "train.npz" in msg and "cifar-100-python" in msg and "download=True" in msg
    with pytest.raises(FileNotFoundError, match="root=None"):
        create_dataset("cifar10_lt")


def _write_pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


@pytest.mark.parametrize("num_classes", [10, 100])
def test_cifar_torchvision_layout(tmp_path, monkeypatch, num_classes):
    """A tiny tree in exactly the CIFAR python format, read through torchvision's CIFAR10/100."""
    import torchvision.datasets.cifar as tv_cifar

    # torchvision checks the real archives' md5 sums; the tiny files only need to exist
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
    rng = np.random.default_rng(1)
    per_batch = 2 if num_classes == 10 else 1  # images per class in one file
    folder = tmp_path / ("cifar-10-batches-py" if num_classes == 10 else "cifar-100-python")
    folder.mkdir()
    key = "labels" if num_classes == 10 else "fine_labels"

    def batch(n_per_class, seed_shift):
        x, y = _fake_cifar(rng, num_classes, n_per_class)
        flat = x.transpose(0, 3, 1, 2).reshape(len(y), 3072)  # CIFAR stores R, G, B planes
        return {"data": flat, key: y.tolist()}, x

    names = [f"name{i}" for i in range(num_classes)]
    train_x = []
    if num_classes == 10:
        for i in range(1, 6):
            b, x = batch(per_batch, i)
            _write_pickle(folder / f"data_batch_{i}", b)
            train_x.append(x)
        _write_pickle(folder / "batches.meta", {"label_names": names})
        _write_pickle(folder / "test_batch", batch(1, 9)[0])
    else:
        b, x = batch(5, 0)
        _write_pickle(folder / "train", b)
        train_x.append(x)
        _write_pickle(
            folder / "meta", {"fine_label_names": names, "coarse_label_names": ["x"] * 20}
        )
        _write_pickle(folder / "test", batch(1, 9)[0])
    name = f"cifar{num_classes}_lt"
    ds = create_dataset(name, root=tmp_path, imbalance=5)
    n_max = 10 if num_classes == 10 else 5
    assert ds.class_counts.tolist() == exponential_profile(n_max, num_classes, 5).tolist()
    assert ds.classes == names and ds.data.shape[1:] == (32, 32, 3)
    assert np.array_equal(ds.data[:, 0, 0, 0], ds.targets)  # HWC decoded correctly
    pool = np.concatenate(train_x)
    assert any(np.array_equal(ds.data[0], img) for img in pool)
    test = create_dataset(name, split="test", root=tmp_path, imbalance=5)
    assert np.bincount(test.targets).tolist() == [1] * num_classes


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(CIFAR100, "train.npz")),
    reason="the shared CIFAR-100 npz files are not here",
)
def test_cifar100_lt_real():
    ds = create_dataset("cifar100_lt", root=CIFAR100, imbalance=0.01)
    assert len(ds) == 10847 and ds.class_counts[0] == 500 and ds.class_counts[-1] == 5
    assert ds.classes[:3] == ["apple", "aquarium_fish", "baby"] and ds.data.shape == (
        10847,
        32,
        32,
        3,
    )
    groups = ds.groups()
    assert [len(groups[k]) for k in ("many", "medium", "few")] == [35, 35, 30]
    x, _ = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    test = create_dataset("cifar100_lt", split="test", root=CIFAR100)
    assert len(test) == 10000 and np.bincount(test.targets).tolist() == [100] * 100


# ---------------------------------------------------------------- Fashion-MNIST
def _write_idx(path, array, compress):
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(payload)


@pytest.mark.parametrize("layout", ["debian", "torchvision"])
def test_fashion_mnist_tiny_idx(tmp_path, layout):
    rng = np.random.default_rng(2)
    folder = tmp_path if layout == "debian" else tmp_path / "FashionMNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    suffix, compress = (".gz", True) if layout == "debian" else ("", False)
    y = np.repeat(np.arange(10), 20)
    x = rng.integers(0, 256, size=(200, 28, 28)).astype(np.uint8)
    x[:, 0, 0] = y
    _write_idx(folder / f"train-images-idx3-ubyte{suffix}", x, compress)
    _write_idx(folder / f"train-labels-idx1-ubyte{suffix}", y, compress)
    _write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", x[::10], compress)
    _write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", y[::10], compress)
    ds = create_dataset("fashion_mnist_lt", root=tmp_path, imbalance=10)
    assert ds.class_counts.tolist() == exponential_profile(20, 10, 10).tolist()
    assert ds.data.shape == (int(ds.class_counts.sum()), 28, 28, 1)
    assert np.array_equal(ds.data[:, 0, 0, 0], ds.targets) and ds.classes[0] == "T-shirt/top"
    assert ds[0][0].shape == (1, 28, 28)
    test = create_dataset("fashion_mnist_lt", split="test", root=tmp_path, imbalance=10)
    assert np.bincount(test.targets).tolist() == [2] * 10


def test_fashion_mnist_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        create_dataset("fashion_mnist_lt", root=tmp_path)
    assert "train-images-idx3-ubyte" in str(
        err.value
    ) and "apt-get install dataset-fashion-mnist" in str(err.value)
    y = np.repeat(np.arange(10), 2)
    for name, arr in [
        ("train-images-idx3-ubyte", np.zeros((20, 28, 28))),
        ("train-labels-idx1-ubyte", y),
        ("t10k-images-idx3-ubyte", np.zeros((20, 28, 28))),
        ("t10k-labels-idx1-ubyte", y),
    ]:
        _write_idx(tmp_path / name, arr, False)
    with open(tmp_path / "train-images-idx3-ubyte", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte is truncated"):
        create_dataset("fashion_mnist_lt", root=tmp_path)


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(DEBIAN_FASHION, "train-images-idx3-ubyte.gz")),
    reason="dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_real():
    ds = create_dataset("fashion_mnist_lt", imbalance=100)
    assert len(ds) == 14886 and ds.class_counts[0] == 6000 and ds.class_counts[-1] == 60
    test = create_dataset("fashion_mnist_lt", split="test")
    assert len(test) == 10000 and np.bincount(test.targets).tolist() == [1000] * 10
    assert abs(test.data.mean() / 255 - 0.2860) < 0.01


def test_label_outside_range_is_named(tmp_path):
    rng = np.random.default_rng(3)
    x, y = _fake_cifar(rng, 10, 5)
    y[7] = 10
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x, y=np.clip(y, 0, 9))
    with pytest.raises(
        ValueError,
        match=r"label 10 \(item 7\) in the training set of cifar10_lt is outside \[0, 10\)",
    ):
        create_dataset("cifar10_lt", root=tmp_path, profile="none")
