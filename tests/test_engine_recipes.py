"""Engine recipes and Accelerate configs load and say what the papers and launcher expect."""

import pytest
from accelerate.commands.config.config_args import load_config_from_file

from ltzoo.train.config import load_config
from tests.conftest import REPO_ROOT

RECIPES = REPO_ROOT / "recipes"


@pytest.mark.parametrize(
    "name, processes, machines, kind",
    [
        ("1gpu", 1, 1, "NO"),
        ("8gpu", 8, 1, "MULTI_GPU"),
        ("multinode", 16, 2, "MULTI_GPU"),
        (
            "2cpu",
            2,
            1,
            "MULTI_GPU",
        ),  # torchrun launcher; the processes join as MULTI_CPU (see the file)
    ],
)
def test_accelerate_configs(name, processes, machines, kind):
    cfg = load_config_from_file(str(RECIPES / "accelerate" / f"{name}.yaml"))
    assert (cfg.num_processes, cfg.num_machines, cfg.distributed_type.value) == (
        processes,
        machines,
        kind,
    )
    assert cfg.use_cpu is False


@pytest.mark.parametrize(
    "path, stage1, iwb",
    [
        ("imagenet_lt/resnext50_iwb.yaml", (128, 0.01, 5e-4, 200), (512, 0.01, 0.05, 10)),
        ("inat2018/resnet50_iwb.yaml", (512, 0.02, 1e-4, 200), (512, 0.0002, 0.01, 10)),
        ("cifar10_lt/resnet32_iwb.yaml", (64, 0.01, 5e-3, 200), (64, 0.005, 0.15, 10)),
    ],
)
def test_iwb_paper_hyperparameters(path, stage1, iwb):
    """Dang et al., AAAI'24, Implementation details (stage 1 and stage 2 per dataset)."""
    cfg = load_config(RECIPES / path)
    assert (
        cfg.stage1.batch_size,
        cfg.stage1.lr,
        cfg.stage1.weight_decay,
        cfg.stage1.epochs,
    ) == stage1
    from ltzoo.train.stage2.spec import resolve

    effective = resolve("iwb", cfg.stage2)
    s = effective.settings
    assert (s.batch_size, s.lr, effective.options["lam"], s.epochs) == iwb
    assert "iwb" in cfg.stage2.methods
