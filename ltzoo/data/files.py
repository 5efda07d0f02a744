"""Datasets of image files: lazy PIL loading, ``path label`` lists, and the shared base class.

Images are opened on access with PIL and converted to RGB; without ``transform``
``__getitem__`` returns that PIL image (sizes differ, as with torchvision's ``ImageFolder``).
A listed file that does not exist fails at construction (every path of the split is stat'ed once),
naming the first missing ones and the list. An unreadable or truncated file raises
:class:`UnreadableImageError` naming its path; with ``skip_corrupt=True`` it is replaced, with a
warning naming it, by the next readable image of the same class, so the class histogram a sampler
draws is unchanged.
"""

from __future__ import annotations

import os
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ltzoo.data.base import LTDataset, check_split, split_indices
from ltzoo.data.longtail import DEFAULT_SUBSET_RULE
from ltzoo.errors import InputError

Samples = List[Tuple[str, int]]


class UnreadableImageError(OSError, InputError):
    """An image file that is missing, truncated or not an image (the ``ltzoo`` command prints it as
    one line naming the file)."""


def load_image(path: str, mode: str = "RGB") -> Image.Image:
    """The image at ``path`` in PIL ``mode`` ("RGB", or "L" for one channel), fully decoded (so a
    truncated file fails here)."""
    try:
        with Image.open(path) as img:
            return img.convert(mode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise UnreadableImageError(f"cannot read image {path}: {err}") from err


def read_list(list_path: str, image_root: str, num_classes: Optional[int] = None) -> Samples:
    """``relative/path label`` lines (ImageNet-LT, iNaturalist18 lists) as ``(abs path, label)``.

    Blank lines are skipped; a malformed line or a label outside ``[0, num_classes)`` raises
    ``InputError`` naming the file and line number.
    """
    samples = []
    with open(list_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(maxsplit=1)
            try:
                label = int(parts[1]) if len(parts) == 2 else None
            except ValueError:
                label = None
            if label is None:
                raise InputError(
                    f"{list_path}:{lineno}: expected 'relative/path label', got {line!r}"
                )
            if label < 0 or (num_classes is not None and label >= num_classes):
                bound = num_classes if num_classes is not None else "C"
                raise InputError(f"{list_path}:{lineno}: label {label} is outside [0, {bound})")
            samples.append((os.path.join(image_root, parts[0]), label))
    if not samples:
        raise InputError(f"{list_path} lists no images")
    return samples


def names_from_parents(samples: Samples, num_classes: int) -> List[str]:
    """Class names from the folder holding each class's first image (``n01440764``, ``7477``)."""
    names = [f"class_{c}" for c in range(num_classes)]
    seen = set()
    for path, label in samples:
        if label not in seen:
            seen.add(label)
            names[label] = os.path.basename(os.path.dirname(path)) or names[label]
    return names


def check_range(samples: Samples, num_classes: int, where: str) -> None:
    for path, label in samples:
        if not 0 <= label < num_classes:
            raise InputError(f"label {label} of {path} in {where} is outside [0, {num_classes})")


def check_files_exist(samples: Samples, source: str, show: int = 3) -> None:
    """Every path of ``samples`` exists (one stat each), else ``FileNotFoundError`` naming the first
    ``show`` missing ones and ``source`` (the list file that names them)."""
    missing = [path for path, _ in samples if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(
            f"{source} lists {len(missing):,} of {len(samples):,} images that do not exist, e.g. "
            f"{', '.join(missing[:show])}; check the image root (root=) the list's paths start from"
        )


class FileLTDataset(LTDataset):
    """Base of the file datasets; ``samples`` is the split's ``[(path, label), ...]``.

    ``profile=None`` (ImageNet-LT, iNaturalist: long-tailed already) keeps the official
    training list; ``official_val`` is used for ``split="val"`` when ``val_fraction == 0``.
    ``sources`` (``{"train": list file, "test": ..., "val": ...}``) names the files the samples were
    read from: the split's images are then checked to exist, naming its list when some do not.
    """

    def __init__(
        self,
        train: Samples,
        test: Samples,
        classes: Sequence[str],
        *,
        split="train",
        imbalance=100,
        profile=None,
        seed=0,
        val_fraction=0.0,
        transform=None,
        n_max=None,
        official_val: Optional[Samples] = None,
        skip_corrupt=False,
        subset_rule=DEFAULT_SUBSET_RULE,
        sources: Optional[Dict[str, str]] = None,
        val_source="fraction",
        val_per_class=20,
    ):
        self.classes = [str(c) for c in classes]
        self.split = check_split(split)
        self.transform, self.skip_corrupt, self.corrupt = transform, bool(skip_corrupt), set()
        check_range(train, len(self.classes), f"the training set of {self.name}")
        train_y = np.array([label for _, label in train], dtype=np.int64)
        use_official_val = (
            split == "val"
            and not val_fraction
            and val_source == "fraction"
            and official_val is not None
        )
        idx, self.class_counts, self.validation = split_indices(
            train_y,
            self.classes,
            "train" if use_official_val else split,
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
        if use_official_val:
            samples, source = list(official_val), "val"
        elif idx is None:
            samples, source = list(test), "test"
        else:
            samples, source = [train[i] for i in idx], "train"
        check_range(samples, len(self.classes), f"the {split} split of {self.name}")
        if sources is not None:
            check_files_exist(samples, sources[source])
        self.samples = samples
        self.targets = np.array([label for _, label in samples], dtype=np.int64)

    def _load(self, index: int):
        path = self.samples[index][0]
        try:
            return load_image(path)
        except UnreadableImageError as err:
            if not self.skip_corrupt:
                raise
            return self._replacement(index, err)

    def _replacement(self, index: int, err: Exception):
        if self.samples[index][0] not in self.corrupt:
            self.corrupt.add(self.samples[index][0])
            warnings.warn(
                f"skipping an unreadable image ({err}); using another image of class "
                f"{int(self.targets[index])} instead",
                RuntimeWarning,
                stacklevel=3,
            )
        same = np.flatnonzero(self.targets == self.targets[index])
        start = int(np.searchsorted(same, index))
        for j in np.roll(same, -start - 1):
            path = self.samples[j][0]
            if path in self.corrupt:
                continue
            try:
                return load_image(path)
            except UnreadableImageError:
                self.corrupt.add(path)
        raise UnreadableImageError(
            f"every image of class {int(self.targets[index])} "
            f"({self.classes[int(self.targets[index])]!r}) in the {self.split} "
            f"split is unreadable, e.g. {self.samples[index][0]}"
        )
