"""``places_lt``: Places-LT (Liu et al., "Large-Scale Long-Tailed Recognition in an Open World",
CVPR'19; reported by Kang et al., ICLR'20): 365 scene classes of Places-365 (Zhou et al., TPAMI'18),
62,500 training images (4,980 down to 5 per class), official lists ``Places_LT_{train,val,test}.txt``
of ``relative/path label`` lines (7,300 validation and 36,500 test images: 20 and 100 per class).

As for ImageNet-LT, ``root`` is the image root the relative paths start from and the lists are
read from ``split_dir`` (default: ``root``); ``imbalance``/``profile`` are ignored. Class names are
the scene's folder path after Places' one-letter folder (``/a/airfield/x.jpg`` -> ``airfield``,
``/a/apartment_building/outdoor/x.jpg`` -> ``apartment_building/outdoor``).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import List

from ltzoo.data.files import Samples
from ltzoo.data.imagenet_lt import OLTRListDataset
from ltzoo.registry import DATASETS


def scene_name(path: str) -> str:
    """``.../a/apartment_building/outdoor/x.jpg`` -> ``apartment_building/outdoor``."""
    parts = PurePosixPath(path.replace("\\", "/")).parts[:-1]
    letters = [i for i, p in enumerate(parts) if len(p) == 1 and p.isalpha()]
    return (
        "/".join(parts[letters[-1] + 1 :])
        if letters and letters[-1] + 1 < len(parts)
        else (parts[-1] if parts else "")
    )


@DATASETS.register("places_lt")
class PlacesLT(OLTRListDataset):
    name = "places_lt"
    list_prefix = "Places_LT"
    how_to_get = (
        "Get the lists from https://github.com/zhmiao/OpenLongTailRecognition-OLTR (Places_LT_open) "
        "and the images from Places-365-Standard, 256x256 (http://places2.csail.mit.edu)"
    )

    @classmethod
    def class_names(cls, train: Samples, num_classes: int) -> List[str]:
        names = [f"class_{c}" for c in range(num_classes)]
        for path, label in reversed(train):  # the first image of each class wins
            names[label] = scene_name(path) or names[label]
        return names
