"""``inat2018``: iNaturalist 2018 (Van Horn et al., CVPR'18): 8,142 species, 437,513 training
images (1,000 down to 2 per class), long-tailed already (``imbalance``/``profile`` ignored).

Two annotation formats are read from ``split_dir`` (default: ``root``), the first found wins:

* the official COCO-style ``train2018.json`` / ``val2018.json``: ``images[]`` (``id``,
  ``file_name``), ``annotations[]`` (``image_id``, ``category_id``), ``categories[]`` (``id``,
  ``name``); category ids are mapped to ``0..C-1`` in sorted order (identity for 2018);
* the ``iNaturalist18_{train,val}.txt`` lists of ``relative/path label`` lines (Decoupling,
  Kang et al. ICLR'20).

As in the literature, ``split="test"`` is the official validation set (24,426 images, 3 per
class); ``"val"`` is carved from the training set with ``val_fraction``. The files read are checked
against the official ones (:mod:`ltzoo.data.official`) unless ``official_split=False``.
"""

from __future__ import annotations

import json
import os

from ltzoo.data.files import FileLTDataset, names_from_parents, read_list
from ltzoo.data.official import SplitChecks
from ltzoo.data.stats import MEAN_STD
from ltzoo.errors import InputError
from ltzoo.registry import DATASETS

JSON_NAMES = ("train2018.json", "val2018.json")
LIST_NAMES = ("iNaturalist18_train.txt", "iNaturalist18_val.txt")
HOW_TO_GET = (
    "Get train_val2018.tar.gz and the annotations from "
    "https://github.com/visipedia/inat_comp/tree/master/2018, or the iNaturalist18_*.txt "
    "lists from https://github.com/facebookresearch/classifier-balancing"
)


def read_coco_json(path: str, image_root: str, categories=None):
    """``(samples, category ids sorted, names)`` from one COCO-style iNaturalist annotation file."""
    try:
        with open(path, encoding="utf-8") as f:
            ann = json.load(f)
        files = {img["id"]: img["file_name"] for img in ann["images"]}
        if categories is None:
            cats = sorted(ann["categories"], key=lambda c: c["id"])
            categories = ([c["id"] for c in cats], [str(c.get("name", c["id"])) for c in cats])
        index = {cid: i for i, cid in enumerate(categories[0])}
        samples = []
        for a in ann["annotations"]:
            if a["category_id"] not in index:
                raise InputError(
                    f"{path}: annotation {a.get('id')!r} has category_id {a['category_id']!r}, "
                    f"which is not among the {len(index)} categories"
                )
            if a["image_id"] not in files:
                raise InputError(
                    f"{path}: annotation {a.get('id')!r} names the unknown image_id {a['image_id']!r}"
                )
            samples.append(
                (os.path.join(image_root, files[a["image_id"]]), index[a["category_id"]])
            )
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise InputError(
            f"{path} is not a COCO-style iNaturalist annotation file: {err!r}"
        ) from err
    return samples, categories


@DATASETS.register("inat2018")
class INaturalist2018(FileLTDataset):
    name = "inat2018"
    mean, std = MEAN_STD["inat2018"]
    transform_preset = "imagenet"

    @classmethod
    def read_split_files(cls, root, split_dir=None, num_classes=None):
        """``({path: samples} of the training and validation files, class names)``; the COCO-style
        json files win over the lists when both are there."""
        if root is None:
            raise FileNotFoundError(
                f"inat2018 needs root= (the folder holding train_val2018/). {HOW_TO_GET}"
            )
        root = os.path.expanduser(str(root))
        split_dir = os.path.expanduser(str(split_dir)) if split_dir is not None else root
        json_paths = [os.path.join(split_dir, n) for n in JSON_NAMES]
        list_paths = [os.path.join(split_dir, n) for n in LIST_NAMES]
        if all(os.path.isfile(p) for p in json_paths):
            train, categories = read_coco_json(json_paths[0], root)
            test, _ = read_coco_json(json_paths[1], root, categories)
            return dict(zip(json_paths, (train, test))), categories[1]
        if all(os.path.isfile(p) for p in list_paths):
            train = read_list(list_paths[0], root, num_classes)
            num_classes = num_classes or max(label for _, label in train) + 1
            test = read_list(list_paths[1], root, num_classes)
            return dict(zip(list_paths, (train, test))), names_from_parents(train, num_classes)
        raise FileNotFoundError(
            f"inat2018: no annotations in {split_dir}: looked for "
            f"{' + '.join(JSON_NAMES)} and for {' + '.join(LIST_NAMES)}. {HOW_TO_GET}"
        )

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
        files, classes = self.read_split_files(root, split_dir, num_classes)
        checks = SplitChecks(self.name, official_split)
        train, test = (checks.checked(path, samples) for path, samples in files.items())
        super().__init__(
            train,
            test,
            classes,
            split=split,
            imbalance=imbalance,
            profile=None,
            seed=seed,
            val_fraction=val_fraction,
            transform=transform,
            skip_corrupt=skip_corrupt,
            sources=dict(zip(("train", "test"), files)),
        )
        self.split_record = checks.record()
