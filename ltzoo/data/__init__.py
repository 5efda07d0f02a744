"""ltzoo's data layer: long-tailed datasets, samplers and transform presets, by name.

>>> from ltzoo.data import create_dataset, create_sampler, create_transform
>>> train = create_dataset("digits_lt", imbalance=20)          # 489 real 8x8 digits, IF 20
>>> sampler = create_sampler("class_balanced", train.targets, seed=0)
>>> tf = create_transform("digits", train=True, mean=train.mean, std=train.std)

Splits: ``"train"`` = the long-tailed subset minus the stratified ``val_fraction``; ``"val"`` =
that fraction; ``"test"`` = the official balanced test set (see :mod:`ltzoo.data.base`).
"""

from __future__ import annotations

from ltzoo.data import (  # noqa: F401  (registers)
    batch_samplers,
    cifar,
    digits,
    fashion_mnist,
    folder,
    imagenet_lt,
    inat,
    places_lt,
)
from ltzoo.data.base import SPLITS, ArrayLTDataset, LTDataset
from ltzoo.data.files import FileLTDataset, UnreadableImageError
from ltzoo.data.longtail import (
    class_groups,
    exponential_profile,
    longtail_indices,
    make_profile,
    parse_imbalance,
    step_profile,
    stratified_split,
)
from ltzoo.data.roots import resolve_root
from ltzoo.data.samplers import create_sampler, list_samplers
from ltzoo.data.stats import MEAN_STD
from ltzoo.data.transforms import create_transform, list_transforms
from ltzoo.registry import DATASETS, check_options


def create_dataset(
    name: str,
    split: str = "train",
    root=None,
    imbalance=100,
    profile: str = "exp",
    seed: int = 0,
    val_fraction: float = 0.0,
    transform=None,
    **kwargs,
) -> LTDataset:
    """The dataset registered as ``name``, split ``"train"``/``"val"``/``"test"``.

    ``imbalance`` is the factor ``IF`` (100) or the ratio (0.01), see
    :func:`~ltzoo.data.longtail.parse_imbalance`; ``profile`` is ``"exp"``, ``"step"`` or
    ``"none"`` (ignored by ``imagenet_lt``, ``inat2018`` and ``places_lt``, long-tailed already).
    ``root`` goes through :func:`~ltzoo.data.roots.resolve_root` (``LTZOO_DATA_ROOT`` moves the
    project's ``data/`` folder). Extra options (``download``, ``n_max``, ``split_dir``,
    ``skip_corrupt``, ``official_split``, ...) depend on the dataset; an unknown name or option
    raises with the valid ones.
    """
    cls = DATASETS.get(name)
    check_options(
        "dataset",
        name,
        cls.__init__,
        kwargs,
        fixed=("split", "root", "imbalance", "profile", "seed", "val_fraction", "transform"),
    )
    return cls(
        split=split,
        root=resolve_root(root),
        imbalance=imbalance,
        profile=profile,
        seed=seed,
        val_fraction=val_fraction,
        transform=transform,
        **kwargs,
    )


def list_datasets(pattern: str = "*"):
    return DATASETS.names(pattern)


__all__ = [
    "ArrayLTDataset",
    "FileLTDataset",
    "LTDataset",
    "MEAN_STD",
    "SPLITS",
    "UnreadableImageError",
    "class_groups",
    "create_dataset",
    "create_sampler",
    "create_transform",
    "exponential_profile",
    "list_datasets",
    "list_samplers",
    "list_transforms",
    "longtail_indices",
    "make_profile",
    "parse_imbalance",
    "step_profile",
    "stratified_split",
]
