"""The official split files of the long-tailed benchmarks, as data, and the check of what was loaded.

ImageNet-LT and Places-LT are the lists of Liu et al., "Large-Scale Long-Tailed Recognition in an
Open World" (OLTR, CVPR'19), reported by Kang et al. (ICLR'20); iNaturalist 2018 is Van Horn et
al. (CVPR'18), as the COCO-style annotation files or the lists of Kang et al. (ICLR'20). A file
whose image count, class count or (where known) SHA-256 differs from the table is refused, naming
the file, what was expected and what was found, unless the split is declared the user's own
(``official_split=False``, ``data.official_split: false`` in a recipe); the run records say so.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ltzoo.errors import InputError


@dataclass(frozen=True)
class SplitFile:
    images: int
    classes: int
    sha256: Optional[str] = None


# dataset -> file name -> what the official file holds
OFFICIAL_SPLITS: Dict[str, Dict[str, SplitFile]] = {
    "imagenet_lt": {
        "ImageNet_LT_train.txt": SplitFile(115_846, 1_000),
        "ImageNet_LT_val.txt": SplitFile(
            20_000, 1_000, "9af7ba688acf9532ff5845a8fb14a1e97fdc4c51ac48bc72c08ea9c3f7ff142e"
        ),
        "ImageNet_LT_test.txt": SplitFile(
            50_000, 1_000, "d1590191cf8a71fada7b1aaedaa2d139a2aea93ff2f1b755319d0bd8dbaa55d5"
        ),
    },
    "inat2018": {
        "train2018.json": SplitFile(437_513, 8_142),
        "val2018.json": SplitFile(24_426, 8_142),
        "iNaturalist18_train.txt": SplitFile(437_513, 8_142),
        "iNaturalist18_val.txt": SplitFile(
            24_426, 8_142, "efaeff65f80641b60864470e6f255aa69453406ef5717eec8c6681748f3a61f3"
        ),
    },
    "places_lt": {
        "Places_LT_train.txt": SplitFile(62_500, 365),
        "Places_LT_val.txt": SplitFile(7_300, 365),
        "Places_LT_test.txt": SplitFile(36_500, 365),
    },
}


class SplitMismatchError(InputError):
    """A split file that is not the benchmark's official one."""


def sha256_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def check_split_file(
    dataset: str, path: str, samples: Sequence[Tuple[str, int]], official: bool = True
) -> Dict[str, Any]:
    """The record of one split file (``file``, ``images``, ``classes``, ``sha256``, ``matches_official``).

    With ``official=True`` a file that differs from ``OFFICIAL_SPLITS`` raises
    :class:`SplitMismatchError` naming the file, the expected and the found values.
    """
    name = os.path.basename(path)
    expected = OFFICIAL_SPLITS[dataset][name]
    found = SplitFile(len(samples), len({label for _, label in samples}), sha256_of(path))
    wrong = [
        field
        for field in ("images", "classes", "sha256")
        if getattr(expected, field) is not None
        and getattr(expected, field) != getattr(found, field)
    ]
    if wrong and official:

        def describe(s: SplitFile) -> str:
            return f"{s.images:,} images in {s.classes:,} classes" + (
                f", sha256 {s.sha256}" if "sha256" in wrong else ""
            )

        raise SplitMismatchError(
            f"{path} is not the official {dataset} {name}: expected {describe(expected)}, found {describe(found)}; "
            "if this split is your own, set data.official_split: false (official_split=False)"
        )
    return {
        "file": name,
        "images": found.images,
        "classes": found.classes,
        "sha256": found.sha256,
        "matches_official": not wrong,
    }


def split_record(files: List[Dict[str, Any]], official: bool) -> Dict[str, Any]:
    """What a run records about its split: declared official or not, and each file's record."""
    return {"official_split": bool(official), "split_files": files}


def check_dataset(name: str, root, split_dir=None):
    """Yield the record of every split file of dataset ``name`` found under ``split_dir`` (default
    ``root``); the first file that is not the official one raises :class:`SplitMismatchError`."""
    from ltzoo.registry import DATASETS

    cls = DATASETS.get(name)
    if name not in OFFICIAL_SPLITS or not hasattr(cls, "read_split_files"):
        raise InputError(
            f"dataset {name!r} has no official split files to check; datasets with them: "
            f"{', '.join(sorted(OFFICIAL_SPLITS))}"
        )
    files, _ = cls.read_split_files(root, split_dir)
    for path, samples in files.items():
        yield check_split_file(name, path, samples, official=True)


class SplitChecks:
    """Collects the records of the split files a dataset reads, checking each against the table."""

    def __init__(self, dataset: str, official: bool = True):
        if not isinstance(official, bool):
            raise InputError(f"official_split={official!r} is not allowed; expected true or false")
        self.dataset, self.official, self.files = dataset, official, []

    def checked(self, path: str, samples):
        self.files.append(check_split_file(self.dataset, path, samples, self.official))
        return samples

    def record(self) -> Dict[str, Any]:
        return split_record(self.files, self.official)
