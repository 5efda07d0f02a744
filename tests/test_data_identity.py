"""A run knows its data: it stores its class names and a digest of its lists, and ``ltzoo eval`` /
``ltzoo calibrate`` refuse data whose classes differ (or, with ``--allow-other-data``, map them by
name)."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from ltzoo.cli import main
from ltzoo.data import create_dataset
from ltzoo.data.identity import data_digest, list_digest, match_classes
from ltzoo.errors import InputError
from tests.conftest import REPO_ROOT
from tests.test_data_folder_links import CLASSES, TEST, TRAIN, _folder_tree, _image

FAST = [
    "--set",
    "progress=false",
    "--set",
    "stage1.epochs=1",
    "--set",
    "stage2.methods=[ncm]",
    "--set",
    "data.transform_kwargs.img_size=16",
    "--set",
    "data.val_fraction=0.3",
    "--set",
    "stage1.batch_size=8",
]


def _lists_tree(root: Path, order=CLASSES) -> Path:
    """An ImageNet-LT-style tree: images under CLASS/ and lists whose labels follow ``order`` (the
    validation list is the test list)."""
    lines = {"train": [], "test": []}
    for name in CLASSES:
        for part, n in (("train", TRAIN), ("test", TEST)):
            for i in range(n):
                rel = f"{name}/{part}{i:02d}.png"
                _image(root / rel, CLASSES.index(name), i)
                lines[part].append(f"{rel} {order.index(name)}")
    lines["val"] = lines["test"]
    for part, rows in lines.items():
        (root / f"ImageNet_LT_{part}.txt").write_text("\n".join(rows) + "\n")
    return root


def _recipe(path: Path, dataset: str, root: Path) -> Path:
    recipe = yaml.safe_load((REPO_ROOT / "recipes" / "folder_lt" / "two_stage.yaml").read_text())
    recipe["data"].update(dataset=dataset, root=str(root))
    if dataset == "imagenet_lt":
        recipe["data"]["official_split"] = False
    path.write_text(yaml.safe_dump(recipe))
    return path


def _train(tmp: Path, dataset: str, root: Path, *more: str) -> Path:
    out = tmp / f"run_{dataset}"
    recipe = _recipe(tmp / f"{dataset}.yaml", dataset, root)
    assert main(["train", "--config", str(recipe), "--output-dir", str(out), *FAST, *more]) == 0
    return out


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("folder_run")
    return _train(tmp, "folder_lt", _folder_tree(tmp / "data"))


@pytest.fixture(scope="module")
def lists_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lists_run")
    # the list's own validation split: the training list is then the same whatever the labels' order
    return _train(tmp, "imagenet_lt", _lists_tree(tmp / "data"), "--set", "data.val_fraction=0")


def _state(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _refused(capsys, argv, run: Path) -> str:
    before = _state(run)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert _state(run) == before
    return err


# ---- (f) the digest -----------------------------------------------------------------------------
def test_f_digest_equals_a_hand_computed_one(tmp_path):
    root = tmp_path / "tiny"
    for part, name, i in (
        ("train", "a", 0),
        ("train", "a", 1),
        ("train", "b", 0),
        ("test", "a", 0),
    ):
        _image(root / part / name / f"{i}.png", 0, i)
    (root / "test" / "b").mkdir()
    _image(root / "test" / "b" / "0.png", 1, 0)
    train = create_dataset("folder_lt", root=root, profile="none")
    test = create_dataset("folder_lt", root=root, profile="none", split="test")
    text = (
        "train\ttrain/a/0.png\t0\ntrain\ttrain/a/1.png\t0\ntrain\ttrain/b/0.png\t1\n"
        "test\ttest/a/0.png\t0\ntest\ttest/b/0.png\t1\ncounts\t2 1\n"
    )
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert data_digest(train, test)["sha256"] == expected
    moved = Path(shutil.copytree(root, tmp_path / "elsewhere" / "tiny"))
    again = create_dataset("folder_lt", root=moved, profile="none")
    assert data_digest(
        again, create_dataset("folder_lt", root=moved, profile="none", split="test")
    )["sha256"] == (expected)
    assert (
        list_digest([("7", 1), ("3", 0)], [("0", 0)], [1, 1])
        == hashlib.sha256(b"train\t3\t0\ntrain\t7\t1\ntest\t0\t0\ncounts\t1 1\n").hexdigest()
    )


def test_f_array_datasets_digest_their_indices():
    train = create_dataset("digits_lt", imbalance=10)
    test = create_dataset("digits_lt", imbalance=10, split="test")
    pairs = sorted((str(int(i)), int(y)) for i, y in zip(train.indices, train.targets))
    test_pairs = [(str(i), int(y)) for i, y in enumerate(test.targets)]
    assert data_digest(train, test)["sha256"] == list_digest(pairs, test_pairs, train.class_counts)
    other = create_dataset("digits_lt", imbalance=20)
    assert data_digest(other, test)["sha256"] != data_digest(train, test)["sha256"]


def test_run_stores_class_names_and_digest(folder_run):
    results = json.loads((folder_run / "results.json").read_text())
    config = json.loads((folder_run / "config.json").read_text())
    assert results["class_names"] == list(CLASSES) == config["label_names"]
    assert re.fullmatch(r"[0-9a-f]{64}", results["data"]["digest"]["sha256"])


# ---- the comparison ------------------------------------------------------------------------------
def test_match_classes_messages():
    assert match_classes(["a", "b"], ["a", "b"]) is None
    assert match_classes(["a", "b", "c"], ["c", "a", "b"], by_name=True) == [2, 0, 1]
    with pytest.raises(InputError, match=r"class 1 of the data is 'x', the run's class 1 is 'b'"):
        match_classes(["a", "b"], ["a", "x"])
    with pytest.raises(InputError, match=r"1 class more than the run \(3 vs 2\): 'c'"):
        match_classes(["a", "b"], ["a", "b", "c"])
    with pytest.raises(InputError, match=r"2 classes fewer than the run \(1 vs 3\): 'b', 'c'"):
        match_classes(["a", "b", "c"], ["a"])
    with pytest.raises(InputError, match=r"pass --allow-other-data"):
        match_classes(["a", "b"], ["b", "a"])
    with pytest.raises(InputError, match=r"missing from the data: 'b'; unknown to the run: 'x'"):
        match_classes(["a", "b"], ["x", "a"], by_name=True)
    assert match_classes(None, ["a", "b"], run_count=2) is None
    with pytest.raises(InputError, match=r"3 classes, the run has 2 outputs"):
        match_classes(None, ["a", "b", "c"], run_count=2)


# ---- (b) (d) (e) eval and calibrate on other data --------------------------------------------------
def test_b_renamed_class_is_refused_by_eval_and_calibrate(folder_run, tmp_path, capsys):
    data = _folder_tree(tmp_path / "renamed", classes=("cat", "dog", "eel"))
    for command in (["eval"], ["calibrate"]):
        argv = [*command, str(folder_run), "--data-root", str(data)]
        err = _refused(capsys, argv, folder_run)
        assert "class 2 of the data is 'eel', the run's class 2 is 'emu'" in err, err
        err = _refused(capsys, [*argv, "--allow-other-data"], folder_run)
        assert "missing from the data: 'emu'; unknown to the run: 'eel'" in err, err


def test_d_one_class_more_is_one_line(folder_run, tmp_path, capsys):
    data = _folder_tree(tmp_path / "more", classes=(*CLASSES, "fox"))
    for command in ("eval", "calibrate"):
        err = _refused(capsys, [command, str(folder_run), "--data-root", str(data)], folder_run)
        assert (
            f"ltzoo {command}: error: the data has 1 class more than the run (4 vs 3): 'fox'" in err
        )


def test_e_same_data_elsewhere_evaluates_and_calibrates(folder_run, tmp_path, capsys):
    moved = _folder_tree(tmp_path / "moved")
    assert main(["eval", str(folder_run)]) == 0
    original = capsys.readouterr().out
    assert main(["eval", str(folder_run), "--data-root", str(moved)]) == 0
    out = capsys.readouterr()
    assert out.out == original and "image lists differ" not in out.out + out.err
    run = Path(shutil.copytree(folder_run, tmp_path / "run"))
    assert main(["calibrate", str(run), "--data-root", str(moved)]) == 0


# ---- (c) a reordered list, mapped by name ---------------------------------------------------------
def test_c_reordered_classes_map_by_name(lists_run, tmp_path, capsys):
    reordered = _lists_tree(tmp_path / "reordered", order=("emu", "cat", "dog"))
    assert main(["eval", str(lists_run)]) == 0
    original = capsys.readouterr().out
    argv = ["eval", str(lists_run), "--data-root", str(reordered)]
    err = _refused(capsys, argv, lists_run)
    assert "class 0 of the data is 'emu', the run's class 0 is 'cat'" in err
    assert "--allow-other-data" in err
    assert main([*argv, "--allow-other-data"]) == 0
    out = capsys.readouterr().out
    assert "mapped to the run's by name (3 of 3 classes moved)" in out
    assert "image lists differ" not in out  # same images, same labels once mapped: the same digest
    assert out.endswith(original) and original.count("\n") > 3


def test_run_without_class_names_compares_the_count(folder_run, tmp_path, capsys):
    run = Path(shutil.copytree(folder_run, tmp_path / "run"))
    for name, key in (("results.json", "class_names"), ("config.json", "label_names")):
        values = json.loads((run / name).read_text())
        del values[key]
        (run / name).write_text(json.dumps(values))
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "stores no class names (an older run folder): only the number of classes (3)" in out
    assert "ncm" in out
    data = _folder_tree(tmp_path / "more", classes=(*CLASSES, "fox"))
    err = _refused(capsys, ["calibrate", str(run), "--data-root", str(data)], run)
    assert "the data has 4 classes, the run has 3 outputs" in err
