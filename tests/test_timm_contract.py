"""timm's model contract on every ltzoo model, checked as timm's own ``tests/test_models.py`` checks
its models: forward and backward, the pretrained cfg of every tag against the real model,
``num_classes=0`` / ``global_pool=''``, ``features_only``, ``forward_intermediates``, gradient
checkpointing, TorchScript, FX and FX then TorchScript.

Inputs are the smallest that exercise every layer. The cfg of every tag is checked at its full
input size on the ``meta`` device: the real modules run, shapes propagate, no arithmetic is done.
"""

import math

import pytest
import timm
import torch
from timm.models import get_notrace_functions, get_notrace_modules, split_model_name_tag
from torchvision.models.feature_extraction import (
    NodePathTracer,
    create_feature_extractor,
    get_graph_node_names,
)

import ltzoo
from ltzoo.methods import zoo_methods
from ltzoo.models.zoo import ZOO_BACKBONES

NAMES = ltzoo.list_models()
TAGS = [n for n in timm.list_models(include_tags=True) if split_model_name_tag(n)[0] in NAMES]
# the heads no method deploys, on lt_classifier
EXTRA_HEADS = sorted(set(ltzoo.list_heads()) - {"linear", "lws", "ncm", "tau_norm"})
# compiled and traced: every method (so every deployed head) on resnet32, the other heads on
# lt_classifier, and one name per other backbone
SCRIPTED = (
    [f"resnet32_{method}" for method in zoo_methods()]
    + [f"{backbone}_ce" for backbone in ZOO_BACKBONES if backbone != "resnet32"]
    + [f"lt_classifier:{head}" for head in EXTRA_HEADS]
)


def _side(model) -> int:
    """The smallest input side with every layer at work: 16 for CIFAR nets, 32 for ImageNet ones."""
    return 16 if model.pretrained_cfg["input_size"][-1] == 32 else 32


def _create(spec: str, **kwargs):
    name, _, head = spec.partition(":")
    if head:
        kwargs["head"] = head
    return timm.create_model(name, pretrained=False, **kwargs)


def test_every_name_and_tag_is_checked():
    assert len(TAGS) >= len(NAMES) and set(map(lambda n: split_model_name_tag(n)[0], TAGS)) == set(
        NAMES
    )
    assert EXTRA_HEADS == ["cosine", "experts"]


@pytest.mark.parametrize("tag", TAGS)
def test_pretrained_cfg_is_true_for_the_model(tag):
    """timm's test_model_default_cfgs, at the tag's own input size."""
    with torch.device("meta"):
        model = timm.create_model(tag, pretrained=False).eval()
        cfg = model.pretrained_cfg
        registered = timm.models.get_pretrained_cfg(tag).to_dict()
        for key in ("input_size", "pool_size", "first_conv", "classifier", "num_classes"):
            assert cfg[key] == registered[key], key
        assert model.num_classes == cfg["num_classes"] > 0
        assert model.num_features > 0 and model.head_hidden_size > 0
        state = model.state_dict()
        x = torch.empty(1, *cfg["input_size"])
        features = model.forward_features(x)
        assert features.shape[1:] == (model.num_features, *cfg["pool_size"])
        pre = model.forward_head(features, pre_logits=True)
        assert pre.shape == (1, model.head_hidden_size)
        assert model(x).shape == (1, model.num_classes)
        model.reset_classifier(0)
        assert model.num_classes == 0 and model(x).shape == pre.shape
        model.reset_classifier(0, "")
        assert model(x).shape == features.shape
        bare = timm.create_model(tag, pretrained=False, num_classes=0, global_pool="").eval()
        assert bare(x).shape == features.shape
    classifiers = (
        cfg["classifier"] if isinstance(cfg["classifier"], tuple) else (cfg["classifier"],)
    )
    for name in classifiers + (cfg["first_conv"],):
        assert f"{name}.weight" in state, f"{name} names no module with a weight in {tag}"


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_and_grad_checkpointing(name):
    """timm's test_model_forward (grad checkpointing gives the same output) and test_model_backward."""
    model = timm.create_model(name, pretrained=False, num_classes=42).train()
    side = _side(model)
    outputs = model(torch.randn(2, 3, side, side))
    assert outputs.shape == (2, 42) and not torch.isnan(outputs).any()
    outputs.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []

    model.eval()
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        plain = model(x)
        model.set_grad_checkpointing()
        assert torch.allclose(model(x), plain, rtol=1e-4, atol=1e-5)
    x.requires_grad_(True)  # checkpointing only recomputes where gradients flow
    model.train()
    model(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_num_classes_0_at_construction_gives_pooled_features(name):
    model = timm.create_model(name, pretrained=False, num_classes=0).eval()
    side = _side(model)
    with torch.no_grad():
        out = model(torch.randn(1, 3, side, side))
    assert model.num_classes == 0 and out.shape == (1, model.num_features)
    model.reset_classifier(5)  # a head comes back, of the method's head type
    assert model.num_classes == 5 and type(model.head).__name__.endswith("Head")


@pytest.mark.parametrize("name", NAMES)
def test_features_only_and_forward_intermediates(name):
    """timm's test_model_forward_features, test_model_forward_intermediates(_features)."""
    model = timm.create_model(name, pretrained=False).eval()
    side = _side(model)
    x = torch.randn(1, 3, side, side)
    info = timm.models.FeatureInfo(model.feature_info, len(model.feature_info))
    channels, reductions = info.channels(), info.reduction()
    assert len(channels) >= 3
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        assert torch.allclose(final, model.forward_features(x))
        assert [m.shape[1] for m in maps] == channels
        for m, r in zip(maps, reductions):
            assert m.shape[-2:] == (math.ceil(side / r),) * 2
        assert [
            m.shape for m in model.forward_intermediates(x, indices=2, intermediates_only=True)
        ] == [m.shape for m in maps[-2:]]
        model.set_grad_checkpointing()
        final2, _ = model.forward_intermediates(x)
        assert torch.allclose(final, final2, rtol=1e-4, atol=1e-5)

        for kwargs in ({}, {"feature_cls": "getter"}):
            features = timm.create_model(name, pretrained=False, features_only=True, **kwargs)
            features.model.load_state_dict(model.state_dict(), strict=False)
            features.eval()
            assert features.feature_info.channels() == channels
            assert all(
                torch.allclose(f, m, atol=1e-5) for f, m in zip(features(x), maps, strict=True)
            )
        picked = timm.create_model(name, pretrained=False, features_only=True, out_indices=(1, -1))
        picked.model.load_state_dict(model.state_dict(), strict=False)
        assert picked.feature_info.channels() == [channels[1], channels[-1]]
        taken = picked.eval()(x)
        assert torch.allclose(taken[0], maps[1], atol=1e-5) and torch.allclose(
            taken[1], maps[-1], atol=1e-5
        )


def _fx(model, train=False):
    """timm's own FX wrapping of a model (tests/test_models.py ``_create_fx_model``)."""
    tracer_kwargs = dict(
        leaf_modules=get_notrace_modules(),
        autowrap_functions=get_notrace_functions(),
        param_shapes_constant=True,
    )
    train_nodes, eval_nodes = get_graph_node_names(model, tracer_kwargs=tracer_kwargs)
    train_return = [train_nodes[-1]]
    if train:
        graph = NodePathTracer(**tracer_kwargs).trace(model)
        nodes = list(reversed(graph.nodes))
        outputs = [n.name for n in nodes[0]._input_nodes.keys()]
        names = [n.name for n in nodes]
        train_return = [train_nodes[-names.index(o)] for o in outputs]
    return create_feature_extractor(
        model,
        train_return_nodes=train_return,
        eval_return_nodes=[eval_nodes[-1]],
        tracer_kwargs=tracer_kwargs,
    )


@pytest.mark.parametrize("spec", SCRIPTED)
def test_torchscript_fx_and_fx_then_torchscript(spec):
    """timm's test_model_forward_torchscript, test_model_forward_fx, test_model_backward_fx and
    test_model_forward_fx_torchscript; every head on resnet32, one name per other backbone."""
    with timm.layers.set_scriptable(True):
        model = _create(spec).eval()
    side = _side(model)
    x = torch.randn(1, 3, side, side)
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(torch.jit.script(model)(x), expected, rtol=1e-4, atol=1e-5)
        fx_model = _fx(model)
        assert torch.equal(torch.cat(tuple(fx_model(x).values())), expected)
        scripted_fx = torch.jit.script(fx_model)
        out = torch.cat(tuple(scripted_fx(x).values()))
        assert torch.allclose(out, expected, rtol=1e-4, atol=1e-5)

    trained = _fx(_create(spec, num_classes=42).train(), train=True)
    outputs = torch.cat(tuple(trained(torch.randn(2, 3, side, side)).values()))
    outputs.mean().backward()
    assert outputs.shape[-1] == 42
    assert [n for n, p in trained.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize("head", ltzoo.list_heads())
def test_every_head_scripts(head):
    module = ltzoo.heads.create_head(head, 8, 5).eval()
    x = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.allclose(torch.jit.script(module)(x), module(x))


def test_timm_optimizer_factory_groups_and_decays():
    """timm's optimiser factory reads group_matcher (layer decay) and no_weight_decay."""
    model = timm.create_model("resnet32_lws", pretrained=False)
    from timm.optim import create_optimizer_v2

    optimizer = create_optimizer_v2(model, "sgd", lr=0.1, weight_decay=1e-4, layer_decay=0.5)
    grouped = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    scales = {
        n: g["lr_scale"]
        for g in optimizer.param_groups
        for n, p in model.named_parameters()
        if any(p is q for q in g["params"])
    }
    # the stem trains slowest, the head at the full rate
    assert scales["backbone.conv1.weight"] < scales["backbone.layer3.4.conv2.weight"]
    assert scales["head.fc.weight"] == 1.0 and scales["head.scales"] == 1.0
    matcher = model.group_matcher()
    groups = timm.models.group_parameters(model, matcher)
    assert "backbone.conv1.weight" in groups[0] and "head.fc.weight" in groups[max(groups)]
    assert model.no_weight_decay() == set()


def test_prune_intermediate_layers_keeps_what_is_taken():
    model = timm.create_model("resnet32_ce", pretrained=False).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        maps = model.forward_intermediates(x, intermediates_only=True)
        kept = model.prune_intermediate_layers(indices=(0, 2))
        assert kept == [0, 2] and len(model.backbone.layer3) == 0
        assert model.num_classes == 0
        pruned = model.forward_intermediates(x, indices=kept, intermediates_only=True)
    assert [torch.equal(a, b) for a, b in zip(pruned, (maps[0], maps[2]))] == [True, True]
    with pytest.raises(ValueError, match="indices=.*feature levels are 0..3"):
        model.forward_intermediates(x, indices=(7,))


def test_ncm_weights_saved_under_the_old_key_still_load():
    model = timm.create_model("resnet32_ncm", pretrained=False, num_classes=4)
    state = model.state_dict()
    del state["head.weight"]
    state["head.class_means"] = expected = torch.randn(4, 64)
    model.load_state_dict(state)
    assert torch.equal(model.head.weight, expected) and model.head.class_means is model.head.weight
