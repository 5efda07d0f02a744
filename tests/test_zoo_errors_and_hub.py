"""Names, tags, errors, and the torch.hub face of the zoo."""

import ast
import re
import warnings

import pytest
import timm
import torch

import ltzoo
from ltzoo.errors import RandomWeightsWarning
from ltzoo.methods import zoo_methods
from ltzoo.model_table import model_table_markdown
from ltzoo.models import zoo
from ltzoo.models.published import published
from ltzoo.models.zoo import known_tags
from ltzoo.registry import UnknownNameError
from ltzoo.release import ReleaseStore, default_store
from tests.conftest import REPO_ROOT


def test_a_recipe_tag_belongs_to_the_architecture_it_deployed_only(monkeypatch):
    monkeypatch.setitem(
        zoo.RECIPE_TAGS, "resnet32_lws", {"bs_cifar100_lt_r100": "cifar100_lt_r100"}
    )
    lws, crt = zoo.zoo_tags("resnet32", "lws"), zoo.zoo_tags("resnet32", "crt")
    # the recipe tag shares the input cfg of its dataset tag (100 classes, CIFAR-100 statistics)
    assert lws["bs_cifar100_lt_r100"] == zoo.ZOO_BACKBONES["resnet32"]["cifar100_lt_r100"]
    assert list(lws)[:4] == list(crt) and "bs_cifar100_lt_r100" not in crt
    rows = {
        line.split("|")[1].strip(): line
        for line in model_table_markdown().splitlines()
        if line.startswith("| `")
    }
    assert "`bs_cifar100_lt_r100`" in rows["`resnet32_lws`"]
    assert "bs_cifar100_lt_r100" not in rows["`resnet32_crt`"]


def test_unknown_model_lists_valid_names_and_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'resnet32_iwb'.*resnext50_32x4d_tau"):
        ltzoo.create_model("resnet32_iwbb")


def test_timm_name_points_to_backbone_spelling():
    with pytest.raises(
        UnknownNameError, match="create_model\\('lt_classifier', backbone='convnext_atto'"
    ):
        ltzoo.create_model("convnext_atto")


def test_unknown_backbone_and_head():
    with pytest.raises(UnknownNameError, match="unknown backbone 'resnet33'; did you mean"):
        ltzoo.create_model("lt_classifier", backbone="resnet33")
    with pytest.raises(UnknownNameError, match="unknown head 'lwss'; did you mean 'lws'"):
        ltzoo.create_model("lt_classifier", head="lwss")


def test_tag_without_weights_names_what_exists():
    released = published()
    unreleased = [
        f"{arch}.{tag}"
        for arch in ("resnet32_iwb", "resnet34_cifar_iwb")
        for tag in known_tags(arch)
        if f"{arch}.{tag}" not in released
    ]
    assert unreleased, "every tag of both architectures is released: pick an unreleased one here"
    arch = unreleased[0].split(".")[0]
    with pytest.raises(
        ValueError,
        match=rf"no published weights for {re.escape(unreleased[0])} \(tags of {arch}: "
        r"cifar100_lt_r100, .*\)\. Tags with weights: .*resnet32_iwb\.cifar100_lt_r100",
    ):
        ltzoo.create_model(unreleased[0], pretrained=True)
    with pytest.raises(
        ValueError,
        match="unknown pretrained tag 'imagenet' for resnet32_iwb; known tags: cifar100_lt_r100",
    ):
        ltzoo.create_model("resnet32_iwb.imagenet")
    # the tags with weights are exactly the published table's, each file in the release store
    assert ltzoo.list_models(pretrained=True) == sorted(released)
    assert set(released) == set(ReleaseStore(default_store()).names())


def test_list_models_pattern_and_methods():
    assert set(ltzoo.list_methods()) >= {
        "ce",
        "crt",
        "experts",
        "iwb",
        "lws",
        "ncm",
        "tau",
        "wd_maxnorm",
    }
    # every method but the experts, whose head deploys from a run, has a model per backbone
    methods = zoo_methods()
    assert set(ltzoo.list_methods()) - set(methods) == {"experts"}
    assert ltzoo.list_models("resnet32_*") == sorted(
        [f"resnet32_{m}" for m in methods] + [f"resnet32_x8_{m}" for m in methods]
    )
    assert len(ltzoo.list_models()) == 5 * len(methods) + 1  # 5 backbones x methods + lt_classifier


def test_bad_num_classes():
    with pytest.raises(ValueError, match=r"num_classes=-1 is not allowed.*>= 1, or 0 for no head"):
        ltzoo.create_model("resnet32_ce", num_classes=-1)
    # timm's meaning of 0: no head, the model gives pooled features
    assert ltzoo.create_model("resnet32_ce", num_classes=0).num_classes == 0


def test_hubconf_reexports_exactly_the_registry():
    tree = ast.parse((REPO_ROOT / "hubconf.py").read_text())
    imported = [
        alias.name for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names
    ]
    assert imported == ltzoo.list_models()


@pytest.mark.parametrize(
    "name, params",
    [
        ("resnet32_iwb", 470_004),
        ("resnet32_x8_iwb", 29_564_132),
        ("resnet34_cifar_wd_maxnorm", 21_328_292),
    ],
)
def test_torch_hub_load_local(name, params):
    model = torch.hub.load(str(REPO_ROOT), name, source="local", num_classes=100)
    assert isinstance(model, ltzoo.models.LongTailClassifier) and model.num_classes == 100
    assert sum(p.numel() for p in model.parameters()) == params


def test_local_dir_without_pretrained_warns_that_the_weights_are_random(digits_run):
    run_dir, _ = digits_run
    saved = ltzoo.create_model(f"local-dir:{run_dir}", pretrained=True)
    with pytest.warns(RandomWeightsWarning, match="random weights: the saved ones load only with"):
        fresh = timm.create_model(f"local-dir:{run_dir}")
    differ = [k for k, v in saved.state_dict().items() if not torch.equal(v, fresh.state_dict()[k])]
    assert any(k.startswith("backbone.") for k in differ)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomWeightsWarning)
        timm.create_model(f"local-dir:{run_dir}", pretrained=True)
