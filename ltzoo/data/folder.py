"""``folder_lt``: any ImageFolder tree (``class_name/image.jpg``), optionally made long-tailed.

Files are found with torchvision's ``ImageFolder`` rules (class folders sorted by name, the
usual image extensions). ``root`` either holds ``train/`` and ``test/`` (or ``val/``) trees, or
is itself the training tree (then there is no ``"test"`` split). The ``profile`` (``"exp"``,
``"step"``) is applied to the training tree with ``n_max`` = its largest class unless given; a
class with fewer images than the profile asks for is an error. ``profile="none"`` keeps every
image (a tree that is long-tailed already), or exactly ``n_max`` per class when ``n_max`` is given.
"""

from __future__ import annotations

import os

from ltzoo.data.files import FileLTDataset
from ltzoo.data.stats import MEAN_STD
from ltzoo.errors import InputError
from ltzoo.registry import DATASETS


def scan(folder: str, class_to_idx=None):
    """``(samples, classes)`` of an ImageFolder tree (torchvision's discovery rules)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    if class_to_idx is None:
        classes, class_to_idx = find_classes(folder)
    else:
        classes = sorted(class_to_idx, key=class_to_idx.get)
        extra = sorted(set(find_classes(folder)[0]) - set(class_to_idx))
        if extra:
            raise InputError(f"{folder} has class folders {extra} that the training tree lacks")
    samples = make_dataset(folder, class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    return samples, classes


@DATASETS.register("folder_lt")
class FolderLT(FileLTDataset):
    name = "folder_lt"
    mean, std = MEAN_STD["imagenet"]
    transform_preset = "imagenet"

    def __init__(
        self,
        split="train",
        root=None,
        imbalance=100,
        profile="exp",
        seed=0,
        val_fraction=0.0,
        transform=None,
        n_max=None,
        skip_corrupt=False,
        subset_rule="per_class_permutation",
        val_source="fraction",
        val_per_class=20,
    ):
        if root is None or not os.path.isdir(os.path.expanduser(str(root))):
            raise FileNotFoundError(
                f"folder_lt: root={root!r} is not a folder; expected an ImageFolder "
                "tree (root/class/x.jpg) or root/train/ + root/test/ trees"
            )
        root = os.path.expanduser(str(root))
        train_dir = (
            os.path.join(root, "train") if os.path.isdir(os.path.join(root, "train")) else root
        )
        train, classes = scan(train_dir)
        test_dir = next(
            (
                os.path.join(root, d)
                for d in ("test", "val")
                if train_dir != root and os.path.isdir(os.path.join(root, d))
            ),
            None,
        )
        if split == "test" and test_dir is None:
            raise FileNotFoundError(
                f"folder_lt: split='test' needs {os.path.join(root, 'test')} or "
                f"{os.path.join(root, 'val')} next to {os.path.join(root, 'train')}"
            )
        test = scan(test_dir, {c: i for i, c in enumerate(classes)})[0] if split == "test" else []
        if profile == "none" and n_max is None:
            profile = None  # keep the tree as it is
        super().__init__(
            train,
            test,
            classes,
            split=split,
            imbalance=imbalance,
            profile=profile,
            seed=seed,
            val_fraction=val_fraction,
            transform=transform,
            n_max=n_max,
            skip_corrupt=skip_corrupt,
            subset_rule=subset_rule,
            val_source=val_source,
            val_per_class=val_per_class,
        )
