"""``folder_lt``: any ImageFolder tree (``class_name/image.jpg``), optionally made long-tailed.

Files are found with torchvision's ``ImageFolder`` rules (class folders sorted by name, the
usual image extensions). ``root`` either holds ``train/`` and ``test/`` (or ``val/``) trees, or
is itself the training tree (then there is no ``"test"`` split). The ``profile`` (``"exp"``,
``"step"``) is applied to the training tree with ``n_max`` = its largest class unless given; a
class with fewer images than the profile asks for is an error. ``profile="none"`` keeps every
image (a tree that is long-tailed already), or exactly ``n_max`` per class when ``n_max`` is given.

Directory symlinks are followed, each real folder once: a link back to a folder already scanned
(a loop) is skipped, and so is a link into another class's folder (or to a folder holding class
folders), which would give that class's images this class's label. Each skipped link is named in
one warning line. Links to folders outside the tree, not yet visited, are followed.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, List, Optional, Set, Tuple

from ltzoo.data.files import FileLTDataset
from ltzoo.data.stats import MEAN_STD
from ltzoo.errors import InputError
from ltzoo.registry import DATASETS

logger = logging.getLogger(__name__)
_warned: Set[Tuple[str, str]] = set()  # (link, reason) already reported in this process


def _skip(link: str, reason: str) -> None:
    if (link, reason) not in _warned:
        _warned.add((link, reason))
        logger.warning(f"folder_lt: skipped the directory link {link}: {reason}")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _walk(top: str, visited: Set[Tuple[int, int]], classes: Dict[str, str], own: str):
    """``[(folder, file names)]`` under ``top`` as ``os.walk(top, followlinks=True)`` lists them,
    except that no real folder is entered twice (``visited``: (st_dev, st_ino)) and no directory
    link into another class's folder (``classes``: class -> real path; ``own``: this class) is."""
    found: List[Tuple[str, List[str]]] = []
    pending = [top]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:  # unreadable: skipped, as os.walk does
            continue
        files, folders = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if not is_dir:
                files.append(entry.name)
                continue
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                other = next(
                    (
                        name
                        for name, path in classes.items()
                        if name != own and (_inside(real, path) or _inside(path, real))
                    ),
                    None,
                )
                if other is not None:
                    what = (
                        f"the folder of class {other!r}"
                        if _inside(real, classes[other])
                        else "a folder holding class folders"
                    )
                    _skip(entry.path, f"it leads to {real}, {what}")
                    continue
                try:
                    stat = os.stat(real)
                except OSError:
                    continue
                key = (stat.st_dev, stat.st_ino)
                if key in visited:
                    _skip(entry.path, f"it leads to {real}, a folder already scanned")
                    continue
                visited.add(key)
            else:
                try:
                    stat = entry.stat()
                except OSError:
                    continue
                visited.add((stat.st_dev, stat.st_ino))
            folders.append(entry.path)
        pending.extend(reversed(folders))  # depth first, in name order
        found.append((folder, files))
    return found


def make_samples(folder: str, class_to_idx: Dict[str, int], extensions) -> List[Tuple[str, int]]:
    """torchvision's ``make_dataset(folder, class_to_idx, extensions, allow_empty=True)`` (the same
    files in the same order), each real folder scanned once (see the module docstring)."""
    from torchvision.datasets.folder import has_file_allowed_extension

    classes = {
        name: os.path.realpath(os.path.join(folder, name))
        for name in class_to_idx
        if os.path.isdir(os.path.join(folder, name))
    }
    visited: Set[Tuple[int, int]] = set()
    for path in classes.values():
        stat = os.stat(path)
        visited.add((stat.st_dev, stat.st_ino))
    samples = []
    for name in sorted(classes):
        for root, files in sorted(_walk(os.path.join(folder, name), visited, classes, name)):
            for file in sorted(files):
                path = os.path.join(root, file)
                if has_file_allowed_extension(path, extensions):
                    samples.append((path, class_to_idx[name]))
    return samples


def scan(folder: str, class_to_idx: Optional[Dict[str, int]] = None):
    """``(samples, classes)`` of an ImageFolder tree (torchvision's discovery rules, each real
    folder scanned once)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes

    if class_to_idx is None:
        classes, class_to_idx = find_classes(folder)
    else:
        classes = sorted(class_to_idx, key=class_to_idx.get)
        extra = sorted(set(find_classes(folder)[0]) - set(class_to_idx))
        if extra:
            raise InputError(f"{folder} has class folders {extra} that the training tree lacks")
    samples = make_samples(folder, class_to_idx, IMG_EXTENSIONS)
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
