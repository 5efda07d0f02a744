"""``fashion_mnist_lt``: Fashion-MNIST (Xiao et al., 2017), 28x28 grey images, made long-tailed.

``root`` may be Debian's ``/usr/share/datasets/fashion-mnist`` (the default; ``apt-get install
dataset-fashion-mnist``) holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``, or a
torchvision root holding ``FashionMNIST/raw/`` with the same files, gzipped or not
(``download=True`` fetches that layout with ``torchvision.datasets.FashionMNIST``). The files are
IDX: a big-endian magic ``0x00000800 | type << 8 | ndim``, ``ndim`` uint32 sizes, then the data.
n_max is 6,000: the exponential profile at IF 100 keeps 14,886 training images.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from ltzoo.data.base import ArrayLTDataset
from ltzoo.data.stats import MEAN_STD
from ltzoo.registry import DATASETS

DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"
CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str) -> np.ndarray:
    """An IDX file (``.gz`` or plain) of unsigned bytes as a numpy uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"cannot read the IDX file {path}: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(
            f"{path} is not an IDX file of unsigned bytes (magic {raw[:4].hex()!r}, "
            "expected 000008xx)"
        )
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(
            f"{path} is truncated: header says {shape} ({int(np.prod(shape))} bytes), "
            f"found {data.size}"
        )
    return data.reshape(shape)


def _find(folder: str, stem: str):
    for name in (stem + ".gz", stem):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def load_fashion_mnist(root=None, download: bool = False):
    """``(train_x, train_y, test_x, test_y)`` from Debian's folder or torchvision's layout."""
    root = os.path.expanduser(str(root)) if root is not None else DEBIAN_ROOT
    if download:
        from torchvision.datasets import FashionMNIST

        FashionMNIST(root, train=True, download=True)
    folders = [root, os.path.join(root, "FashionMNIST", "raw")]
    for folder in folders:
        paths = [_find(folder, stem) for part in ("train", "test") for stem in FILES[part]]
        if all(paths):
            tr_x, tr_y, te_x, te_y = (read_idx(p) for p in paths)
            return tr_x, tr_y.astype(np.int64), te_x, te_y.astype(np.int64)
    wanted = ", ".join(s + "[.gz]" for part in ("train", "test") for s in FILES[part])
    raise FileNotFoundError(
        f"fashion_mnist_lt: no Fashion-MNIST under root={root!r}. Looked in {' and '.join(folders)} for "
        f"{wanted}. Get it with `apt-get install dataset-fashion-mnist` (puts them in {DEBIAN_ROOT}) "
        "or pass download=True (torchvision layout)"
    )


@DATASETS.register("fashion_mnist_lt")
class FashionMNISTLT(ArrayLTDataset):
    """Long-tailed Fashion-MNIST; ``data`` is uint8 (N, 28, 28, 1)."""

    name = "fashion_mnist_lt"
    mean, std = MEAN_STD["fashion_mnist"]
    transform_preset = "mnist"

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
        train_x, train_y, test_x, test_y = load_fashion_mnist(root, download)
        super().__init__(
            train_x,
            train_y,
            test_x,
            test_y,
            CLASSES,
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
