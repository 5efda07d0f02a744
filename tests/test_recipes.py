"""Every recipe under recipes/: it loads through the schema, `--print-config` prints a recipe that
loads back to the same settings, and each training recipe runs end to end (one epoch of each stage
on the embedded digits data, so the suite needs neither CIFAR nor ImageNet nor a GPU) with its
optimizer settings and batch size reaching the optimizers and the loader."""

import json
import math

import pytest
import torch

from ltzoo.cli import main
from ltzoo.data.roots import resolve_root
from ltzoo.methods import stage2_methods
from ltzoo.train.config import load_config
from ltzoo.train.stage2 import check_stage2_config, resolve
from tests.conftest import CIFAR100, REPO_ROOT

RECIPE_DIR = REPO_ROOT / "recipes"
ALL = sorted(p for p in RECIPE_DIR.rglob("*.yaml") if "accelerate" not in p.parts)
# the digits recipe is the default one (the session's digits_run), the folder one runs in
# test_readme_own_images.py: the others are trained here on digits
TRAINED = [p for p in ALL if p.parent.name not in ("digits_lt", "folder_lt")]
DIGITS = [
    "data.dataset=digits_lt",
    "data.transform=digits",
    "data.transform_kwargs={}",
    "data.root=null",
    "data.imbalance=20",
    "data.num_workers=0",
    "stage1.epochs=1",
    "stage2.epochs=1",
    "progress=false",
]


def _id(path):
    return str(path.relative_to(RECIPE_DIR).with_suffix(""))


def test_every_stage2_method_has_a_cifar100_lt_recipe():
    listed = {m for p in ALL if "cifar100_lt" in p.parts for m in load_config(p).stage2.methods}
    assert set(stage2_methods()) <= listed


def test_the_cifar100_lt_recipes_read_one_dataset():
    """The CIFAR-100-LT recipes compare methods: each reads the same long-tailed training set, from
    data/cifar100 inside the project, the folder the suite's real-data tests read (through
    LTZOO_DATA_ROOT when it is set)."""
    data = {
        (c.dataset, c.root, c.imbalance, c.profile)
        for c in (load_config(p).data for p in ALL if "cifar100_lt" in p.parts)
    }
    assert data == {("cifar100_lt", "data/cifar100", 100.0, "exp")}
    assert REPO_ROOT / resolve_root("data/cifar100") == CIFAR100


def test_every_recipe_root_is_inside_the_project():
    """A clone runs its recipes as they are: no root is absolute or climbs out of the project."""
    roots = {_id(p): load_config(p).data.root for p in ALL}
    outside = {
        name: root
        for name, root in roots.items()
        if root is not None and (root.startswith(("/", "~")) or ".." in root.split("/"))
    }
    assert not outside
    assert {r.split("/")[0] for r in roots.values() if r is not None} == {"data"}


def test_no_two_recipes_write_the_same_run_folder():
    folders = [load_config(p).output_dir for p in ALL]
    assert len(set(folders)) == len(folders)


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_print_config_is_a_recipe_that_loads_back(path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the recipes' output_dir is relative: nothing may appear here
    cfg = load_config(path)
    check_stage2_config(cfg.stage2)
    assert main(["train", "--config", str(path), "--print-config"]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "printed.yaml").write_text(printed)
    assert load_config(tmp_path / "printed.yaml") == cfg
    for method in cfg.stage2.methods:  # each method's effective settings, as comments
        assert any(line.startswith(f"#   {method}: ") for line in printed.splitlines()), method
    assert [p.name for p in tmp_path.iterdir()] == ["printed.yaml"]


@pytest.fixture
def optimizers(monkeypatch):
    """The settings of every SGD optimizer built while the test runs, in order."""
    built = []

    class RecordedSGD(torch.optim.SGD):
        def __init__(self, params, *args, **kwargs):
            super().__init__(params, *args, **kwargs)
            keys = ("lr", "momentum", "weight_decay", "nesterov")
            built.append(tuple(self.defaults[k] for k in keys))

    monkeypatch.setattr(torch.optim, "SGD", RecordedSGD)
    return built


def _sgd_settings(s):
    return (s.lr, s.momentum, s.weight_decay, s.nesterov)


@pytest.mark.parametrize("path", TRAINED, ids=_id)
def test_recipe_runs_on_digits_with_its_own_settings(path, tmp_path, optimizers):
    from ltzoo.train.run import run

    overrides = DIGITS + [f"output_dir={tmp_path}"]
    if load_config(path).model.name != "resnet32_ce":  # the papers' big networks: the thin one here
        # and stage 1 at digits' own rate (one epoch at lr 0.1 saturates the thin net's logits)
        overrides += ["model.name=resnet32_ce", "model.kwargs={}", "stage1.lr=0.05"]
    cfg = load_config(path, overrides)
    results = run(cfg)

    protocols = {
        "none": results["methods"],
        **{k: v["methods"] for k, v in results.get("tta", {}).items()},
    }
    assert set(protocols) == {"none", cfg.eval.tta}
    for tta, methods in protocols.items():
        assert set(methods) == {"stage1", *cfg.stage2.methods}, tta
        for name, metrics in methods.items():
            for key in ("top1", "many", "few", "per_class_std", "ece", "nll"):
                assert math.isfinite(metrics[key]), (tta, name, key, metrics[key])
    config = json.loads((tmp_path / "config.json").read_text())
    deployed = config["ltzoo"]["deployed_method"]
    if cfg.stage2.deploy == "best_val":  # the highest validation top-1 among every head
        scores = results["deploy_choice"]["validation_top1"]
        assert set(scores) == {"stage1", *cfg.stage2.methods}
        assert scores[deployed] == max(scores.values()), scores
    else:
        assert deployed == (cfg.stage2.methods[-1] if cfg.stage2.methods else "stage1")
    # the recipe's batch size reaches the loader, its SGD settings the optimizers: stage 1's first,
    # then one per stage-2 method that trains, with that method's resolved settings
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    # (a class-balanced batch sampler may drop the remainder: count the images the epoch saw)
    assert 0 < log[0]["images"] <= results["num_train"]
    assert log[0]["global_step"] == math.ceil(log[0]["images"] / cfg.stage1.batch_size)
    assert optimizers[0] == _sgd_settings(cfg.stage1)
    training = [resolve(m, cfg.stage2).settings for m in cfg.stage2.methods]
    expected = [_sgd_settings(s) for s in training if s is not None]
    assert sorted(set(optimizers[1:])) == sorted(set(expected))
