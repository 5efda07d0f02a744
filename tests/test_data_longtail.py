"""Long-tail profiles, subsets, splits and class groups (ltzoo/data/longtail.py)."""

import math

import numpy as np
import pytest

from ltzoo.data.longtail import (
    class_groups,
    exponential_profile,
    longtail_indices,
    make_profile,
    parse_imbalance,
    step_profile,
    stratified_split,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        (100, 100.0),
        (0.01, 100.0),
        (0.1, 10.0),
        (50, 50.0),
        (0.02, 50.0),
        (1.5, 1.5),
        ("100", 100.0),
        (np.float32(10), 10.0),
    ],
)
def test_parse_imbalance_accepts_factor_and_ratio(value, expected):
    assert parse_imbalance(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [0, -5, 1, 1.0, math.nan, math.inf, "abc", None, True, [100]])
def test_parse_imbalance_rejects(value):
    with pytest.raises(ValueError) as err:
        parse_imbalance(value)
    message = str(err.value)
    assert "imbalance=" in message and "> 1" in message and "(0, 1)" in message


@pytest.mark.parametrize(
    "n_max, classes, imbalance, total",
    [
        (500, 100, 100, 10847),
        (500, 100, 50, 12608),
        (500, 100, 10, 19573),
        (5000, 10, 100, 12406),
        (500, 100, 0.01, 10847),
        (500, 100, 0.1, 19573),
        (5000, 10, 0.01, 12406),
    ],
)
def test_exponential_profile_known_totals(n_max, classes, imbalance, total):
    counts = exponential_profile(n_max, classes, imbalance)
    assert counts.dtype == np.int64 and counts.shape == (classes,)
    assert counts.sum() == total
    assert counts[0] == n_max and counts[-1] == math.floor(n_max / parse_imbalance(imbalance))
    assert np.all(np.diff(counts) <= 0)


def test_exponential_profile_formula():
    counts = exponential_profile(144, 10, 20)
    expected = [math.floor(144 * (1 / 20) ** (i / 9)) for i in range(10)]
    assert counts.tolist() == expected == [144, 103, 74, 53, 38, 27, 19, 14, 10, 7]
    assert exponential_profile(7, 1, 100).tolist() == [7]


def test_step_profile():
    counts = step_profile(500, 100, 100)
    assert counts[:50].tolist() == [500] * 50 and counts[50:].tolist() == [5] * 50
    assert counts.sum() == 25250
    assert step_profile(10, 5, 0.1).tolist() == [10, 10, 1, 1, 1]  # odd C: the extra class is tail


def test_make_profile_kinds_and_errors():
    assert make_profile("none", 30, 4, 100).tolist() == [30] * 4
    assert make_profile("exp", 500, 100, 100).sum() == 10847
    assert make_profile("step", 500, 100, 10).sum() == 50 * 500 + 50 * 50
    with pytest.raises(ValueError, match=r"profile='linear'.*exp, step, none"):
        make_profile("linear", 500, 100, 100)
    with pytest.raises(ValueError, match=r"n_max=0"):
        make_profile("exp", 0, 10, 100)
    with pytest.raises(ValueError, match=r"num_classes=2.5"):
        make_profile("exp", 10, 2.5, 100)
    with pytest.raises(ValueError, match=r"imbalance=1.0"):
        make_profile("step", 10, 4, 1)


def test_longtail_indices_counts_determinism_nesting():
    targets = np.repeat(np.arange(10), 50)[np.random.default_rng(1).permutation(500)]
    counts = exponential_profile(50, 10, 10)
    keep = longtail_indices(targets, counts, seed=0)
    assert np.array_equal(np.bincount(targets[keep], minlength=10), counts)
    assert np.all(np.diff(keep) > 0)  # sorted, no repeats
    assert np.array_equal(keep, longtail_indices(targets, counts, seed=0))
    assert not np.array_equal(keep, longtail_indices(targets, counts, seed=1))
    # for one seed a more imbalanced subset is nested in a less imbalanced one
    steeper = longtail_indices(targets, exponential_profile(50, 10, 50), seed=0)
    assert set(steeper) <= set(keep)


def test_longtail_indices_too_few_images():
    targets = np.array([0] * 5 + [1] * 2)
    with pytest.raises(ValueError, match=r"class 1 has 2 images but the profile asks for 3"):
        longtail_indices(targets, [5, 3], seed=0)
    with pytest.raises(ValueError, match=r"label -1"):
        longtail_indices(np.array([0, -1]), [1, 1])


def test_stratified_split():
    counts = [500, 50, 5, 2, 1]
    targets = np.repeat(np.arange(5), counts)
    train, val = stratified_split(targets, 0.2, seed=0)
    assert np.bincount(targets[val], minlength=5).tolist() == [100, 10, 1, 0, 0]
    assert np.bincount(targets[train], minlength=5).tolist() == [400, 40, 4, 2, 1]
    assert not set(train) & set(val) and len(train) + len(val) == len(targets)
    assert np.array_equal(val, stratified_split(targets, 0.2, seed=0)[1])
    assert not np.array_equal(val, stratified_split(targets, 0.2, seed=1)[1])
    # every class keeps >= 1 training image, even at a large fraction
    train, val = stratified_split(targets, 0.9, seed=0)
    assert np.bincount(targets[train], minlength=5).min() >= 1
    assert len(stratified_split(targets, 0.0)[1]) == 0
    for bad in (1.0, -0.1, "0.2", math.nan):
        with pytest.raises(ValueError, match=r"val_fraction=.*\[0, 1\)"):
            stratified_split(targets, bad)


def test_class_groups_thresholds_and_halves():
    counts = np.array([500, 101, 100, 20, 19, 1, 100, 5])
    g = class_groups(counts)
    assert g["many"].tolist() == [0, 1]
    assert g["medium"].tolist() == [2, 3, 6]
    assert g["few"].tolist() == [4, 5, 7]
    # sorted descending, stable: 0, 1, 2, 6 (ties keep class order) | 3, 4, 7, 5
    assert g["head"].tolist() == [0, 1, 2, 6] and g["tail"].tolist() == [3, 4, 5, 7]
    g = class_groups(counts, many=50, few=10)
    assert g["many"].tolist() == [0, 1, 2, 6] and g["few"].tolist() == [5, 7]
    cifar = class_groups(exponential_profile(500, 100, 100))
    assert [len(cifar[k]) for k in ("many", "medium", "few", "head", "tail")] == [
        35,
        35,
        30,
        50,
        50,
    ]
    with pytest.raises(ValueError, match="few=30"):
        class_groups(counts, many=20, few=30)


def _halves_by_hand(counts):
    """Head / tail by the rule written out: the first C // 2 classes of a stable sort by count, descending."""
    order = sorted(range(len(counts)), key=lambda i: -counts[i])  # Python's sort is stable
    half = len(counts) // 2
    return sorted(order[:half]), sorted(order[half:])


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float32])
def test_head_tail_halves_one_definition_with_stable_ties(dtype):
    """class_groups' halves are what the metrics report and what the experts method trains on."""
    from ltzoo.evaluation import class_group_indices
    from ltzoo.methods.experts import head_tail_split

    rng = np.random.default_rng(0)
    cases = [[5, 5, 5, 5], [1, 9, 9, 1], [10, 30, 20], [7, 3, 7, 3, 7]]
    cases += [
        rng.integers(1, 6, size=int(n)).tolist() for n in rng.integers(2, 40, size=25)
    ]  # many ties
    for counts in cases:
        head, tail = _halves_by_hand(counts)
        g = class_groups(np.asarray(counts, dtype=dtype))
        assert (g["head"].tolist(), g["tail"].tolist()) == (head, tail)
        assert head_tail_split(np.asarray(counts, dtype=dtype)) == (head, tail)
        metrics = class_group_indices(counts)
        assert (metrics["head"], metrics["tail"]) == (head, tail)
    assert head_tail_split([5, 5, 5, 5]) == ([0, 1], [2, 3])  # ties keep class order
    assert head_tail_split([9, 8, 7, 6, 5]) == (
        [0, 1],
        [2, 3, 4],
    )  # odd C: the middle class is tail


# ---- the balanced validation split drawn from the images a profile leaves out ----------------------
def _leftover_case():
    targets = np.repeat(np.arange(4), 50)  # 4 classes x 50 images, in dataset order
    counts = exponential_profile(50, 4, 10)  # [50, 23, 10, 5]
    kept = longtail_indices(targets, counts, seed=0)
    return targets, counts, kept


def test_leftover_split_is_balanced_disjoint_and_keeps_training_where_it_can():
    from ltzoo.data.longtail import leftover_split

    targets, counts, kept = _leftover_case()
    assert counts.tolist() == [50, 23, 10, 5]
    train, val, moved = leftover_split(targets, kept, per_class=8, seed=0)
    assert np.bincount(targets[val], minlength=4).tolist() == [8, 8, 8, 8]
    assert not set(train) & set(val) and set(train) <= set(kept)
    # class 0 kept all 50 images: its 8 come from them; the others have >= 8 left out and lose nothing
    assert moved.tolist() == [8, 0, 0, 0]
    assert np.bincount(targets[train], minlength=4).tolist() == [42, 23, 10, 5]
    assert np.array_equal(train[targets[train] > 0], kept[targets[kept] > 0])
    # seeded: the same seed gives the same split, another seed another one
    assert np.array_equal(val, leftover_split(targets, kept, 8, seed=0)[1])
    assert not np.array_equal(val, leftover_split(targets, kept, 8, seed=1)[1])


def test_leftover_split_keeps_one_training_image_and_refuses_bad_sizes():
    from ltzoo.data.longtail import leftover_split

    targets = np.repeat(np.arange(2), 3)
    kept = np.arange(6)  # nothing left out: every validation image comes from the kept ones
    train, val, moved = leftover_split(targets, kept, per_class=5, seed=0)
    assert moved.tolist() == [2, 2] and np.bincount(targets[train]).tolist() == [1, 1]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="val_per_class"):
            leftover_split(targets, kept, per_class=bad)


def test_leftover_validation_on_cifar100_lt_moves_only_class_0_at_if_100():
    from ltzoo.data import create_dataset
    from tests.conftest import CIFAR100

    if not (CIFAR100 / "train.npz").is_file():
        pytest.skip("the CIFAR-100 npz files are not here")
    root = str(CIFAR100)
    plain = create_dataset("cifar100_lt", root=root, imbalance=100)
    train = create_dataset("cifar100_lt", root=root, imbalance=100, val_source="leftover")
    val = create_dataset("cifar100_lt", "val", root=root, imbalance=100, val_source="leftover")
    assert len(plain) == 10847 and len(train) == 10827 and len(val) == 2000
    assert np.bincount(val.targets).tolist() == [20] * 100
    assert train.validation["moved_from_training"] == {"apple": 20}
    assert train.data_record()["validation"]["moved_total"] == 20
    assert (plain.class_counts - train.class_counts).tolist() == [20] + [0] * 99
    with pytest.raises(ValueError, match="val_fraction"):
        create_dataset("cifar100_lt", root=root, val_fraction=0.2, val_source="leftover")
