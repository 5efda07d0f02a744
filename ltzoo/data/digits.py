"""``digits_lt``: scikit-learn's 1,797 real 8x8 handwritten digits, made long-tailed.

The images are UCI's "Optical Recognition of Handwritten Digits" (Alpaydin & Kaynak, 1998) as
shipped by ``sklearn.datasets.load_digits()``: values 0..16, scaled here to uint8 0..255
(``round(v * 255 / 16)``), one channel. A fixed balanced test set of 30 images per class is
held out with a fixed seed (independent of the ``seed`` argument, so it never changes); the
rest is the pool the long-tail profile draws from, with ``n_max`` = the smallest per-class
pool (144), so every profile is feasible. Exponential IF 20 keeps 489 training images.

This is the default embedded data of the main job, so it is read fast: the CSV that
``load_digits`` parses is read directly (importing scikit-learn costs about a second).
"""

from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

from ltzoo.data.base import ArrayLTDataset
from ltzoo.data.stats import MEAN_STD
from ltzoo.registry import DATASETS

TEST_PER_CLASS = 30
_TEST_SEED = 20240601  # fixed: the test split must not depend on the experiment's seed


@functools.lru_cache(maxsize=1)
def load_digits_arrays():
    """``(images uint8 (1797, 8, 8), targets int64)``, the data of ``load_digits()``."""
    spec = importlib.util.find_spec("sklearn")
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(
            list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz"
        )
    if path and os.path.isfile(path):
        raw = np.loadtxt(path, delimiter=",")
        images, targets = raw[:, :-1].reshape(-1, 8, 8), raw[:, -1]
    else:  # a future scikit-learn may move the file: fall back on its loader
        try:
            from sklearn.datasets import load_digits
        except ImportError as err:
            raise ImportError("digits_lt needs scikit-learn (pip install scikit-learn)") from err
        bunch = load_digits()
        images, targets = bunch.images, bunch.target
    images = np.round(images * (255.0 / 16.0)).astype(np.uint8)
    images.setflags(write=False)
    return images, targets.astype(np.int64)


def fixed_test_split(targets, per_class: int = TEST_PER_CLASS):
    """``(pool_idx, test_idx)``: ``per_class`` test images per class from a fixed-seed permutation."""
    rng = np.random.default_rng(_TEST_SEED)
    test = [rng.permutation(np.flatnonzero(targets == c))[:per_class] for c in np.unique(targets)]
    test = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(len(targets)), test), test


@DATASETS.register("digits_lt")
class DigitsLT(ArrayLTDataset):
    """Long-tailed 8x8 digits; ``root`` is unused (the data ships with scikit-learn)."""

    name = "digits_lt"
    mean, std = MEAN_STD["digits"]
    transform_preset = "digits"

    def __init__(
        self,
        split="train",
        root=None,
        imbalance=100,
        profile="exp",
        seed=0,
        val_fraction=0.0,
        transform=None,
        n_max=None,
        subset_rule="per_class_permutation",
        val_source="fraction",
        val_per_class=20,
    ):
        images, targets = load_digits_arrays()
        pool, test = fixed_test_split(targets)
        if n_max is None:
            n_max = int(np.bincount(targets[pool]).min())
        super().__init__(
            images[pool],
            targets[pool],
            images[test],
            targets[test],
            [str(d) for d in range(10)],
            split=split,
            imbalance=imbalance,
            profile=profile,
            seed=seed,
            val_fraction=val_fraction,
            transform=transform,
            n_max=n_max,
            subset_rule=subset_rule,
            val_source=val_source,
            val_per_class=val_per_class,
        )
