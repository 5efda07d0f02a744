"""Long-tail profiles, seeded subsets, stratified splits and Many/Medium/Few groups.

Profiles follow Cui et al., "Class-Balanced Loss Based on Effective Number of Samples"
(CVPR'19, Sec. 6.1) and Cao et al., "LDAM" (NeurIPS'19, Sec. 4.1):

* exponential: ``n_i = floor(n_max * (1/IF) ** (i / (C - 1)))`` for class ``i = 0..C-1``;
* step: the first ``C // 2`` classes keep ``n_max``, the rest ``floor(n_max / IF)``
  (with odd ``C`` the extra class goes to the tail half);

with the imbalance factor ``IF = n_max / n_min``. CIFAR-100-LT (n_max 500) has 10,847 /
12,608 / 19,573 training images at IF 100 / 50 / 10; CIFAR-10-LT (n_max 5000) 12,406 at IF 100.
The Many/Medium/Few groups are those of Liu et al., "Large-Scale Long-Tailed Recognition in an
Open World" (CVPR'19): > 100, 20..100 and < 20 training images.
"""

from __future__ import annotations

import math
import numbers
from typing import Dict, Sequence, Tuple

import numpy as np

from ltzoo.errors import InputError

PROFILES = ("exp", "step", "none")

# Salts keep the subset and the split draws independent of each other for one seed.
_SUBSET_SALT = 0
_SPLIT_SALT = 1
_LEFTOVER_SALT = 2
_SHORTFALL_SALT = 3

# Where the validation split comes from (data.val_source).
VAL_SOURCES = {
    "fraction": "a stratified fraction (data.val_fraction) of the long-tailed training subset",
    "leftover": (
        "a balanced set of data.val_per_class images per class, drawn from the training images the "
        "long-tail profile leaves out; a class with fewer left-out images takes its shortfall from its "
        "own kept images (recorded per class as moved_from_training), always keeping >= 1 to train on"
    ),
}

# Which images a seed keeps when a profile subsamples a training set: public codebases differ, so
# the rule has a name, recorded with every run (results.json "data" section, model card).
SUBSET_RULES = {
    "per_class_permutation": (
        "ltzoo's default: class c keeps the first n_c images of a permutation of its own indices (in "
        "dataset order) drawn from numpy.random.default_rng([seed, 0, c]); each class's choice is "
        "independent of the other classes' counts, and for one seed a more imbalanced subset is nested "
        "in a less imbalanced one"
    ),
    "global_shuffle": (
        "the rule of Cao et al.'s LDAM-DRW code (NeurIPS'19) and the codebases built on it: "
        "numpy.random.seed(seed), then for each class in label order numpy.random.shuffle of its indices "
        "(in dataset order, e.g. the official CIFAR pickle order) and the first n_c kept; one random "
        "stream, so a class's choice depends on the classes before it"
    ),
    "first_n": "class c keeps its first n_c images in dataset order (no randomness; the seed is unused)",
}
DEFAULT_SUBSET_RULE = "per_class_permutation"


def check_subset_rule(rule: str) -> str:
    if rule not in SUBSET_RULES:
        raise InputError(f"subset_rule={rule!r} is not allowed; allowed: {', '.join(SUBSET_RULES)}")
    return rule


def subset_rule_record(rule: str) -> Dict[str, str]:
    """``{"name", "description"}`` of a subset rule, as runs record it."""
    return {"name": check_subset_rule(rule), "description": SUBSET_RULES[rule]}


def parse_imbalance(value) -> float:
    """The imbalance factor ``IF = n_max / n_min`` as a float > 1.

    Accepts the factor itself (``100``) or the ratio spelling some papers use, ``n_min / n_max``
    in (0, 1): ``0.01 -> 100.0``, ``0.1 -> 10.0``. Anything else (<= 0, exactly 1, nan, inf,
    a bool or a non-number) raises ``ValueError`` naming the value.
    """
    allowed = "an imbalance factor > 1 (e.g. 100) or a ratio in (0, 1) (e.g. 0.01 for 100)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, str):
            try:
                return parse_imbalance(float(value))
            except ValueError:
                pass
        raise InputError(f"imbalance={value!r} is not a number; expected {allowed}")
    value = float(value)
    if not math.isfinite(value) or value <= 0 or value == 1:
        raise InputError(f"imbalance={value!r} is not allowed; expected {allowed}")
    return 1.0 / value if value < 1 else value


def _check_sizes(n_max, num_classes) -> Tuple[int, int]:
    if isinstance(n_max, bool) or not isinstance(n_max, numbers.Integral) or n_max < 1:
        raise InputError(f"n_max={n_max!r} must be an integer >= 1")
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, numbers.Integral)
        or num_classes < 1
    ):
        raise InputError(f"num_classes={num_classes!r} must be an integer >= 1")
    return int(n_max), int(num_classes)


def exponential_profile(n_max: int, num_classes: int, imbalance) -> np.ndarray:
    """``n_i = floor(n_max * (1/IF) ** (i / (C - 1)))`` (Cui et al. CVPR'19), as int64."""
    n_max, num_classes = _check_sizes(n_max, num_classes)
    ratio = 1.0 / parse_imbalance(imbalance)
    if num_classes == 1:
        return np.array([n_max], dtype=np.int64)
    # Same float expression as the public CIFAR-LT scripts, so the totals match them exactly.
    return np.array(
        [int(n_max * ratio ** (i / (num_classes - 1.0))) for i in range(num_classes)],
        dtype=np.int64,
    )


def step_profile(n_max: int, num_classes: int, imbalance) -> np.ndarray:
    """First ``C // 2`` classes ``n_max``, the others ``floor(n_max / IF)`` (LDAM, Sec. 4.1)."""
    n_max, num_classes = _check_sizes(n_max, num_classes)
    ratio = 1.0 / parse_imbalance(imbalance)
    head = num_classes // 2
    return np.array([n_max] * head + [int(n_max * ratio)] * (num_classes - head), dtype=np.int64)


def make_profile(kind: str, n_max: int, num_classes: int, imbalance=100) -> np.ndarray:
    """Per-class image counts for ``kind`` in ``{"exp", "step", "none"}`` ("none": all ``n_max``)."""
    if kind == "exp":
        return exponential_profile(n_max, num_classes, imbalance)
    if kind == "step":
        return step_profile(n_max, num_classes, imbalance)
    if kind == "none":
        n_max, num_classes = _check_sizes(n_max, num_classes)
        return np.full(num_classes, n_max, dtype=np.int64)
    raise InputError(f"profile={kind!r} is not a long-tail profile; allowed: {', '.join(PROFILES)}")


def _as_targets(targets) -> np.ndarray:
    targets = np.asarray(targets)
    if targets.ndim != 1 or (targets.size and not np.issubdtype(targets.dtype, np.integer)):
        raise InputError(
            f"targets must be a 1-D array of integer labels, got shape {targets.shape} "
            f"and dtype {targets.dtype}"
        )
    if targets.size and targets.min() < 0:
        raise InputError(
            f"targets hold the negative label {int(targets.min())}; labels must be in [0, C)"
        )
    return targets.astype(np.int64, copy=False)


def _by_class(targets: np.ndarray, num_classes: int):
    """Per class, its indices in dataset order (one stable argsort instead of C scans)."""
    counts = np.bincount(targets, minlength=num_classes)
    return np.split(np.argsort(targets, kind="stable"), np.cumsum(counts)[:-1])


def longtail_indices(
    targets, counts: Sequence[int], seed: int = 0, rule: str = DEFAULT_SUBSET_RULE
) -> np.ndarray:
    """Indices into ``targets`` keeping ``counts[c]`` images of every class ``c``, sorted.

    ``rule`` (``SUBSET_RULES``) says which images: by default (``"per_class_permutation"``) class
    ``c`` draws one permutation of its own indices (in dataset order) from
    ``numpy.random.default_rng([seed, 0, c])`` and keeps the first ``counts[c]``. Each class's
    choice is therefore independent of the other classes' counts, and for one seed a more
    imbalanced subset is nested in a less imbalanced one. ``"global_shuffle"`` reproduces Cao et
    al.'s LDAM-DRW code (NeurIPS'19), ``"first_n"`` keeps the first images in dataset order. A
    class with fewer images than asked raises ``ValueError`` naming the class and both numbers.
    """
    check_subset_rule(rule)
    legacy = (
        np.random.RandomState(seed) if rule == "global_shuffle" else None
    )  # what numpy.random.seed(seed) sets
    targets = _as_targets(targets)
    counts = np.asarray(counts, dtype=np.int64)
    available = np.bincount(targets, minlength=len(counts))
    if len(available) > len(counts):
        raise InputError(
            f"targets hold label {len(available) - 1} but counts has only {len(counts)} classes"
        )
    keep = []
    for c, (want, idx) in enumerate(zip(counts, _by_class(targets, len(counts)))):
        if want < 0 or want > len(idx):
            raise InputError(
                f"class {c} has {len(idx)} images but the profile asks for {want}; "
                "lower n_max or use a smaller imbalance"
            )
        if rule == "per_class_permutation":
            idx = np.random.default_rng([seed, _SUBSET_SALT, c]).permutation(idx)
        elif legacy is not None:
            idx = idx.copy()
            legacy.shuffle(idx)
        keep.append(idx[:want])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def stratified_split(targets, val_fraction: float, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``: a per-class split of ``targets`` (both sorted).

    Class ``c`` with ``n_c`` images gives ``min(round(n_c * val_fraction), n_c - 1)`` images
    (round half up) to validation, chosen by a permutation from
    ``numpy.random.default_rng([seed, 1, c])``, so every class keeps >= 1 training image.
    Weight-decay and tau tuning use an 80/20 split carved from the training set (``val_fraction=0.2``), never from
    the test set.
    """
    targets = _as_targets(targets)
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, numbers.Real)
        or not 0.0 <= float(val_fraction) < 1.0
    ):
        raise InputError(f"val_fraction={val_fraction!r} must be a number in [0, 1)")
    train, val = [], []
    for c, idx in enumerate(_by_class(targets, int(targets.max()) + 1 if targets.size else 0)):
        if not len(idx):
            continue
        n_val = min(int(math.floor(len(idx) * float(val_fraction) + 0.5)), len(idx) - 1)
        perm = np.random.default_rng([seed, _SPLIT_SALT, c]).permutation(idx)
        val.append(perm[:n_val])
        train.append(perm[n_val:])
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.sort(np.concatenate(train)) if train else empty,
        np.sort(np.concatenate(val)) if val else empty,
    )


def leftover_split(
    targets, kept, per_class: int, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train_idx, val_idx, moved)``: a balanced validation set drawn from the images a profile left out.

    ``targets`` are the labels of the whole official training set and ``kept`` the indices the
    long-tail profile keeps (:func:`longtail_indices`). Class ``c`` gives ``per_class`` validation
    images: first from its left-out images (a permutation from ``default_rng([seed, 2, c])``), then,
    when it has fewer left out, the shortfall from its own kept images (``default_rng([seed, 3, c])``),
    keeping at least one to train on. ``moved[c]`` counts the kept images class ``c`` gave up, so
    ``train_idx`` is ``kept`` minus exactly those images: every class with ``per_class`` left-out images
    trains on the same images with or without this split, and the test set is untouched.
    """
    targets = _as_targets(targets)
    kept = np.asarray(kept, dtype=np.int64)
    if isinstance(per_class, bool) or not isinstance(per_class, numbers.Integral) or per_class < 1:
        raise InputError(f"val_per_class={per_class!r} is not allowed; allowed: an integer >= 1")
    num_classes = int(targets.max()) + 1 if targets.size else 0
    is_kept = np.zeros(len(targets), dtype=bool)
    is_kept[kept] = True
    train, val, moved = [], [], np.zeros(num_classes, dtype=np.int64)
    for c, idx in enumerate(_by_class(targets, num_classes)):
        kept_c, left_c = idx[is_kept[idx]], idx[~is_kept[idx]]
        take = np.random.default_rng([seed, _LEFTOVER_SALT, c]).permutation(left_c)[:per_class]
        short = min(per_class - len(take), max(len(kept_c) - 1, 0))
        give = np.random.default_rng([seed, _SHORTFALL_SALT, c]).permutation(kept_c)[:short]
        moved[c] = len(give)
        val.extend([take, give])
        train.append(np.setdiff1d(kept_c, give))
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.sort(np.concatenate(train)) if train else empty,
        np.sort(np.concatenate(val)).astype(np.int64) if val else empty,
        moved,
    )


def class_groups(counts, many: int = 100, few: int = 20) -> Dict[str, np.ndarray]:
    """Class indices per group, from the per-class TRAINING counts.

    ``many``: count > ``many``; ``medium``: ``few`` <= count <= ``many``; ``few``: count < ``few``
    (Liu et al. CVPR'19). ``head`` / ``tail``: the first ``C // 2`` / the other classes when
    sorted by count, descending (stable, so ties keep class order). Each array is sorted.
    """
    counts = np.asarray(counts)
    if counts.ndim != 1:
        raise InputError(
            f"counts must be a 1-D array of per-class counts, got shape {counts.shape}"
        )
    if few > many:
        raise InputError(f"few={few!r} must be <= many={many!r}")
    order = np.argsort(
        -counts.astype(np.float64), kind="stable"
    )  # float: unsigned counts negate too
    half = len(counts) // 2
    return {
        "many": np.flatnonzero(counts > many),
        "medium": np.flatnonzero((counts >= few) & (counts <= many)),
        "few": np.flatnonzero(counts < few),
        "head": np.sort(order[:half]),
        "tail": np.sort(order[half:]),
    }
