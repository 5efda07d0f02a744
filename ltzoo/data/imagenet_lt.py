"""``imagenet_lt``: ImageNet-LT (Liu et al., "Large-Scale Long-Tailed Recognition in an Open
World", CVPR'19): 1,000 ImageNet classes, 115,846 training images (1,280 down to 5 per class),
official lists ``ImageNet_LT_{train,val,test}.txt`` of ``relative/path label`` lines.

The training list is long-tailed already: ``imbalance`` and ``profile`` are ignored.
``root`` is the image root the relative paths start from; the lists are read from
``split_dir`` (default: ``root``). ``split="val"`` is the official ``ImageNet_LT_val.txt`` (20
per class) unless ``val_fraction > 0`` carves one from the training list; ``"test"`` is
``ImageNet_LT_test.txt`` (50 per class). Every list read is checked against the official one
(:mod:`ltzoo.data.official`) unless ``official_split=False``.
"""

from __future__ import annotations

import os
from typing import Dict, List, Tuple

from ltzoo.data.files import FileLTDataset, Samples, names_from_parents, read_list
from ltzoo.data.official import SplitChecks
from ltzoo.data.stats import MEAN_STD
from ltzoo.registry import DATASETS


class OLTRListDataset(FileLTDataset):
    """A benchmark given as OLTR's ``<list_prefix>_{train,val,test}.txt`` lists (Liu et al., CVPR'19)."""

    mean, std = MEAN_STD["imagenet"]
    transform_preset = "imagenet"
    list_prefix = "ImageNet_LT"
    how_to_get = ""

    @classmethod
    def list_paths(cls, root, split_dir=None) -> Dict[str, str]:
        if root is None:
            raise FileNotFoundError(
                f"{cls.name} needs root= (the image root of {cls.list_prefix}_train.txt). "
                + cls.how_to_get
            )
        split_dir = os.path.expanduser(str(split_dir if split_dir is not None else root))
        return {
            s: os.path.join(split_dir, f"{cls.list_prefix}_{s}.txt")
            for s in ("train", "val", "test")
        }

    @classmethod
    def require(cls, paths: Dict[str, str], needed: List[str]) -> None:
        missing = [paths[s] for s in needed if not os.path.isfile(paths[s])]
        if missing:
            raise FileNotFoundError(
                f"{cls.name}: missing {', '.join(missing)} (looked for "
                f"{', '.join(os.path.basename(paths[s]) for s in needed)} in "
                f"{os.path.dirname(paths['train'])}). {cls.how_to_get}"
            )

    @classmethod
    def read_split_files(cls, root, split_dir=None) -> Tuple[Dict[str, Samples], List[str]]:
        """``({path: samples}, class names)`` of every official list (train, val, test): what
        ``ltzoo data check`` verifies."""
        paths = cls.list_paths(root, split_dir)
        cls.require(paths, ["train", "val", "test"])
        image_root = os.path.expanduser(str(root))
        files = {paths[s]: read_list(paths[s], image_root) for s in ("train", "val", "test")}
        train = files[paths["train"]]
        return files, cls.class_names(train, max(label for _, label in train) + 1)

    @classmethod
    def class_names(cls, train: Samples, num_classes: int) -> List[str]:
        return names_from_parents(train, num_classes)

    def __init__(
        self,
        split="train",
        root=None,
        imbalance=100,
        profile="exp",
        seed=0,
        val_fraction=0.0,
        transform=None,
        split_dir=None,
        num_classes=None,
        skip_corrupt=False,
        official_split=True,
    ):
        paths = self.list_paths(root, split_dir)
        root = os.path.expanduser(str(root))
        needed = ["train", "test"] + (["val"] if split == "val" and not val_fraction else [])
        self.require(paths, needed)
        checks = SplitChecks(self.name, official_split)
        train = checks.checked(paths["train"], read_list(paths["train"], root, num_classes))
        if num_classes is None:
            num_classes = max(label for _, label in train) + 1
        test = checks.checked(paths["test"], read_list(paths["test"], root, num_classes))
        val = (
            checks.checked(paths["val"], read_list(paths["val"], root, num_classes))
            if "val" in needed
            else None
        )
        super().__init__(
            train,
            test,
            self.class_names(train, num_classes),
            split=split,
            imbalance=imbalance,
            profile=None,
            seed=seed,
            val_fraction=val_fraction,
            transform=transform,
            official_val=val,
            skip_corrupt=skip_corrupt,
            sources=paths,
        )
        self.split_record = checks.record()


@DATASETS.register("imagenet_lt")
class ImageNetLT(OLTRListDataset):
    name = "imagenet_lt"
    list_prefix = "ImageNet_LT"
    how_to_get = (
        "Get the lists from https://github.com/zhmiao/OpenLongTailRecognition-OLTR "
        "(ImageNet_LT_open) and the images from ILSVRC 2012 (https://image-net.org)"
    )
