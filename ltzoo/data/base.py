"""What every ltzoo dataset shares: split semantics, label checks and the in-memory base class.

Splits (the same for every dataset):

* ``"train"``: the long-tailed subset of the official training set (profile applied, unless the
  dataset is long-tailed already) minus the stratified validation fraction;
* ``"val"``: that validation fraction, carved from the long-tailed training subset
  (``val_fraction > 0``; a dataset with an official validation list uses it when
  ``val_fraction == 0``);
* ``"test"``: the official balanced test set, never made long-tailed.

``class_counts`` always holds the per-class counts of the TRAINING split, on the val and test
objects too, so Many/Medium/Few groups (:func:`ltzoo.data.longtail.class_groups`) can be
computed from any split.
"""

from __future__ import annotations

import numbers
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ltzoo.data.identity import data_digest
from ltzoo.data.longtail import (
    DEFAULT_SUBSET_RULE,
    VAL_SOURCES,
    class_groups,
    leftover_split,
    longtail_indices,
    make_profile,
    stratified_split,
    subset_rule_record,
)
from ltzoo.errors import InputError

SPLITS = ("train", "val", "test")


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise InputError(f"split={split!r} is not a split; allowed: {', '.join(SPLITS)}")
    return split


def check_labels(targets, num_classes: int, where: str) -> np.ndarray:
    """``targets`` as int64, or ``ValueError`` naming the first label outside ``[0, num_classes)``."""
    targets = np.asarray(targets).astype(np.int64, copy=False)
    bad = np.flatnonzero((targets < 0) | (targets >= num_classes))
    if bad.size:
        raise InputError(
            f"label {int(targets[bad[0]])} (item {int(bad[0])}) in {where} is outside "
            f"[0, {num_classes}): {bad.size} such labels"
        )
    return targets


def require_training_images(counts, classes: Sequence[str], where: str) -> None:
    """``ValueError`` naming the first class whose training split is empty."""
    empty = np.flatnonzero(np.asarray(counts) == 0)
    if empty.size:
        c = int(empty[0])
        raise InputError(
            f"class {c} ({classes[c]!r}) has no training images in {where} "
            f"({empty.size} empty classes); use a smaller imbalance or a larger n_max"
        )


def split_indices(
    train_targets,
    classes: Sequence[str],
    split: str,
    *,
    imbalance=100,
    profile="exp",
    seed: int = 0,
    val_fraction: float = 0.0,
    n_max: Optional[int] = None,
    where: str = "dataset",
    subset_rule: str = DEFAULT_SUBSET_RULE,
    val_source: str = "fraction",
    val_per_class: int = 20,
) -> Tuple[Optional[np.ndarray], np.ndarray, dict]:
    """``(indices into the official training set or None for "test", training class counts, validation record)``.

    ``profile=None`` keeps the training set as it is (already long-tailed); otherwise the
    profile's ``n_max`` defaults to the largest class of the training set; ``subset_rule`` says
    which images it keeps (:data:`ltzoo.data.longtail.SUBSET_RULES`). ``val_source`` says where
    ``"val"`` comes from (:data:`ltzoo.data.longtail.VAL_SOURCES`): ``"fraction"`` carves
    ``val_fraction`` from the long-tailed subset; ``"leftover"`` draws ``val_per_class`` images per
    class from the images the profile leaves out (:func:`ltzoo.data.longtail.leftover_split`).
    """
    check_split(split)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(f"seed={seed!r} must be an integer >= 0")
    num_classes = len(classes)
    train_targets = check_labels(train_targets, num_classes, f"the training set of {where}")
    pool = np.arange(len(train_targets))
    if profile is not None:
        available = np.bincount(train_targets, minlength=num_classes)
        wanted = make_profile(profile, int(n_max or available.max()), num_classes, imbalance)
        pool = longtail_indices(train_targets, wanted, seed, rule=subset_rule)
    if val_source not in VAL_SOURCES:
        raise InputError(
            f"val_source={val_source!r} is not allowed; allowed: {', '.join(VAL_SOURCES)}"
        )
    if val_source == "leftover":
        if val_fraction:
            raise InputError(
                f"val_fraction={val_fraction!r} is not allowed with val_source='leftover', which "
                "draws val_per_class images per class from the left-out images; allowed: 0"
            )
        train, val, moved = leftover_split(train_targets, pool, val_per_class, seed)
        record = {
            "source": "leftover",
            "per_class": int(val_per_class),
            "images": int(len(val)),
            "moved_from_training": {classes[c]: int(n) for c, n in enumerate(moved) if n},
            "moved_total": int(moved.sum()),
            "description": VAL_SOURCES["leftover"],
        }
    else:
        tr, va = stratified_split(train_targets[pool], val_fraction, seed)
        train, val = pool[tr], pool[va]
        record = {
            "source": "fraction",
            "fraction": float(val_fraction),
            "images": int(len(val)),
            "description": VAL_SOURCES["fraction"],
        }
    counts = np.bincount(train_targets[train], minlength=num_classes).astype(np.int64)
    require_training_images(
        counts, classes, f"{where} (imbalance={imbalance!r}, profile={profile!r})"
    )
    if split == "val" and not len(val):
        raise InputError(
            f"split='val' of {where} is empty with val_fraction=0; pass val_fraction > 0 "
            "(e.g. 0.2) to carve a validation set from the long-tailed training set, or "
            "val_source='leftover' to draw one from the images the profile leaves out"
        )
    return {"train": train, "val": val, "test": None}[split], counts, record


class LTDataset(Dataset):
    """Base of every ltzoo dataset: ``targets``, ``classes``, ``num_classes``, ``class_counts``.

    Subclasses set ``targets`` (int64), ``classes`` (names), ``class_counts`` (TRAINING split
    counts, int64) and ``split``, and implement ``_load(index) -> image``.
    """

    name = "dataset"
    mean: Tuple[float, ...] = (0.5, 0.5, 0.5)
    std: Tuple[float, ...] = (0.5, 0.5, 0.5)
    transform_preset = "imagenet"
    targets: np.ndarray
    classes: list
    class_counts: np.ndarray
    split: str
    transform: Optional[Callable] = None
    subset_rule: Optional[str] = None  # which images a profile kept (None: no subsampling)
    split_record: Optional[dict] = (
        None  # the split files read and their check (ltzoo.data.official)
    )
    validation: Optional[dict] = (
        None  # where the validation split comes from (split_indices' record)
    )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        image = self._load(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])

    def data_record(self) -> dict:
        """What a run records about its data: the dataset, the subset rule, the split files."""
        rule = (
            subset_rule_record(self.subset_rule)
            if self.subset_rule
            else {
                "name": "none",
                "description": "no subsampling: every image of the training list or tree is kept",
            }
        )
        record = {"dataset": self.name, "subset_rule": rule, **(self.split_record or {})}
        if self.validation is not None:
            record["validation"] = self.validation
        return record

    def groups(self, many: int = 100, few: int = 20):
        """Many/Medium/Few and head/tail class indices from the training counts."""
        return class_groups(self.class_counts, many=many, few=few)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"classes={self.num_classes}, train_total={int(self.class_counts.sum())})"
        )


def data_record(*datasets: Optional[LTDataset]) -> dict:
    """A run's data record: the first dataset's (its training split), with the split files that any
    of ``datasets`` (train, test, val; ``None`` skipped) read, each once, and under ``digest`` the
    digest of the training and test lists (:func:`ltzoo.data.identity.data_digest`)."""
    record = datasets[0].data_record()
    if len(datasets) > 1 and datasets[1] is not None:
        record["digest"] = data_digest(datasets[0], datasets[1])
    if "split_files" in record:
        files = {}
        for ds in datasets:
            for f in (ds.split_record or {}).get("split_files", []) if ds is not None else []:
                files.setdefault(f["file"], f)
        record["split_files"] = list(files.values())
    return record


class ArrayLTDataset(LTDataset):
    """An in-memory dataset: ``data`` is a uint8 array (N, H, W, C) of the split.

    Without ``transform``, ``__getitem__`` returns a float32 tensor (C, H, W) in [0, 1] (the
    array divided by 255); with one, the transform receives a PIL image ("L" or "RGB"), as for
    torchvision's datasets.
    """

    def __init__(
        self,
        train_x,
        train_y,
        test_x,
        test_y,
        classes,
        *,
        split="train",
        imbalance=100,
        profile="exp",
        seed=0,
        val_fraction=0.0,
        transform=None,
        n_max=None,
        subset_rule=DEFAULT_SUBSET_RULE,
        val_source="fraction",
        val_per_class=20,
    ):
        self.classes = [str(c) for c in classes]
        self.split = check_split(split)
        test_y = check_labels(test_y, len(self.classes), f"the test set of {self.name}")
        idx, self.class_counts, self.validation = split_indices(
            train_y,
            self.classes,
            split,
            imbalance=imbalance,
            profile=profile,
            seed=seed,
            val_fraction=val_fraction,
            n_max=n_max,
            where=self.name,
            subset_rule=subset_rule,
            val_source=val_source,
            val_per_class=val_per_class,
        )
        self.subset_rule = subset_rule if profile is not None else None
        x, y = (test_x, test_y) if idx is None else (train_x[idx], np.asarray(train_y)[idx])
        # each item's index into the official array of its split (the data digest lists them)
        self.indices = np.arange(len(test_y)) if idx is None else np.asarray(idx)
        if x.ndim == 3:
            x = x[..., None]
        self.data = np.ascontiguousarray(x, dtype=np.uint8)
        self.targets = np.asarray(y, dtype=np.int64)
        self.transform = transform

    def _load(self, index: int):
        image = self.data[index]
        if self.transform is None:
            return torch.from_numpy(image).permute(2, 0, 1).float().div_(255)
        return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
