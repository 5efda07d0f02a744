"""benchmarks/pack_cifar_lt.py on a small generated CIFAR-100: the packed root reads the same
long-tailed subsets (train, validation carve, test) and zeroes every image none of them keeps."""

import importlib.util

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "pack_cifar_lt.py"


@pytest.fixture(scope="module")
def pack():
    spec = importlib.util.spec_from_file_location("pack_cifar_lt", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar100")
    rng = np.random.default_rng(0)
    names = np.array([f"c{i:02d}" for i in range(100)])
    for split, per_class in (("train", 100), ("test", 2)):
        y = np.repeat(np.arange(100), per_class)
        x = rng.integers(0, 255, size=(len(y), 32, 32, 3), dtype=np.uint8)
        np.savez(root / f"{split}.npz", x=x, y=y, classes=names)
    return root


def test_packed_cifar_reads_the_same_subsets_and_zeroes_the_rest(pack, cifar_root, tmp_path):
    from ltzoo.data import create_dataset

    report = pack.pack(cifar_root, tmp_path / "packed", imbalances=(100, 50))
    full = create_dataset("cifar100_lt", root=cifar_root, imbalance=50)
    assert report["kept_images"] == len(full)  # the IF 100 subset is nested in the IF 50 one
    packed = np.load(tmp_path / "packed" / "train.npz")
    original = np.load(cifar_root / "train.npz")
    assert np.array_equal(packed["y"], original["y"]) and packed["x"].shape == original["x"].shape
    assert (
        int((packed["x"].reshape(len(packed["y"]), -1).max(1) > 0).sum()) == report["kept_images"]
    )
    for imbalance in (100, 50):
        a = create_dataset(
            "cifar100_lt", root=cifar_root, imbalance=imbalance, val_fraction=0.2, split="val"
        )
        b = create_dataset(
            "cifar100_lt",
            root=tmp_path / "packed",
            imbalance=imbalance,
            val_fraction=0.2,
            split="val",
        )
        assert np.array_equal(a.data, b.data)
    with pytest.raises(
        AssertionError, match="packed train .imbalance 10,"
    ):  # a subset it was not packed for
        pack.check_same_subsets(cifar_root, tmp_path / "packed", "cifar100_lt", [10], [0], "exp")


def test_packing_several_profiles_keeps_the_union_of_their_subsets(pack, cifar_root, tmp_path):
    """The CIFAR-10-LT studies read exp and step subsets: a class keeps the larger of its two counts
    (both subsets are the first n images of one per-class permutation), and pack's own check passes
    for each profile."""
    from ltzoo.data.longtail import make_profile

    report = pack.pack(cifar_root, tmp_path / "packed", imbalances=(10,), profiles=("exp", "step"))
    exp, step = make_profile("exp", 100, 100, 10), make_profile("step", 100, 100, 10)
    assert report["kept_images"] == int(np.maximum(exp, step).sum()) == 5911
    assert report["kept_images"] > max(exp.sum(), step.sum())
