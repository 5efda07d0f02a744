"""``cifar10_lt`` / ``cifar100_lt``: CIFAR-10/100 (Krizhevsky, 2009) made long-tailed.

The exponential profile at IF 100 keeps 12,406 (CIFAR-10-LT) / 10,847 (CIFAR-100-LT) training
images (Cui et al. CVPR'19; Cao et al. NeurIPS'19); the test sets stay the official balanced
10,000 images. ``root`` may hold either

* ``train.npz`` + ``test.npz`` (keys ``x`` uint8 (N, 32, 32, 3), ``y`` int64, ``classes``), or
* torchvision's layout, ``cifar-10-batches-py/`` or ``cifar-100-python/``, read with
  ``torchvision.datasets.CIFAR10/100`` (md5-checked); ``download=True`` (``data.download: true``)
  fetches it there on first use.

``root`` goes through :func:`ltzoo.data.roots.resolve_root` (``LTZOO_DATA_ROOT`` moves the
project's ``data/`` folder).

Which images a seed keeps is the ``subset_rule`` (:data:`ltzoo.data.longtail.SUBSET_RULES`, recorded
in every run's ``results.json``): ltzoo's ``"per_class_permutation"`` by default; ``"global_shuffle"``
keeps the images Cao et al.'s LDAM-DRW code (NeurIPS'19) keeps from the official pickle order (the
order torchvision's loader keeps; an npz root keeps its own order); ``"first_n"`` the first images of
each class in file order.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ltzoo.data.base import ArrayLTDataset
from ltzoo.data.roots import resolve_root, where_to_get
from ltzoo.data.stats import MEAN_STD
from ltzoo.errors import InputError
from ltzoo.registry import DATASETS


def _missing(name: str, root, folder: str) -> FileNotFoundError:
    looked = (
        f"Looked for {os.path.join(str(root), 'train.npz')} + test.npz and for torchvision's "
        f"{os.path.join(str(root), folder)}/"
        if root is not None
        else "No root was given"
    )
    return FileNotFoundError(
        f"{name}: no CIFAR data under root={root!r}. {looked}. To download it there through "
        f"torchvision (md5-checked), add --set data.download=true (data.download: true in a recipe, "
        f"create_dataset({name!r}, root=..., download=True) in Python); {where_to_get()}"
    )


def _read_npz(path: str):
    """``(x, y, classes or None)`` of one npz file; ``InputError`` naming it when it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("x", "y") if k not in z.files]
            if missing:
                raise InputError(
                    f"{path} lacks the key(s) {missing}; expected x (N,32,32,3) uint8 and y"
                )
            return z["x"], z["y"], [str(c) for c in z["classes"]] if "classes" in z.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(
            f"{path} is not a readable npz archive ({error}); the file is damaged or truncated: "
            "copy it again (expected keys x (N,32,32,3) uint8, y, classes)"
        ) from None


def load_cifar(name: str, root, num_classes: int, download: bool = False):
    """``(train_x, train_y, test_x, test_y, classes)`` from an npz root or torchvision's layout."""
    folder = "cifar-10-batches-py" if num_classes == 10 else "cifar-100-python"
    if root is None:
        raise _missing(name, root, folder)
    root = resolve_root(root)
    npz = [os.path.join(root, f"{part}.npz") for part in ("train", "test")]
    if all(os.path.isfile(p) for p in npz):
        arrays = [_read_npz(path) for path in npz]
        (train_x, train_y, classes), (test_x, test_y, _) = arrays
        classes = classes or [str(c) for c in range(num_classes)]
        if len(classes) != num_classes:
            raise InputError(f"{npz[0]} lists {len(classes)} classes; {name} has {num_classes}")
        return train_x, train_y, test_x, test_y, classes
    if not (download or os.path.isdir(os.path.join(root, folder))):
        raise _missing(name, root, folder)
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = CIFAR10 if num_classes == 10 else CIFAR100
    train = cls(root, train=True, download=download)
    test = cls(root, train=False)
    return (
        train.data,
        np.asarray(train.targets),
        test.data,
        np.asarray(test.targets),
        list(train.classes),
    )


class _CIFARLT(ArrayLTDataset):
    transform_preset = "cifar"
    _num_classes = 10

    def __init__(
        self,
        split="train",
        root=None,
        imbalance=100,
        profile="exp",
        seed=0,
        val_fraction=0.0,
        transform=None,
        download=False,
        n_max=None,
        subset_rule="per_class_permutation",
        val_source="fraction",
        val_per_class=20,
    ):
        train_x, train_y, test_x, test_y, classes = load_cifar(
            self.name, root, self._num_classes, download
        )
        super().__init__(
            train_x,
            train_y,
            test_x,
            test_y,
            classes,
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


@DATASETS.register("cifar10_lt")
class CIFAR10LT(_CIFARLT):
    """CIFAR-10-LT (n_max 5,000): 12,406 training images at exponential IF 100."""

    name = "cifar10_lt"
    mean, std = MEAN_STD["cifar10"]
    _num_classes = 10


@DATASETS.register("cifar100_lt")
class CIFAR100LT(_CIFARLT):
    """CIFAR-100-LT (n_max 500): 10,847 / 12,608 / 19,573 training images at IF 100 / 50 / 10."""

    name = "cifar100_lt"
    mean, std = MEAN_STD["cifar100"]
    _num_classes = 100
