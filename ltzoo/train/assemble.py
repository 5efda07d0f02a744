"""What a recipe builds before training: its datasets (with the preset's transforms), the data
config the model is trained with, and its model. Used by the run, reloading, ``stage1.from_run``,
calibration, tuning and reporting."""

from __future__ import annotations

from typing import Any, Dict

from ltzoo.data import create_dataset
from ltzoo.data.transforms import create_transform, eval_data_config
from ltzoo.factory import create_model
from ltzoo.train.config import RunConfig


def build_datasets(cfg: RunConfig) -> Dict[str, Any]:
    """train (augmented), train_plain (no augmentation, for features), val and test splits."""
    d = cfg.data
    common = dict(
        root=d.root,
        imbalance=d.imbalance,
        profile=d.profile,
        seed=d.seed,
        val_fraction=d.val_fraction,
    )
    if d.download:  # only the datasets torchvision can fetch take it
        common["download"] = True
    if not d.official_split:  # only the datasets with official split files take it
        common["official_split"] = False
    if d.subset_rule != "per_class_permutation":  # only the datasets a profile subsamples take it
        common["subset_rule"] = d.subset_rule
    if (
        d.val_source != "fraction"
    ):  # only the datasets that can draw from the left-out images take it
        common.update(val_source=d.val_source, val_per_class=d.val_per_class)
    probe = create_dataset(d.dataset, split="test", **common)
    mean, std = tuple(probe.mean), tuple(probe.std)
    train_tf = create_transform(d.transform, train=True, mean=mean, std=std, **d.transform_kwargs)
    eval_tf = create_transform(d.transform, train=False, mean=mean, std=std, **d.transform_kwargs)
    splits = {
        "train": create_dataset(d.dataset, split="train", transform=train_tf, **common),
        "train_plain": create_dataset(d.dataset, split="train", transform=eval_tf, **common),
        "test": create_dataset(d.dataset, split="test", transform=eval_tf, **common),
    }
    splits["val"] = None
    try:  # carved from training (val_fraction > 0), or the dataset's official list (ImageNet-LT)
        splits["val"] = create_dataset(d.dataset, split="val", transform=eval_tf, **common)
    except ValueError:
        if d.val_fraction > 0 or d.val_source != "fraction":
            raise
    return splits


def input_config(dataset, data=None) -> Dict[str, Any]:
    """The data config (timm's keys) the model is trained with; with ``data`` (the recipe's data
    section) also the eval transform's crop and interpolation (``ltzoo predict`` reads them)."""
    image, _ = dataset[0]
    config = {
        "input_size": tuple(image.shape),
        "mean": tuple(dataset.mean),
        "std": tuple(dataset.std),
    }
    return (
        {**eval_data_config(data.transform, **data.transform_kwargs), **config}
        if data is not None
        else config
    )


def build_model(cfg: RunConfig, num_classes: int, in_chans: int):
    """The recipe's model (``model.name``, ``model.backbone``, ``model.kwargs``) for ``num_classes`` classes."""
    kwargs = dict(cfg.model.kwargs)
    if cfg.model.backbone is not None:
        kwargs["backbone"] = cfg.model.backbone
    return create_model(cfg.model.name, num_classes=num_classes, in_chans=in_chans, **kwargs)


__all__ = ["build_datasets", "build_model", "input_config"]
