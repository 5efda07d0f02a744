"""describe / format_description / plot_counts (ltzoo/data/describe.py)."""

import os

import numpy as np
import pytest

from ltzoo.data.describe import describe, format_description, plot_counts
from tests.conftest import CIFAR100 as _CIFAR100

CIFAR100 = str(_CIFAR100)


def test_describe_digits(tmp_path):
    d = describe("digits_lt", imbalance=20)
    assert d["total"] == 489 and d["counts"] == [144, 103, 74, 53, 38, 27, 19, 14, 10, 7]
    assert d["groups"] == {"many": 2, "medium": 4, "few": 4, "head": 5, "tail": 5}
    assert d["group_images"]["many"] == 247 and d["group_images"]["few"] == 50
    assert d["max"] == 144 and d["min"] == 7 and d["ratio"] == pytest.approx(144 / 7)
    text = format_description(d)
    assert "digits_lt: 489 training images in 10 classes" in text and "Many (>100)" in text
    assert "Few (<20)" in text and "144" in text
    split = describe("digits_lt", imbalance=20, val_fraction=0.2)
    assert split["total"] == 489 - sum(int(np.floor(n * 0.2 + 0.5)) for n in d["counts"])
    path = plot_counts(d, tmp_path / "counts.png")
    assert path.endswith("counts.png") and (tmp_path / "counts.png").stat().st_size > 1000


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(CIFAR100, "train.npz")),
    reason="the shared CIFAR-100 npz files are not here",
)
def test_describe_cifar100_lt_real():
    d = describe("cifar100_lt", root=CIFAR100, imbalance=50)
    assert d["total"] == 12608 and d["num_classes"] == 100 and d["max"] == 500 and d["min"] == 10
    assert d["groups"]["many"] + d["groups"]["medium"] + d["groups"]["few"] == 100
    assert "cifar100_lt: 12,608 training images in 100 classes" in format_description(d)
