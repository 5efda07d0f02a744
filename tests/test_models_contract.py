"""The timm model contract, for every registered ltzoo model name."""

import pytest
import safetensors.torch
import timm
import torch

import ltzoo
from ltzoo.heads.base import HeadBase
from ltzoo.models.zoo import BACKBONE_INFO, ZOO_BACKBONES
from ltzoo.registry import HEADS, METHODS

ALL_MODELS = ltzoo.list_models()


# Small inputs keep the suite fast with every layer used: ResNet-50-class backbones and CIFAR nets at
# 32x32 (1x1 / 8x8 final feature maps), the papers' 21M/30M-parameter CIFAR nets at 16x16 (2x2).
SMALL_INPUT = {"resnet34_cifar": 16, "resnet32_x8": 16}


def _input_size(model):
    c, h, _ = model.pretrained_cfg["input_size"]
    side = SMALL_INPUT.get(model.backbone_name, min(h, 32))
    return (2, c, side, side)


def _backbone(name):
    """The zoo backbone of ``<backbone>_<method>``: the longest matching one (resnet32_x8 before resnet32)."""
    return max((b for b in ZOO_BACKBONES if name.startswith(b + "_")), key=len)


def _expected_head(name):
    if name == "lt_classifier":
        return "linear"
    return METHODS.get(name[len(_backbone(name)) + 1 :]).head


@pytest.mark.parametrize("name", ALL_MODELS)
def test_model_contract(name):
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

    saved = safetensors.torch.save(model.state_dict())  # the bytes of a .safetensors file
    with torch.device("meta"):  # a fresh model's structure, without computing weights it replaces
        clone = ltzoo.create_model(name, num_classes=3).eval()
    clone.load_state_dict(safetensors.torch.load(saved), assign=True)
    with torch.no_grad():
        assert torch.equal(clone(x), model(x))


@pytest.mark.parametrize(
    "name",
    [
        "resnet32_iwb",
        "resnet50_tau",
        "resnext50_32x4d_lws",
        "resnet34_cifar_wd_maxnorm",
        "resnet32_x8_iwb",
        "lt_classifier",
    ],
)
def test_timm_sees_ltzoo_models(name):
    assert name in timm.list_models()
    model = timm.create_model(name, num_classes=10)
    assert isinstance(model, ltzoo.models.LongTailClassifier) and model.num_classes == 10


def test_timm_pattern_includes_ours_and_timm_model():
    names = timm.list_models("resnet32*")
    assert "resnet32ts" in names  # timm's own model is untouched
    assert {n for n in names if n != "resnet32ts"} == set(ltzoo.list_models("resnet32*"))


def test_timm_resnet34_pattern_keeps_timm_models():
    names = timm.list_models("resnet34*")
    assert {"resnet34", "resnet34d"} <= set(names)  # timm's own models are untouched
    assert {n for n in names if n not in ("resnet34", "resnet34d")} == set(
        ltzoo.list_models("resnet34_cifar_*")
    )
    assert not timm.is_model("resnet34_cifar") and not timm.is_model(
        "resnet32_x8"
    )  # backbones, not entrypoints


def test_resnet32_parameter_counts():
    for classes, expected in ((10, 464_154), (100, 470_004)):
        model = ltzoo.create_model("resnet32_ce", num_classes=classes)
        assert sum(p.numel() for p in model.parameters()) == expected


def test_resnet32_structure():
    backbone = ltzoo.create_model("resnet32_ce").backbone
    stages = [backbone.layer1, backbone.layer2, backbone.layer3]
    assert [len(s) for s in stages] == [5, 5, 5]
    assert [s[-1].conv2.out_channels for s in stages] == [16, 32, 64]
    shortcut_params = [
        p for s in stages for b in s if b.downsample is not None for p in b.downsample.parameters()
    ]
    assert shortcut_params == []  # option-A shortcut has no parameters
    with torch.no_grad():
        assert backbone.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 64, 8, 8)


def test_default_num_classes_follow_the_tag():
    assert ltzoo.create_model("resnet32_ce").num_classes == 100
    assert ltzoo.create_model("resnet32_ce.cifar10_lt_r100").num_classes == 10
    assert ltzoo.create_model("resnet50_ce").num_classes == 8142
    for name in ("resnet34_cifar_iwb.cifar100_lt_r50", "resnet32_x8_tau.cifar100_lt_r10"):
        model = ltzoo.create_model(name)
        assert model.num_classes == 100 and model.pretrained_cfg["tag"] == name.split(".")[1]
        assert model.pretrained_cfg["input_size"] == (3, 32, 32)


def test_resnet50_and_resnext50_come_from_timm_builders():
    resnet = ltzoo.create_model("resnet50_ce", num_classes=5).backbone
    resnext = ltzoo.create_model("resnext50_32x4d_ce", num_classes=5).backbone
    assert isinstance(resnet, timm.models.ResNet) and isinstance(resnext, timm.models.ResNet)
    assert resnext.layer1[0].conv2.groups == 32
    # timm's resnet50 has 23,508,032 backbone parameters (25,557,032 with its 1000-way fc)
    assert sum(p.numel() for p in resnet.parameters()) == 23_508_032


def test_any_timm_backbone_with_any_head():
    model = ltzoo.create_model(
        "lt_classifier", backbone="convnext_atto", head="lws", num_classes=4
    ).eval()
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


@pytest.mark.parametrize("backbone", sorted(BACKBONE_INFO))
def test_backbone_table_parameter_counts(backbone):
    """The README's backbone table (data in the zoo) states what the models really have."""
    model = ltzoo.create_model(f"{backbone}_ce", num_classes=100)
    assert sum(p.numel() for p in model.parameters()) == BACKBONE_INFO[backbone]["num_params"]


@pytest.mark.parametrize(
    "name, expected", [("resnet34_cifar_ce", 21_328_292), ("resnet32_x8_ce", 29_564_132)]
)
def test_paper_backbone_parameter_counts(name, expected):
    """Alshammari et al. CVPR'22 code: 21,328,292; Dang et al. AAAI'24 code: 29,564,132 (100 classes)."""
    model = ltzoo.create_model(name, num_classes=100)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.num_features == 512 and model.head.fc.bias is not None
    # any head on these backbones by name, as lt_classifier backbones
    lws = ltzoo.create_model(
        "lt_classifier", backbone=name.rsplit("_", 1)[0], head="lws", num_classes=100
    )
    assert lws.num_features == 512


def test_resnet34_cifar_computes_the_reference_forward():
    """Alshammari et al.'s ResnetEncoder(34, embDimension=100, poolSize=4): torchvision's ResNet-34,
    a 3x3 stride-1 stem conv, no max-pool, 4x4 average pool, a biased fc. With its weights loaded by
    name, our model gives the same logits."""
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    torch.manual_seed(0)
    reference = torchvision.models.resnet34(num_classes=100)
    reference.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    reference.eval()
    for module in reference.modules():  # non-trivial BN statistics, so a misplaced BN shows
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    ours = ltzoo.create_model("resnet34_cifar_ce", num_classes=100).eval()
    state = {
        ("head." if k.startswith("fc.") else "backbone.") + k: v
        for k, v in reference.state_dict().items()
    }
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert unexpected == [] and [k for k in missing if not k.startswith("calibration.")] == []

    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        r = reference
        h = r.relu(r.bn1(r.conv1(x)))  # the reference skips r.maxpool
        h = r.layer4(r.layer3(r.layer2(r.layer1(h))))
        expected = r.fc(F.avg_pool2d(h, 4).flatten(1))
        assert ours.forward_features(x).shape == (2, 512, 4, 4)
        # 34 layers of float32 convolutions: the two may sum in another order (oneDNN's choice on
        # the CPU), so the tolerance scales with the logits
        scale = float(expected.abs().max().clamp(min=1))
        torch.testing.assert_close(ours(x), expected, rtol=1e-4, atol=1e-5 * scale)
        assert not torch.allclose(
            reference(x), expected, atol=1e-3
        )  # with the max-pool it would differ
    assert [i["reduction"] for i in ours.backbone.feature_info] == [1, 1, 2, 4, 8]


def test_resnet32_x8_structure():
    """Dang et al.'s ResNet_s with factor 8: 5 blocks per stage at 128/256/512 channels, a 128-channel
    3x3 stem, option-A (parameter-free zero-pad) shortcuts; the same layout as He et al.'s ResNet-32."""
    backbone = ltzoo.create_model("resnet32_x8_ce").backbone
    thin = ltzoo.create_model("resnet32_ce").backbone
    stages = [backbone.layer1, backbone.layer2, backbone.layer3]
    assert [len(s) for s in stages] == [5, 5, 5]
    assert backbone.conv1.out_channels == 128 and backbone.conv1.stride == (1, 1)
    assert [s[-1].conv2.out_channels for s in stages] == [128, 256, 512]
    assert [type(b.downsample).__name__ for s in stages for b in s if b.downsample is not None] == [
        "ZeroPadShortcut"
    ] * 2
    # every conv weight is 8x wider on both sides (64x the parameters) than He et al.'s ResNet-32
    wide = {k: v.shape for k, v in backbone.state_dict().items() if v.dim() == 4}
    narrow = {k: v.shape for k, v in thin.state_dict().items() if v.dim() == 4}
    assert wide.keys() == narrow.keys()
    assert all(
        wide[k][0] == 8 * narrow[k][0] and (wide[k][1] == 8 * narrow[k][1] or k == "conv1.weight")
        for k in wide
    )
    with torch.no_grad():
        assert backbone.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 512, 8, 8)
