"""benchmarks/reproduce_cifar100_lt.py on a small generated CIFAR-100: which runs share the
stage-1 encoder, the records it writes, the table and its notes, and that finished runs are kept."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce_cifar100_lt.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("reproduce_cifar100_lt", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar100")
    rng = np.random.default_rng(0)
    names = np.array([f"c{i:02d}" for i in range(100)])
    for split, per_class in (("train", 100), ("test", 2)):
        y = np.repeat(np.arange(100), per_class)
        x = rng.integers(0, 255, size=(len(y), 32, 32, 3), dtype=np.uint8)
        np.savez(root / f"{split}.npz", x=x, y=y, classes=names)
    return root


@pytest.fixture(scope="module")
def reproduced(script, cifar_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("reproduce")
    argv = [
        "--root",
        str(cifar_root),
        "--imbalance",
        "100",
        "--recipes",
        "ce",
        "iwb",
        "tau",
        "ldam_drw",
        "--out",
        str(work / "runs"),
        "--results",
        str(work / "results"),
        "--set",
        "stage1.epochs=1",
        "--set",
        "stage1.warmup_epochs=0",
        "--set",
        "stage2.epochs=1",
    ]
    script.main(argv)
    return argv, work


def record(work, recipe):
    return json.loads((work / "results" / "if100" / f"{recipe}.json").read_text())


def test_decoupled_recipes_share_the_ce_encoder_and_the_others_train_their_own(reproduced):
    _, work = reproduced
    ce, iwb, tau, ldam = (record(work, r) for r in ("ce", "iwb", "tau", "ldam_drw"))
    assert iwb["results"]["stage1_from_run"] == str(work / "runs" / "if100" / "ce")
    assert (
        iwb["results"]["methods"]["stage1"]["per_class_accuracy"]
        == ce["results"]["methods"]["stage1"]["per_class_accuracy"]
    )
    assert iwb["results"]["deploy"] == "iwb" and ldam["results"]["deploy"] == "stage1"
    # tau's recipe carves a validation split (another training set): it cannot share, it trains stage 1
    assert "stage1_from_run" not in tau["results"] and "stage1_from_run" not in ldam["results"]
    assert tau["results"]["num_train"] < ce["results"]["num_train"]
    assert ce["imbalance"] == 100 and ce["recipe"] == "recipes/cifar100_lt/ce.yaml"
    assert "data.imbalance=100" in ce["overrides"] and "stage1.epochs=1" in ce["overrides"]
    assert (
        ce["results"]["class_counts"][0] == 100 and ce["results"]["class_counts"][-1] == 1
    )  # IF 100


def test_table_cells_and_shortfall_notes_come_from_the_records(script, reproduced):
    _, work = reproduced
    table = (work / "results" / "table.md").read_text()
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")
        for line in table.splitlines()
        if line.startswith("| ")
    }
    for label, recipe, paper in (
        ("CE", "ce", 38.38),
        ("IWB", "iwb", 53.3),
        ("LDAM-DRW", "ldam_drw", 42.04),
    ):
        metrics = record(work, recipe)["results"]["methods"][
            record(work, recipe)["results"]["deploy"]
        ]
        cells = rows[label]
        assert cells[1:6] == [
            script.cell(metrics[k]) for k in ("top1", "many", "medium", "few", "per_class_std")
        ]
        assert (
            cells[1] == f"{metrics['top1']:.2f}" and cells[2] == "—"
        )  # 100 images at most: no Many class
        assert cells[6] == f"{paper:.2f}"
        assert (
            f"IF 100: {paper - metrics['top1']:.2f} under the paper" in cells[7]
        )  # one epoch on noise
    assert rows["cRT"][1:7] == ["—"] * 5 + ["—"]  # not run, no paper figure
    assert "Shared stage-1 encoder (ce.yaml, per IF): IWB" in table and "Machine: " in table


def test_a_second_call_keeps_finished_runs_and_table_only_rerenders(script, reproduced, capsys):
    argv, work = reproduced
    before = {r: record(work, r)["wall_seconds"] for r in ("ce", "iwb", "tau", "ldam_drw")}
    table = (work / "results" / "table.md").read_text()
    script.main(argv)
    printed = capsys.readouterr().out
    assert printed.count("done before") == 4
    assert {r: record(work, r)["wall_seconds"] for r in before} == before
    (work / "results" / "table.md").unlink()
    script.main(["--table-only", "--imbalance", "100", "--results", str(work / "results")])
    assert (work / "results" / "table.md").read_text() == table


def test_packed_cifar_reads_the_same_subsets_and_zeroes_the_rest(cifar_root, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "pack_cifar_lt", SCRIPT.parent / "pack_cifar_lt.py"
    )
    pack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pack)
    from ltzoo.data import create_dataset

    report = pack.pack(cifar_root, tmp_path / "packed", imbalances=(100, 50))
    full = create_dataset("cifar100_lt", root=cifar_root, imbalance=50)
    assert report["kept_images"] == len(full)  # the IF 100 subset is nested in the IF 50 one
    packed = np.load(tmp_path / "packed" / "train.npz")
    original = np.load(cifar_root / "train.npz")
    assert np.array_equal(packed["y"], original["y"]) and packed["x"].shape == original["x"].shape
    assert (
        int((packed["x"].reshape(len(packed["y"]), -1).max(1) > 0).sum()) == report["kept_images"]
    )
    for imbalance in (100, 50):
        a = create_dataset(
            "cifar100_lt", root=cifar_root, imbalance=imbalance, val_fraction=0.2, split="val"
        )
        b = create_dataset(
            "cifar100_lt",
            root=tmp_path / "packed",
            imbalance=imbalance,
            val_fraction=0.2,
            split="val",
        )
        assert np.array_equal(a.data, b.data)
    with pytest.raises(
        AssertionError, match="packed train .imbalance 10,"
    ):  # a subset it was not packed for
        pack.check_same_subsets(cifar_root, tmp_path / "packed", "cifar100_lt", [10], [0], "exp")


def test_the_committed_table_is_rendered_from_the_committed_records(script):
    results = SCRIPT.parent / "results" / "cifar100_lt"
    records = script.load_records(results, [100, 50])
    assert len(records) >= 1 and all(
        r["results"]["dataset"] == "cifar100_lt" for r in records.values()
    )
    assert script.render_table(records, [100, 50]) == (results / "table.md").read_text()
