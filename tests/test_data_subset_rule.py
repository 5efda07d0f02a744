"""Which images a long-tail profile keeps (``subset_rule``): the rules, their selection, the record."""

import numpy as np
import pytest

from ltzoo.cli import main
from ltzoo.data import create_dataset
from ltzoo.data.digits import fixed_test_split, load_digits_arrays
from ltzoo.data.longtail import SUBSET_RULES, exponential_profile, longtail_indices

COUNTS = exponential_profile(300, 10, 30)


@pytest.fixture(scope="module")
def targets():
    return np.random.default_rng(5).integers(0, 10, 5000)


def test_global_shuffle_is_the_ldam_drw_rule(targets):
    """Cao et al.'s loop: numpy.random.seed(seed), then per class in label order shuffle and keep the first n."""
    for seed in (0, 3):
        np.random.seed(seed)
        keep = []
        for c, n in zip(np.unique(targets), COUNTS):
            idx = np.where(targets == c)[0]
            np.random.shuffle(idx)
            keep.append(idx[:n])
        assert np.array_equal(
            longtail_indices(targets, COUNTS, seed=seed, rule="global_shuffle"),
            np.sort(np.concatenate(keep)),
        )


def test_rules_differ_and_first_n_ignores_the_seed(targets):
    first = longtail_indices(targets, COUNTS, seed=0, rule="first_n")
    assert np.array_equal(first, longtail_indices(targets, COUNTS, seed=9, rule="first_n"))
    assert np.array_equal(
        first,
        np.sort(np.concatenate([np.flatnonzero(targets == c)[:n] for c, n in enumerate(COUNTS)])),
    )
    default = longtail_indices(targets, COUNTS, seed=0)
    shuffled = longtail_indices(targets, COUNTS, seed=0, rule="global_shuffle")
    assert len({first.tobytes(), default.tobytes(), shuffled.tobytes()}) == 3
    assert (
        np.bincount(targets[default]).tolist()
        == np.bincount(targets[shuffled]).tolist()
        == COUNTS.tolist()
    )
    with pytest.raises(
        ValueError,
        match="subset_rule='random' is not allowed; allowed: per_class_permutation, global_shuffle, first_n",
    ):
        longtail_indices(targets, COUNTS, rule="random")


def test_dataset_and_recipe_select_the_rule(tmp_path, capsys):
    from ltzoo.train.assemble import build_datasets
    from ltzoo.train.config import load_config

    images, labels = load_digits_arrays()
    pool, _ = fixed_test_split(labels)
    ds = create_dataset("digits_lt", imbalance=20, subset_rule="first_n")
    expected = pool[longtail_indices(labels[pool], ds.class_counts, rule="first_n")]
    assert np.array_equal(ds.data[..., 0], images[expected])
    assert ds.data_record()["subset_rule"] == {
        "name": "first_n",
        "description": SUBSET_RULES["first_n"],
    }
    assert (
        create_dataset("digits_lt", imbalance=20).data_record()["subset_rule"]["name"]
        == "per_class_permutation"
    )
    train = build_datasets(
        load_config(None, ["data.subset_rule=global_shuffle", "data.val_fraction=0"])
    )["train"]
    assert train.data_record()["subset_rule"]["name"] == "global_shuffle"
    assert main(["train", "--set", "data.subset_rule=random", "--output-dir", str(tmp_path)]) == 2
    assert (
        "data.subset_rule='random' is not allowed: input should be 'per_class_permutation', "
        "'global_shuffle' or 'first_n'" in capsys.readouterr().err
    )


def test_shared_stage1_needs_the_same_rule(tmp_path):
    from ltzoo.train.config import ConfigError, load_config
    from ltzoo.train.shared_stage1 import adopt_source_stage1
    from tests.test_hub_local import make_run_dir

    source = make_run_dir(tmp_path / "source")
    with pytest.raises(
        ConfigError, match=r"data.subset_rule='first_n' \(the run has 'per_class_permutation'\)"
    ):
        adopt_source_stage1(
            load_config(None, [f"stage1.from_run={source}", "data.subset_rule=first_n"])
        )
    assert (
        adopt_source_stage1(load_config(None, [f"stage1.from_run={source}"])).data.subset_rule
        == "per_class_permutation"
    )
