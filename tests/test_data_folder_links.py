"""folder_lt's scan follows each real folder once: a directory link that loops, or that leads into
another class's folder, is skipped with one warning line naming it; the images keep their labels."""

import logging
from pathlib import Path

from PIL import Image

from ltzoo.data import create_dataset
from ltzoo.data.folder import scan

CLASSES = ("cat", "dog", "emu")
TRAIN, TEST = 10, 4


def _image(path: Path, label: int, i: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), (30 + 90 * label, (37 * i) % 250, 200 - 60 * label)).save(path)


def _folder_tree(root: Path, classes=CLASSES) -> Path:
    for label, name in enumerate(classes):
        for part, n in (("train", TRAIN), ("test", TEST)):
            for i in range(n):
                _image(root / part / name / f"{i:02d}.png", label, i)
    return root


def test_a_symlink_loop_yields_exactly_the_real_images_with_their_labels(tmp_path, caplog):
    root = _folder_tree(tmp_path / "tree")
    real = {str(p): CLASSES.index(p.parent.name) for p in (root / "train").rglob("*.png")}
    (root / "train" / "cat" / "deeper").mkdir()
    _image(root / "train" / "cat" / "deeper" / "extra.png", 0, 99)
    real[str(root / "train" / "cat" / "deeper" / "extra.png")] = 0
    loop = root / "train" / "cat" / "deeper" / "loop"
    loop.symlink_to(root / "train" / "cat")  # a loop: cat/deeper/loop/deeper/loop/...
    into_dog = root / "train" / "emu" / "dogs"
    into_dog.symlink_to(root / "train" / "dog")  # another class's folder
    outside = tmp_path / "outside"
    _image(outside / "far.png", 2, 7)
    (root / "train" / "emu" / "far").symlink_to(outside)  # outside the tree: followed once
    real[str(root / "train" / "emu" / "far" / "far.png")] = 2

    with caplog.at_level(logging.WARNING, logger="ltzoo.data.folder"):
        samples, classes = scan(str(root / "train"))
    assert classes == list(CLASSES)
    assert dict(samples) == real and len(samples) == len(real) == 3 * TRAIN + 2
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 2 and all("\n" not in m for m in skipped)
    assert any(str(loop) in m and "already scanned" in m for m in skipped)
    assert any(str(into_dog) in m and "class 'dog'" in m for m in skipped)

    train = create_dataset("folder_lt", root=root, profile="none")
    assert train.class_counts.tolist() == [TRAIN + 1, TRAIN, TRAIN + 1]


def test_a_scan_order_is_torchvisions_on_a_plain_tree(tmp_path):
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    root = _folder_tree(tmp_path / "tree") / "train"
    _image(root / "dog" / "a" / "b" / "x.png", 1, 1)
    _image(root / "dog" / "a0.png", 1, 2)
    expected = make_dataset(str(root), find_classes(str(root))[1], IMG_EXTENSIONS)
    assert scan(str(root))[0] == expected
