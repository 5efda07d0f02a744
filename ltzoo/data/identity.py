"""What identifies a run's data: its class names, in label order, and a digest of its lists.

A run records both (``results.json``: ``class_names``, and ``data.digest``). Reloading a run on
data given again (``ltzoo eval``, ``ltzoo calibrate``, maybe with another root) compares the class
names of that data with the run's before any work (:func:`match_classes`): label ``i`` of the data
must mean what label ``i`` meant in training, or every number printed would be wrong.

The digest is SHA-256 over text lines, one per item, in this order:

* ``train<TAB>ITEM<TAB>LABEL`` for every item of the training split, sorted by (item, label);
* ``test<TAB>ITEM<TAB>LABEL`` likewise for the test split;
* ``counts<TAB>N0 N1 ...``: the training split's class counts;

each line ending in ``\\n``. ``ITEM`` is a file's path relative to the deepest folder holding every
listed file, with ``/`` as separator (file datasets: moving the tree keeps the digest), or the
index into the official array (array datasets: CIFAR, digits, Fashion-MNIST).
"""

from __future__ import annotations

import hashlib
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ltzoo.errors import InputError

DIGEST_SCHEME = (
    "sha256 over sorted 'split<TAB>item<TAB>label' lines of the training and test splits "
    "(item: path relative to the common folder, or index into the official array), then "
    "'counts<TAB>' and the training class counts"
)

Pairs = Sequence[Tuple[str, int]]


def list_digest(train: Pairs, test: Pairs, class_counts: Iterable[int]) -> str:
    """The hex SHA-256 of the lines described in the module docstring."""
    sha = hashlib.sha256()
    for split, pairs in (("train", train), ("test", test)):
        for item, label in sorted((str(i), int(y)) for i, y in pairs):
            sha.update(f"{split}\t{item}\t{label}\n".encode())
    sha.update(("counts\t" + " ".join(str(int(c)) for c in class_counts) + "\n").encode())
    return sha.hexdigest()


def _items(dataset, common: Optional[str]) -> List[Tuple[str, int]]:
    if hasattr(dataset, "samples"):  # a file dataset: (path, label)
        return [
            (os.path.relpath(path, common).replace(os.sep, "/"), int(label))
            for path, label in dataset.samples
        ]
    return [(str(int(i)), int(y)) for i, y in zip(dataset.indices, dataset.targets)]


def data_digest(train_set, test_set) -> Dict[str, str]:
    """``{"sha256": ..., "scheme": ...}`` of a run's training and test splits (ltzoo datasets)."""
    common = None
    if hasattr(train_set, "samples"):
        folders = {os.path.dirname(p) for ds in (train_set, test_set) for p, _ in ds.samples}
        common = os.path.commonpath(sorted(folders)) if folders else ""
    digest = list_digest(
        _items(train_set, common), _items(test_set, common), train_set.class_counts
    )
    return {"sha256": digest, "scheme": DIGEST_SCHEME}


def _quoted(names: Sequence[str], show: int = 5) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > show else ""
    return ", ".join(repr(n) for n in names[:show]) + more


def match_classes(
    run_names: Optional[Sequence[str]],
    data_names: Sequence[str],
    *,
    by_name: bool = False,
    run_count: Optional[int] = None,
    flag: str = "--allow-other-data",
) -> Optional[List[int]]:
    """How the data's labels map onto the run's: ``None`` when they are the same, else the list
    ``mapping[data label] = run label`` (only with ``by_name``). ``InputError`` in one line when
    they differ: the first position whose names differ, or how many classes are extra or missing.

    ``run_names=None`` (a run that stored no class names): only the count is compared, with
    ``run_count`` (the run's number of outputs); ``by_name`` then cannot map anything.
    """
    data_names = [str(n) for n in data_names]
    if run_names is None:
        if run_count is not None and run_count != len(data_names):
            raise InputError(
                f"the data has {len(data_names)} classes, the run has {run_count} outputs (the "
                "run stores no class names, so only the count can be compared)"
            )
        return None
    run_names = [str(n) for n in run_names]
    if run_names == data_names:
        return None
    if by_name:
        missing = [n for n in run_names if n not in set(data_names)]
        unknown = [n for n in data_names if n not in set(run_names)]
        if missing or unknown:
            parts = ([f"missing from the data: {_quoted(missing)}"] if missing else []) + (
                [f"unknown to the run: {_quoted(unknown)}"] if unknown else []
            )
            raise InputError(
                f"{flag} maps classes by name, but the class names differ ({'; '.join(parts)})"
            )
        where = {name: i for i, name in enumerate(run_names)}
        return [where[name] for name in data_names]
    hint = f"; pass {flag} to map the classes by name"
    if len(run_names) != len(data_names):
        extra = len(data_names) - len(run_names)
        longer = data_names if extra > 0 else run_names
        names = longer[min(len(run_names), len(data_names)) :]
        if run_names[: len(data_names)] == data_names[: len(run_names)]:
            which = "more" if extra > 0 else "fewer"
            raise InputError(
                f"the data has {abs(extra)} class{'es' if abs(extra) > 1 else ''} {which} than the "
                f"run ({len(data_names)} vs {len(run_names)}): {_quoted(names)}"
            )
    position = next(i for i, (a, b) in enumerate(zip(run_names, data_names)) if a != b)
    counts = (
        f" ({len(data_names)} classes vs the run's {len(run_names)})"
        if len(run_names) != len(data_names)
        else ""
    )
    raise InputError(
        f"class {position} of the data is {data_names[position]!r}, the run's class {position} "
        f"is {run_names[position]!r}{counts}: the labels would not mean what they meant in "
        f"training{hint if not set(run_names) ^ set(data_names) else ''}"
    )


def relabel(dataset, mapping: Sequence[int], classes: Sequence[str]) -> None:
    """Give ``dataset``'s items the run's labels (``mapping[data label] = run label``) and its
    class names, in place; its class counts are re-ordered likewise."""
    lookup = np.asarray(mapping, dtype=np.int64)
    dataset.targets = lookup[np.asarray(dataset.targets, dtype=np.int64)]
    if hasattr(dataset, "samples"):
        dataset.samples = [(path, int(lookup[label])) for path, label in dataset.samples]
    counts = np.zeros(len(classes), dtype=np.int64)
    counts[lookup] = np.asarray(dataset.class_counts, dtype=np.int64)
    dataset.class_counts = counts
    dataset.classes = list(classes)


__all__ = ["DIGEST_SCHEME", "data_digest", "list_digest", "match_classes", "relabel"]
