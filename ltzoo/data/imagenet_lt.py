"""``imagenet_lt``: ImageNet-LT (Liu et al., "Large-Scale Long-Tailed Recognition in an Open
World", CVPR'19): 1,000 ImageNet classes, 115,846 training images (1,280 down to 5 per class),
official lists ``ImageNet_LT_{train,val,test}.txt`` of ``relative/path label`` lines.

The training list is long-tailed already: ``imbalance`` and ``profile`` are ignored.
``root`` is the image root the relative paths start from; the lists are read from
``split_dir`` (default: ``root``). ``split="val"`` is the official ``ImageNet_LT_val.txt`` (20
per class) unless ``val_fraction > 0`` carves one from the training list; ``"test"`` is
``ImageNet_LT_test.txt`` (50 per class).
"""

from __future__ import annotations

import os

from ltzoo.data.files import FileLTDataset, names_from_parents, read_list
from ltzoo.data.stats import MEAN_STD
from ltzoo.registry import DATASETS

LIST_NAMES = {split: f"ImageNet_LT_{split}.txt" for split in ("train", "val", "test")}
HOW_TO_GET = ("Get the lists from https://github.com/zhmiao/OpenLongTailRecognition-OLTR "
              "(ImageNet_LT_open) and the images from ILSVRC 2012 (https://image-net.org)")


@DATASETS.register("imagenet_lt")
class ImageNetLT(FileLTDataset):
    name = "imagenet_lt"
    mean, std = MEAN_STD["imagenet"]
    transform_preset = "imagenet"

    def __init__(self, split="train", root=None, imbalance=100, profile="exp", seed=0,
                 val_fraction=0.0, transform=None, split_dir=None, num_classes=None,
                 skip_corrupt=False):
        if root is None:
            raise FileNotFoundError(f"imagenet_lt needs root= (the image root of {LIST_NAMES['train']}). "
                                    + HOW_TO_GET)
        root = os.path.expanduser(str(root))
        split_dir = os.path.expanduser(str(split_dir)) if split_dir is not None else root
        paths = {s: os.path.join(split_dir, n) for s, n in LIST_NAMES.items()}
        needed = ["train", "test"] + (["val"] if split == "val" and not val_fraction else [])
        missing = [paths[s] for s in needed if not os.path.isfile(paths[s])]
        if missing:
            raise FileNotFoundError(f"imagenet_lt: missing {', '.join(missing)} (looked for "
                                    f"{', '.join(LIST_NAMES[s] for s in needed)} in {split_dir}). {HOW_TO_GET}")
        train = read_list(paths["train"], root, num_classes)
        if num_classes is None:
            num_classes = max(label for _, label in train) + 1
        test = read_list(paths["test"], root, num_classes)
        val = read_list(paths["val"], root, num_classes) if "val" in needed else None
        super().__init__(train, test, names_from_parents(train, num_classes), split=split,
                         imbalance=imbalance, profile=None, seed=seed, val_fraction=val_fraction,
                         transform=transform, official_val=val, skip_corrupt=skip_corrupt)
