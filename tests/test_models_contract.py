"""The timm model contract, for every registered ltzoo model name."""

import pytest
import safetensors.torch
import timm
import torch

import ltzoo
from ltzoo.heads.base import HeadBase
from ltzoo.models.zoo import ZOO_BACKBONES
from ltzoo.registry import HEADS, METHODS

ALL_MODELS = ltzoo.list_models()


def _input_size(model):
    # ResNet-50-class backbones run at 64x64 here to keep the suite fast; CIFAR nets at 32x32.
    c, h, _ = model.pretrained_cfg["input_size"]
    return (2, c, min(h, 64), min(h, 64))


def _expected_head(name):
    if name == "lt_classifier":
        return "linear"
    backbone = next(b for b in ZOO_BACKBONES if name.startswith(b + "_"))
    return METHODS.get(name[len(backbone) + 1:]).head


@pytest.mark.parametrize("name", ALL_MODELS)
def test_model_contract(name, tmp_path):
    model = ltzoo.create_model(name, num_classes=7).eval()
    x = torch.randn(_input_size(model))
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        assert torch.allclose(model.forward_head(features), logits)
    assert logits.shape == (2, 7)
    assert features.ndim == 4 and features.shape[1] == model.num_features
    assert pooled.shape == (2, model.num_features)

    head = model.get_classifier()
    assert isinstance(head, HeadBase)
    assert type(head) is HEADS.get(_expected_head(name))
    head_type = type(head)
    model.reset_classifier(3)
    assert type(model.get_classifier()) is head_type
    assert model.num_classes == 3
    with torch.no_grad():
        assert model(x).shape == (2, 3)

    cfg = model.pretrained_cfg
    assert cfg["architecture"] == name
    assert len(cfg["input_size"]) == 3 and len(cfg["mean"]) == 3

    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file(model.state_dict(), str(path))
    clone = ltzoo.create_model(name, num_classes=3).eval()
    clone.load_state_dict(safetensors.torch.load_file(str(path)))
    with torch.no_grad():
        assert torch.equal(clone(x), model(x))


@pytest.mark.parametrize("name", ["resnet32_iwb", "resnet50_tau", "resnext50_32x4d_lws", "lt_classifier"])
def test_timm_sees_ltzoo_models(name):
    assert name in timm.list_models()
    model = timm.create_model(name, num_classes=10)
    assert isinstance(model, ltzoo.models.LongTailClassifier) and model.num_classes == 10


def test_timm_pattern_includes_ours_and_timm_model():
    names = timm.list_models("resnet32*")
    assert "resnet32ts" in names  # timm's own model is untouched
    assert {n for n in names if n != "resnet32ts"} == set(ltzoo.list_models("resnet32*"))


def test_resnet32_parameter_counts():
    for classes, expected in ((10, 464_154), (100, 470_004)):
        model = ltzoo.create_model("resnet32_ce", num_classes=classes)
        assert sum(p.numel() for p in model.parameters()) == expected


def test_resnet32_structure():
    backbone = ltzoo.create_model("resnet32_ce").backbone
    stages = [backbone.layer1, backbone.layer2, backbone.layer3]
    assert [len(s) for s in stages] == [5, 5, 5]
    assert [s[-1].conv2.out_channels for s in stages] == [16, 32, 64]
    shortcut_params = [p for s in stages for b in s if b.downsample is not None for p in b.downsample.parameters()]
    assert shortcut_params == []  # option-A shortcut has no parameters
    with torch.no_grad():
        assert backbone.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 64, 8, 8)


def test_default_num_classes_follow_the_tag():
    assert ltzoo.create_model("resnet32_ce").num_classes == 100
    assert ltzoo.create_model("resnet32_ce.cifar10_lt_r100").num_classes == 10
    assert ltzoo.create_model("resnet50_ce").num_classes == 8142


def test_resnet50_and_resnext50_come_from_timm_builders():
    resnet = ltzoo.create_model("resnet50_ce", num_classes=5).backbone
    resnext = ltzoo.create_model("resnext50_32x4d_ce", num_classes=5).backbone
    assert isinstance(resnet, timm.models.ResNet) and isinstance(resnext, timm.models.ResNet)
    assert resnext.layer1[0].conv2.groups == 32
    # timm's resnet50 has 23,508,032 backbone parameters (25,557,032 with its 1000-way fc)
    assert sum(p.numel() for p in resnet.parameters()) == 23_508_032


def test_any_timm_backbone_with_any_head():
    model = ltzoo.create_model("lt_classifier", backbone="convnext_atto", head="lws", num_classes=4).eval()
    assert model.pretrained_cfg["input_size"] == (3, 224, 224)  # the backbone's own input size
    assert model.pretrained_cfg["first_conv"] == "backbone.stem.0"
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 4)
    assert type(model.head).__name__ == "LWSHead"


def test_pretrained_cfg_overlay_file_loads_weights(tmp_path):
    source = ltzoo.create_model("resnet32_tau", num_classes=10).eval()
    source.head.set_tau(0.7)
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file(source.state_dict(), str(path))
    loaded = ltzoo.create_model(
        "resnet32_tau", pretrained=True, num_classes=10, pretrained_cfg_overlay=dict(file=str(path))
    ).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), source(x))
    assert float(loaded.head.tau) == pytest.approx(0.7)
    # another number of classes keeps the backbone and re-initialises the head
    adapted = ltzoo.create_model(
        "resnet32_tau", pretrained=True, num_classes=3, pretrained_cfg_overlay=dict(file=str(path))
    )
    assert torch.equal(adapted.backbone.conv1.weight, source.backbone.conv1.weight)
    assert adapted.head.fc.weight.shape == (3, 64)
