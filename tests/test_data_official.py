"""Official split files: counts and digests as data, a different list refused unless declared the
user's own (and then recorded), ``ltzoo data check``, and the new ``places_lt`` dataset.

The lists here are generated (a few lines); the hash check runs against a digest computed in the
test, put into the table with monkeypatch. The official lists themselves are never shipped.
"""

import hashlib
import json
import os

import pytest
from PIL import Image

from ltzoo.cli import main
from ltzoo.data import create_dataset
from ltzoo.data.describe import describe
from ltzoo.data.official import OFFICIAL_SPLITS, SplitFile, SplitMismatchError

SCENES = ["/a/airfield", "/a/apartment_building/outdoor", "/b/bakery/shop"]
TRAIN = [6, 3, 2]


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def places_tree(root, train=TRAIN, val=1, test=2):
    """Places-LT-style lists (``data_256/a/airfield/00000001.jpg 0``) and 12x10 JPEGs."""
    for part, counts in (("train", train), ("val", [val] * 3), ("test", [test] * 3)):
        rows = []
        for label, (scene, n) in enumerate(zip(SCENES, counts)):
            for i in range(n):
                rel = f"data_256{scene}/{part}{i:08d}.jpg"
                os.makedirs(os.path.dirname(root / rel), exist_ok=True)
                Image.new("RGB", (12, 10), (60 * label, 90, 30)).save(root / rel, "JPEG")
                rows.append(f"{rel} {label}")
        (root / f"Places_LT_{part}.txt").write_text("\n".join(rows) + "\n")


def publish_as_official(monkeypatch, dataset, root, names):
    """The generated files become the 'official' ones: their counts and digests go into the table."""
    table = dict(OFFICIAL_SPLITS[dataset])
    for name in names:
        lines = [line.split() for line in (root / name).read_text().splitlines() if line.strip()]
        table[name] = SplitFile(len(lines), len({label for _, label in lines}), sha256(root / name))
    monkeypatch.setitem(OFFICIAL_SPLITS, dataset, table)


def test_the_table_holds_the_published_counts():
    counts = {
        ds: {name: (f.images, f.classes) for name, f in files.items()}
        for ds, files in OFFICIAL_SPLITS.items()
    }
    assert counts["imagenet_lt"] == {
        "ImageNet_LT_train.txt": (115846, 1000),
        "ImageNet_LT_val.txt": (20000, 1000),
        "ImageNet_LT_test.txt": (50000, 1000),
    }
    assert counts["places_lt"] == {
        "Places_LT_train.txt": (62500, 365),
        "Places_LT_val.txt": (7300, 365),
        "Places_LT_test.txt": (36500, 365),
    }
    assert (
        counts["inat2018"]["iNaturalist18_train.txt"]
        == counts["inat2018"]["train2018.json"]
        == (437513, 8142)
    )
    assert (
        counts["inat2018"]["iNaturalist18_val.txt"]
        == counts["inat2018"]["val2018.json"]
        == (24426, 8142)
    )
    assert OFFICIAL_SPLITS["imagenet_lt"]["ImageNet_LT_test.txt"].sha256.startswith("d1590191")
    assert OFFICIAL_SPLITS["inat2018"]["iNaturalist18_val.txt"].sha256.startswith("efaeff65")


def test_places_lt_own_split_loads_and_is_recorded(tmp_path):
    places_tree(tmp_path)
    with pytest.raises(SplitMismatchError) as err:
        create_dataset("places_lt", root=tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'Places_LT_train.txt'} is not the official places_lt Places_LT_train.txt: "
        "expected 62,500 images in 365 classes, found 11 images in 3 classes; if this split is "
        "your own, set data.official_split: false (official_split=False)"
    )
    ds = create_dataset(
        "places_lt", root=tmp_path, official_split=False, imbalance=7, profile="step"
    )  # profile ignored
    assert (
        ds.classes == ["airfield", "apartment_building/outdoor", "bakery/shop"]
        and ds.class_counts.tolist() == TRAIN
    )
    record = ds.data_record()
    assert record["official_split"] is False and record["subset_rule"]["name"] == "none"
    files = {f["file"]: f for f in record["split_files"]}
    assert set(files) == {"Places_LT_train.txt", "Places_LT_test.txt"}
    assert files["Places_LT_train.txt"] == {
        "file": "Places_LT_train.txt",
        "images": 11,
        "classes": 3,
        "sha256": sha256(tmp_path / "Places_LT_train.txt"),
        "matches_official": False,
    }
    val = create_dataset("places_lt", split="val", root=tmp_path, official_split=False)
    assert len(val) == 3 and val.samples[0][0].endswith("airfield/val00000000.jpg")
    assert len(create_dataset("places_lt", split="test", root=tmp_path, official_split=False)) == 6
    d = describe("places_lt", root=tmp_path, profile="none", official_split=False)
    assert d["counts"] == TRAIN and d["total"] == 11
    with pytest.raises(
        ValueError, match="official_split='no' is not allowed; expected true or false"
    ):
        create_dataset("places_lt", root=tmp_path, official_split="no")


def test_digest_check(tmp_path, monkeypatch):
    places_tree(tmp_path)
    publish_as_official(
        monkeypatch,
        "places_lt",
        tmp_path,
        ["Places_LT_train.txt", "Places_LT_val.txt", "Places_LT_test.txt"],
    )
    ds = create_dataset("places_lt", split="val", root=tmp_path)
    assert ds.data_record()["official_split"] is True
    assert all(f["matches_official"] for f in ds.data_record()["split_files"])
    # same counts, another image: only the digest tells
    text = (tmp_path / "Places_LT_test.txt").read_text()
    (tmp_path / "Places_LT_test.txt").write_text(
        text.replace("test00000001.jpg 0", "test00000000.jpg 0")
    )
    with pytest.raises(SplitMismatchError) as err:
        create_dataset("places_lt", root=tmp_path)
    found = sha256(tmp_path / "Places_LT_test.txt")
    expected = OFFICIAL_SPLITS["places_lt"]["Places_LT_test.txt"].sha256
    assert str(err.value).startswith(
        f"{tmp_path / 'Places_LT_test.txt'} is not the official places_lt Places_LT_test.txt: "
        f"expected 6 images in 3 classes, sha256 {expected}, found 6 images in 3 classes, "
        f"sha256 {found};"
    )


def test_imagenet_lt_and_inat_lists_are_checked(tmp_path, monkeypatch):
    from tests.test_data_files import OWN, _imagenet_tree, _inat_tree

    _imagenet_tree(tmp_path)
    with pytest.raises(
        SplitMismatchError,
        match=r"ImageNet_LT_train.txt is not the official imagenet_lt .*found 12 images in 3 classes",
    ):
        create_dataset("imagenet_lt", root=tmp_path)
    publish_as_official(
        monkeypatch, "imagenet_lt", tmp_path, ["ImageNet_LT_train.txt", "ImageNet_LT_test.txt"]
    )
    assert len(create_dataset("imagenet_lt", root=tmp_path)) == 12
    with pytest.raises(
        SplitMismatchError,
        match=r"ImageNet_LT_val.txt .*expected 20,000 images in 1,000 classes, sha256 9af7ba68",
    ):
        create_dataset("imagenet_lt", split="val", root=tmp_path)

    inat = tmp_path / "inat"
    files = _inat_tree(inat)
    for part in ("train", "val"):
        rows = [
            f"{img['file_name']} {ann['category_id']}"
            for img, ann in zip(files[part]["images"], files[part]["annotations"])
        ]
        (inat / f"iNaturalist18_{part}.txt").write_text("\n".join(rows) + "\n")
    with pytest.raises(
        SplitMismatchError, match=r"iNaturalist18_train.txt is not the official inat2018 .*437,513"
    ):
        create_dataset("inat2018", root=inat)
    assert create_dataset("inat2018", root=inat, **OWN).data_record()["official_split"] is False
    publish_as_official(
        monkeypatch, "inat2018", inat, ["iNaturalist18_train.txt", "iNaturalist18_val.txt"]
    )
    assert (
        create_dataset("inat2018", split="test", root=inat).data_record()["official_split"] is True
    )
    (inat / "train2018.json").write_text(
        json.dumps(files["train"])
    )  # the json files win when present
    (inat / "val2018.json").write_text(json.dumps(files["val"]))
    with pytest.raises(
        SplitMismatchError, match=r"train2018.json is not the official inat2018 train2018.json"
    ):
        create_dataset("inat2018", root=inat)


def test_cli_data_check(tmp_path, monkeypatch, capsys):
    places_tree(tmp_path)
    assert main(["data", "check", "places_lt", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "Places_LT_train.txt is not the official places_lt Places_LT_train.txt" in err
    )
    assert "expected 62,500 images in 365 classes, found 11 images in 3 classes" in err
    publish_as_official(
        monkeypatch,
        "places_lt",
        tmp_path,
        ["Places_LT_train.txt", "Places_LT_val.txt", "Places_LT_test.txt"],
    )
    assert main(["data", "check", "places_lt", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == f"Places_LT_train.txt: 11 images, 3 classes, sha256 {sha256(tmp_path / 'Places_LT_train.txt')}: official"
    )
    assert [line.split(":")[0] for line in out] == [
        "Places_LT_train.txt",
        "Places_LT_val.txt",
        "Places_LT_test.txt",
        "places_lt",
    ]
    (tmp_path / "Places_LT_val.txt").unlink()
    assert main(["data", "check", "places_lt", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        "places_lt: missing" in err
        and "Places_LT_val.txt" in err
        and len(err.strip().splitlines()) == 1
    )
    assert main(["data", "check", "cifar100_lt", "--root", str(tmp_path)]) == 2
    assert "dataset 'cifar100_lt' has no official split files to check" in capsys.readouterr().err
    assert (
        main(
            [
                "data",
                "describe",
                "places_lt",
                "--root",
                str(tmp_path),
                "--own-split",
                "--profile",
                "none",
            ]
        )
        == 0
    )
    assert "places_lt: 11 training images in 3 classes" in capsys.readouterr().out


def test_a_run_on_its_own_split_says_so(tmp_path):
    """A tiny places_lt run with data.official_split: false; results.json and the model card state it."""
    from ltzoo.hub import export_for_hub
    from ltzoo.train.config import load_config
    from ltzoo.train.run import run

    places_tree(tmp_path / "places", train=[8, 6, 4], val=2)
    overrides = [
        f"output_dir={tmp_path / 'run'}",
        "progress=false",
        "data.dataset=places_lt",
        f"data.root={tmp_path / 'places'}",
        "data.transform=imagenet",
        "data.transform_kwargs={img_size: 16}",
        "data.val_fraction=0.0",
        "model.name=lt_classifier",
        "model.backbone=resnet20",
        "stage1.epochs=1",
        "stage2.epochs=1",
        "stage2.methods=[crt]",
    ]
    with pytest.raises(SplitMismatchError, match="Places_LT_train.txt is not the official"):
        run(load_config(None, overrides))
    results = run(load_config(None, overrides + ["data.official_split=false"]))
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["data"] == results["data"] and saved["data"]["official_split"] is False
    assert [f["file"] for f in saved["data"]["split_files"]] == [
        "Places_LT_train.txt",
        "Places_LT_test.txt",
        "Places_LT_val.txt",
    ]
    card = (export_for_hub(tmp_path / "run", tmp_path / "repo") / "README.md").read_text()
    assert "- split files: the user's own, not the official lists" in card
    assert (
        f"`Places_LT_train.txt`: 18 images, 3 classes, sha256 `{sha256(tmp_path / 'places' / 'Places_LT_train.txt')}`"
        in card
    )
    assert "- subset rule: `none`" in card
    with pytest.raises(ValueError, match=r"dataset 'digits_lt' does not take \['official_split'\]"):
        run(load_config(None, [f"output_dir={tmp_path / 'digits'}", "data.official_split=false"]))
