"""The CIFAR-100-LT recipes: each loads, cites its source, and runs end to end (a few steps on the
embedded digits data, so the suite needs neither CIFAR nor a GPU)."""

import json
import math
import re

import pytest

from ltzoo.train.config import load_config
from ltzoo.train.stage2 import check_stage2_config
from tests.conftest import REPO_ROOT

RECIPE_DIR = REPO_ROOT / "recipes" / "cifar100_lt"
EXPECTED = {
    "ce",
    "crt",
    "lws",
    "tau",
    "ncm",
    "ldam_drw",
    "logit_adjusted",
    "balanced_softmax",
    "wd_maxnorm",
    "wd_maxnorm_cb",
    "iwb",
    "iwb_cb",
    "experts",
    "uniform_batch_reweighted",
    "focal",
    "class_balanced",
}
RECIPES = sorted(RECIPE_DIR.glob("*.yaml"))
DIGITS = [
    "data.dataset=digits_lt",
    "data.transform=digits",
    "data.root=null",
    "data.imbalance=20",
    "stage1.epochs=1",
    "stage2.epochs=1",
    "progress=false",
]


def test_one_recipe_per_method():
    assert {p.stem for p in RECIPES} == EXPECTED


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_loads_for_cifar100_lt_and_cites_its_numbers(path):
    cfg = load_config(path)
    check_stage2_config(cfg.stage2)
    assert (cfg.data.dataset, cfg.data.root, cfg.data.transform) == (
        "cifar100_lt",
        "../shared/data/cifar100",
        "cifar",
    )
    assert cfg.data.imbalance == 100 and cfg.data.profile == "exp"
    assert cfg.output_dir == f"runs/cifar100_lt/{path.stem}"
    assert (cfg.model.backbone or cfg.model.name.split("_")[0]) == "resnet32"
    header = "".join(
        line for line in path.read_text().splitlines(keepends=True) if line.startswith("#")
    )
    assert len(header) > 200 and re.search(
        r"(CVPR|ICLR|NeurIPS|AAAI)'\d\d|Lee, |Park, Piao and Kim", header
    ), "cite the source"


def test_recipe_numbers_that_the_papers_give():
    iwb = load_config(RECIPE_DIR / "iwb_cb.yaml")
    assert (iwb.stage1.epochs, iwb.stage1.batch_size, iwb.stage1.lr, iwb.stage1.weight_decay) == (
        200,
        64,
        0.01,
        5e-3,
    )
    assert (iwb.stage2.batch_size, iwb.stage2.lr, iwb.stage2.epochs) == (64, 0.005, 10)
    assert (
        iwb.stage2.method_options["iwb"]["lam"] == 0.15
        and iwb.stage2.method_options["iwb"]["base"] == "class_balanced"
    )
    assert load_config(RECIPE_DIR / "iwb.yaml").stage2.method_options["iwb"]["base"] == "ce"
    ldam = load_config(RECIPE_DIR / "ldam_drw.yaml")
    assert (
        ldam.stage1.epochs,
        ldam.stage1.lr,
        ldam.stage1.weight_decay,
        ldam.stage1.warmup_epochs,
    ) == (200, 0.1, 2e-4, 5)
    assert ldam.stage1.loss_kwargs["drw_epoch"] == 160 and ldam.stage1.loss_kwargs["s"] == 30
    assert ldam.model.kwargs == {
        "head": "cosine",
        "head_kwargs": {"scale": 1.0, "learn_scale": False},
    }
    cb = load_config(RECIPE_DIR / "wd_maxnorm_cb.yaml").stage2
    assert cb.method_options["wd_maxnorm"]["base"] == "class_balanced" and cb.weight_decay == 0.1


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_runs_a_few_steps_on_digits(path, tmp_path):
    from ltzoo.train.run import run

    cfg = load_config(path, DIGITS + [f"output_dir={tmp_path}"])
    results = run(cfg)
    methods = results["methods"]
    assert set(methods) == {"stage1", *cfg.stage2.methods}
    for name, metrics in methods.items():
        for key in ("top1", "many", "few", "per_class_std", "ece", "nll"):
            assert metrics[key] is not None and math.isfinite(metrics[key]), (
                name,
                key,
                metrics[key],
            )
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["ltzoo"]["deployed_method"] == (
        cfg.stage2.methods[-1] if cfg.stage2.methods else "stage1"
    )
