"""The recipes on the networks the weight-balancing papers' code trained (recipes/cifar100_lt/paper_backbones):
each names valid registry entries and builds its network with the published parameter count (they
run end to end, on digits with the thin ResNet-32, in test_recipes.py)."""

import pytest

from ltzoo.train.assemble import build_model
from ltzoo.train.config import load_config
from ltzoo.train.run import check_names
from tests.conftest import REPO_ROOT

RECIPE_DIR = REPO_ROOT / "recipes" / "cifar100_lt" / "paper_backbones"
RECIPES = sorted(RECIPE_DIR.glob("*.yaml"))
# parameters at CIFAR-100's 100 classes: Alshammari et al. CVPR'22 code (ResNet-34, CIFAR stem) and
# Dang et al. AAAI'24 code (ResNet-32 at 8x width)
NETWORK = {
    "wd_maxnorm": ("resnet34_cifar", 21_328_292),
    "wd_maxnorm_cb": ("resnet34_cifar", 21_328_292),
    "iwb": ("resnet32_x8", 29_564_132),
    "iwb_cb": ("resnet32_x8", 29_564_132),
}


def test_one_recipe_per_paper_method():
    assert {p.stem for p in RECIPES} == set(NETWORK)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_builds_the_papers_network(path):
    cfg = load_config(path)
    check_names(cfg)  # dataset, model, losses, samplers, stage-2 methods and their options exist
    backbone, params = NETWORK[path.stem]
    assert cfg.model.name == f"{backbone}_ce" and cfg.stage2.methods == [
        path.stem.replace("_cb", "")
    ]
    model = build_model(cfg, num_classes=100, in_chans=3)
    assert model.backbone_name == backbone
    assert sum(p.numel() for p in model.parameters()) == params
    assert cfg.eval.tta == "flip"  # the authors' protocol is stored beside the headline


def test_iwb_lambda_gives_the_codes_target_exactly():
    """Their P = 0.01 * ln(N / (N_j + 1)) * HC; ltzoo's NC is log2, so lam = 0.01 ln 2 gives the same P."""
    import torch

    from ltzoo.losses import create_loss

    counts = [500, 120, 30, 5]
    for path in (RECIPE_DIR / "iwb.yaml", RECIPE_DIR / "iwb_cb.yaml"):
        options = dict(load_config(path).stage2.method_options["iwb"])
        options.pop("beta", None)
        loss = create_loss("iwb", class_counts=counts, **options)
        features, weight = torch.randn(3, 8), torch.randn(4, 8)
        hc = (
            1
            - torch.nn.functional.normalize(features, dim=1)
            @ torch.nn.functional.normalize(weight, dim=1).t()
        ) / 2
        theirs = (
            0.01
            * torch.log(torch.tensor(sum(counts)) / (torch.tensor(counts, dtype=torch.float) + 1))
            * hc
        )
        torch.testing.assert_close(
            loss.target_distribution(features, weight, torch.zeros(3, dtype=torch.long)),
            theirs,
            rtol=1e-5,
            atol=1e-7,
        )
