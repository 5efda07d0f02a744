"""File datasets: imagenet_lt (official lists), inat2018 (COCO json + lists), folder_lt, bad files."""

import json
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from ltzoo.data import UnreadableImageError, create_dataset, create_transform

TRAIN = [6, 4, 2]  # images per class in the generated training lists
WNIDS = ["n01440764", "n01443537", "n01484850"]
OWN = {
    "official_split": False
}  # generated lists, not the benchmarks' official ones (tests/test_data_official.py)


def _jpeg(path, label, size=(12, 10)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", size, (40 + 80 * label, 10, 200)).save(path, "JPEG", quality=95)


def _imagenet_tree(root, train=TRAIN, test=2, val=1):
    lines = {"train": [], "val": [], "test": []}
    for label, wnid in enumerate(WNIDS):
        for part, n in (("train", train[label]), ("val", val), ("test", test)):
            folder = "train" if part == "train" else "val"
            for i in range(n):
                rel = f"{folder}/{wnid}/{wnid}_{part}{i}.JPEG"
                _jpeg(os.path.join(root, rel), label)
                lines[part].append(f"{rel} {label}")
    for part, rows in lines.items():
        (root / f"ImageNet_LT_{part}.txt").write_text("\n".join(rows) + "\n")
    return lines


def test_imagenet_lt_official_lists(tmp_path):
    _imagenet_tree(tmp_path)
    ds = create_dataset(
        "imagenet_lt", **OWN, root=tmp_path, imbalance=1000, profile="step"
    )  # profile ignored
    assert len(ds) == 12 and ds.class_counts.tolist() == TRAIN and ds.classes == WNIDS
    img, label = ds[0]
    assert (
        isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (12, 10) and label == 0
    )
    assert np.bincount(ds.targets).tolist() == TRAIN
    val = create_dataset("imagenet_lt", **OWN, split="val", root=tmp_path)
    assert len(val) == 3 and val.samples[0][0].endswith("n01440764_val0.JPEG")
    assert val.class_counts.tolist() == TRAIN
    test = create_dataset(
        "imagenet_lt",
        **OWN,
        split="test",
        root=tmp_path,
        transform=create_transform("imagenet", train=False, img_size=32, crop_pct=1.0),
    )
    assert np.bincount(test.targets).tolist() == [2, 2, 2]
    x, _ = test[1]
    assert tuple(x.shape) == (3, 32, 32)
    carved = create_dataset("imagenet_lt", **OWN, split="val", root=tmp_path, val_fraction=0.5)
    train = create_dataset("imagenet_lt", **OWN, root=tmp_path, val_fraction=0.5)
    assert np.bincount(carved.targets).tolist() == [3, 2, 1] and train.class_counts.tolist() == [
        3,
        2,
        1,
    ]
    assert not {p for p, _ in carved.samples} & {p for p, _ in train.samples}


def test_imagenet_lt_split_dir_and_missing(tmp_path):
    images, lists = tmp_path / "images", tmp_path / "lists"
    lists.mkdir()
    _imagenet_tree(images)
    for part in ("train", "val", "test"):
        os.replace(images / f"ImageNet_LT_{part}.txt", lists / f"ImageNet_LT_{part}.txt")
    assert len(create_dataset("imagenet_lt", **OWN, root=images, split_dir=lists)) == 12
    with pytest.raises(FileNotFoundError) as err:
        create_dataset("imagenet_lt", **OWN, root=images)
    msg = str(err.value)
    assert (
        "ImageNet_LT_train.txt" in msg
        and "ImageNet_LT_test.txt" in msg
        and "OpenLongTailRecognition" in msg
    )
    with pytest.raises(FileNotFoundError, match="needs root="):
        create_dataset("imagenet_lt", **OWN)


def test_imagenet_lt_bad_labels(tmp_path):
    lines = _imagenet_tree(tmp_path)
    (tmp_path / "ImageNet_LT_test.txt").write_text(
        "\n".join(lines["test"] + ["val/x/y.JPEG 7"]) + "\n"
    )
    with pytest.raises(ValueError, match=r"ImageNet_LT_test.txt:7: label 7 is outside \[0, 3\)"):
        create_dataset("imagenet_lt", **OWN, root=tmp_path)
    (tmp_path / "ImageNet_LT_test.txt").write_text("val/x/y.JPEG seven\n")
    with pytest.raises(ValueError, match=r"ImageNet_LT_test.txt:1: expected 'relative/path label'"):
        create_dataset("imagenet_lt", **OWN, root=tmp_path, split="test")
    (tmp_path / "ImageNet_LT_test.txt").write_text("\n".join(lines["test"]) + "\n")
    train = [row for row in lines["train"] if not row.endswith(" 1")]
    (tmp_path / "ImageNet_LT_train.txt").write_text("\n".join(train) + "\n")
    with pytest.raises(ValueError, match=r"class 1 \('class_1'\) has no training images"):
        create_dataset("imagenet_lt", **OWN, root=tmp_path)


def test_unreadable_image_error_and_skip(tmp_path):
    _imagenet_tree(tmp_path)
    bad = tmp_path / "train" / WNIDS[0] / f"{WNIDS[0]}_train0.JPEG"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated JPEG
    ds = create_dataset("imagenet_lt", **OWN, root=tmp_path)
    with pytest.raises(UnreadableImageError, match=str(bad)):
        ds[0]
    ds = create_dataset("imagenet_lt", **OWN, root=tmp_path, skip_corrupt=True)
    with pytest.warns(RuntimeWarning, match=str(bad)):
        img, label = ds[0]
    assert label == 0 and img.getpixel((5, 5))[0] < 80  # another image of class 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per file
        assert ds[0][1] == 0
    assert str(bad) in ds.corrupt


def _inat_tree(root):
    cats = [
        {"id": 0, "name": "Aves 0", "supercategory": "Aves"},
        {"id": 1, "name": "Plantae 1", "supercategory": "Plantae"},
        {"id": 2, "name": "Plantae 2", "supercategory": "Plantae"},
    ]
    files, n = {}, 0
    for part, per_class in (("train", TRAIN), ("val", [1, 1, 1])):
        images, anns = [], []
        for label, count in enumerate(per_class):
            for i in range(count):
                rel = f"train_val2018/{cats[label]['supercategory']}/{label}/{part}{i}.jpg"
                _jpeg(os.path.join(root, rel), label)
                images.append({"id": 1000 + n, "file_name": rel, "width": 12, "height": 10})
                anns.append({"id": n, "image_id": 1000 + n, "category_id": label})
                n += 1
        files[part] = {"images": images, "annotations": anns, "categories": cats}
    return files


def test_inat2018_coco_json(tmp_path):
    files = _inat_tree(tmp_path)
    for part, content in files.items():
        (tmp_path / f"{part}2018.json").write_text(json.dumps(content))
    ds = create_dataset("inat2018", **OWN, root=tmp_path, val_fraction=0.0)
    assert ds.class_counts.tolist() == TRAIN and ds.classes == ["Aves 0", "Plantae 1", "Plantae 2"]
    assert ds[7][1] == 1 and ds[7][0].mode == "RGB"
    test = create_dataset("inat2018", **OWN, split="test", root=tmp_path)
    assert len(test) == 3 and test.targets.tolist() == [0, 1, 2]
    files["val"]["annotations"][0]["category_id"] = 99
    (tmp_path / "val2018.json").write_text(json.dumps(files["val"]))
    with pytest.raises(ValueError, match=r"val2018.json: annotation 12 has category_id 99"):
        create_dataset("inat2018", **OWN, root=tmp_path)


def test_inat2018_lists_and_missing(tmp_path):
    files = _inat_tree(tmp_path)
    for part in ("train", "val"):
        rows = [
            f"{img['file_name']} {ann['category_id']}"
            for img, ann in zip(files[part]["images"], files[part]["annotations"])
        ]
        (tmp_path / f"iNaturalist18_{part}.txt").write_text("\n".join(rows) + "\n")
    ds = create_dataset("inat2018", **OWN, root=tmp_path)
    assert ds.class_counts.tolist() == TRAIN and ds.classes == ["0", "1", "2"]
    val = create_dataset("inat2018", **OWN, split="val", root=tmp_path, val_fraction=0.5, seed=4)
    assert np.bincount(val.targets).tolist() == [3, 2, 1]
    with pytest.raises(ValueError, match=r"split='val'.*val_fraction"):
        create_dataset("inat2018", **OWN, split="val", root=tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        create_dataset("inat2018", **OWN, root=tmp_path / "elsewhere")
    assert "train2018.json" in str(err.value) and "iNaturalist18_train.txt" in str(err.value)


def test_folder_lt(tmp_path):
    for part, n in (("train", 6), ("test", 2)):
        for label, name in enumerate(["cat", "dog", "emu"]):
            for i in range(n):
                _jpeg(str(tmp_path / part / name / f"{i}.jpg"), label)
    ds = create_dataset("folder_lt", root=tmp_path, imbalance=2)
    assert ds.classes == ["cat", "dog", "emu"] and ds.class_counts.tolist() == [6, 4, 3]
    assert isinstance(ds[0][0], Image.Image)
    assert create_dataset("folder_lt", root=tmp_path, profile="none").class_counts.tolist() == [
        6,
        6,
        6,
    ]
    assert create_dataset(
        "folder_lt", root=tmp_path, profile="none", n_max=2
    ).class_counts.tolist() == [2, 2, 2]
    test = create_dataset("folder_lt", split="test", root=tmp_path, imbalance=2)
    assert np.bincount(test.targets).tolist() == [2, 2, 2]
    only_train = create_dataset("folder_lt", root=tmp_path / "train", imbalance=3)
    assert only_train.class_counts.tolist() == [6, 3, 2]
    with pytest.raises(FileNotFoundError, match=r"split='test' needs"):
        create_dataset("folder_lt", split="test", root=tmp_path / "train")
    with pytest.raises(FileNotFoundError, match=r"root=None is not a folder"):
        create_dataset("folder_lt")
    with pytest.raises(ValueError, match=r"class 0 has 6 images but the profile asks for 9"):
        create_dataset("folder_lt", root=tmp_path, n_max=9)
