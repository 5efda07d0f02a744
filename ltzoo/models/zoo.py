"""Registered model entrypoints ``<backbone>_<method>`` and their pretrained tags.

Every (backbone, method) pair in ``ZOO_BACKBONES`` x ``ltzoo.methods`` becomes a timm entrypoint
(``timm.create_model("resnet32_iwb", num_classes=10)`` works after ``import ltzoo``), plus
``lt_classifier``, which takes any ``backbone=`` and ``head=``. Names never reuse a timm name
(timm would silently replace its own model), hence the method suffix on every entrypoint.

Pretrained tags follow timm (``resnet32_iwb.cifar100_lt_r100``) and are data: ``ZOO_BACKBONES``
says which tags each backbone has, ``PUBLISHED_WEIGHTS`` which of them have weights on the
Hugging Face Hub. A tag with no published weights fails with a clear error when
``pretrained=True``, naming what exists. ``BACKBONE_INFO`` says what each backbone is, its
parameter count and whose published numbers used it: the papers' "ResNet-32" on CIFAR-100-LT is
three different networks (``resnet32``, ``resnet34_cifar``, ``resnet32_x8``;
see :mod:`ltzoo.models.paper_backbones`).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch.nn as nn
from safetensors import safe_open
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import (
    PretrainedCfg,
    build_model_with_cfg,
    generate_default_cfgs,
    get_pretrained_cfg,
    register_model,
    resolve_pretrained_cfg,
    split_model_name_tag,
)

from ltzoo.errors import RandomWeightsWarning
from ltzoo.heads import HeadBase
from ltzoo.methods import zoo_methods
from ltzoo.models.lt_classifier import LongTailClassifier
from ltzoo.models.published import hub_ids, verified_weights
from ltzoo.models.weights import safe_weights_overlay
from ltzoo.registry import HEADS, METHODS

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "interpolation": "bilinear",
        "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD,
        "first_conv": "backbone.conv1",
        "classifier": "head.fc",
        "license": "apache-2.0",
        **kwargs,
    }


def _cifar_cfg(pool_size: Tuple[int, int] = (8, 8), **kwargs: Any) -> Dict[str, Any]:
    """32x32 inputs; ``pool_size`` is the backbone's unpooled map there (8x8 at stride 4)."""
    return _cfg(input_size=(3, 32, 32), pool_size=pool_size, crop_pct=1.0, **kwargs)


def _cifar100_lt_tags(pool_size: Tuple[int, int] = (8, 8)) -> Dict[str, Dict[str, Any]]:
    return {
        f"cifar100_lt_r{imbalance}": _cifar_cfg(
            pool_size, num_classes=100, mean=CIFAR100_MEAN, std=CIFAR100_STD
        )
        for imbalance in (100, 50, 10)
    }


# backbone -> {pretrained tag -> cfg}; the first tag is the default one.
ZOO_BACKBONES: Dict[str, Dict[str, Dict[str, Any]]] = {
    "resnet32": {
        **_cifar100_lt_tags(),
        "cifar10_lt_r100": _cifar_cfg(num_classes=10, mean=CIFAR10_MEAN, std=CIFAR10_STD),
    },
    # a ResNet-34 without the stem's stride and max-pool: stride 8, a 4x4 map at 32x32
    "resnet34_cifar": _cifar100_lt_tags(pool_size=(4, 4)),
    "resnet32_x8": _cifar100_lt_tags(),
    "resnext50_32x4d": {"imagenet_lt": _cfg(num_classes=1000)},
    "resnet50": {"inat2018": _cfg(num_classes=8142)},
}

# Tags one architecture has because a recipe of its own trained it (timm's ``<recipe>_<dataset>``
# form, as in ``resnet50.a1_in1k``): arch -> {tag -> the dataset tag of ``ZOO_BACKBONES`` whose input
# cfg it shares}. The arch is the method the recipe deployed.
RECIPE_TAGS: Dict[str, Dict[str, str]] = {
    # recipes/cifar100_lt/balanced_softmax_cutmix.yaml, which deployed IWB on the validation split
    "resnet32_iwb": {"bs_aa_cutmix_cifar100_lt_r100": "cifar100_lt_r100"},
}

# backbone -> what it is, parameters of ``<backbone>_ce`` at 100 classes (linear head with bias),
# and whose published numbers were measured with it (the README's model table prints this).
BACKBONE_INFO: Dict[str, Dict[str, Any]] = {
    "resnet32": dict(
        num_params=470_004,
        network="He et al.'s CIFAR ResNet-32 (CVPR'16), 16/32/64 channels",
        used_by="Cao et al. NeurIPS'19 (LDAM-DRW), Menon et al. ICLR'21 (logit adjustment)",
    ),
    "resnet34_cifar": dict(
        num_params=21_328_292,
        network="ResNet-34 with a 3x3 stride-1 stem and no max-pool",
        used_by="Alshammari et al. CVPR'22 (WD+MaxNorm) code; their paper calls it ResNet-32",
    ),
    "resnet32_x8": dict(
        num_params=29_564_132,
        network="CIFAR ResNet-32 at 8x width, 128/256/512 channels",
        used_by="Dang et al. AAAI'24 (IWB) code; their paper calls it ResNet-32",
    ),
    "resnext50_32x4d": dict(
        num_params=23_184_804,
        network="timm's ResNeXt-50 32x4d",
        used_by="ImageNet-LT (Kang et al. ICLR'20, Dang et al. AAAI'24)",
    ),
    "resnet50": dict(
        num_params=23_712_932,
        network="timm's ResNet-50",
        used_by="iNaturalist 2018 (Dang et al. AAAI'24)",
    ),
}

# "arch.tag" -> Hugging Face Hub repository holding model.safetensors + config.json, from the
# published-weights table that ``ltzoo release add`` writes (ltzoo.models.published)
PUBLISHED_WEIGHTS: Dict[str, str] = hub_ids()


def _tag_cfg(arch: str, tag: str, cfg: Dict[str, Any]) -> Dict[str, Any]:
    hub_id = PUBLISHED_WEIGHTS.get(f"{arch}.{tag}")
    return dict(cfg, hf_hub_id=hub_id) if hub_id else dict(cfg)


def classifier_cfg(head_type: type) -> Union[str, Tuple[str, ...]]:
    """``pretrained_cfg['classifier']`` of a model with this head plugin: the modules holding its
    class weights (``head.fc``; ``head`` for NCM, whose class means are ``head.weight``)."""
    names = tuple(f"head.{m}" if m else "head" for m in head_type.classifier_modules)
    return names[0] if len(names) == 1 else names


def zoo_tags(backbone: str, method: str) -> Dict[str, Dict[str, Any]]:
    """Pretrained tag -> input cfg of ``<backbone>_<method>``: the backbone's dataset tags, then the
    recipe tags of that architecture (``RECIPE_TAGS``)."""
    tags = dict(ZOO_BACKBONES[backbone])
    for tag, dataset_tag in RECIPE_TAGS.get(f"{backbone}_{method}", {}).items():
        tags[tag] = ZOO_BACKBONES[backbone][dataset_tag]
    return tags


def _all_default_cfgs() -> Dict[str, Dict[str, Any]]:
    cfgs: Dict[str, Dict[str, Any]] = {"lt_classifier": _cifar_cfg(num_classes=100)}
    for backbone in ZOO_BACKBONES:
        for method in zoo_methods():
            classifier = classifier_cfg(HEADS.get(METHODS.get(method).head))
            for tag, cfg in zoo_tags(backbone, method).items():
                cfg = dict(cfg, classifier=classifier)
                cfgs[f"{backbone}_{method}.{tag}"] = _tag_cfg(f"{backbone}_{method}", tag, cfg)
    return cfgs


# timm's register_model reads this table when each entrypoint is registered: keep it above them.
default_cfgs = generate_default_cfgs(_all_default_cfgs())


def _check_tag(variant: str, pretrained_cfg: Any) -> None:
    """A pretrained tag given by name must be one the architecture has."""
    tags = known_tags(variant)
    if isinstance(pretrained_cfg, str) and pretrained_cfg not in tags:
        raise ValueError(
            f"unknown pretrained tag {pretrained_cfg!r} for {variant}; known tags: {', '.join(tags) or '(none)'}"
        )


def _check_weights(variant: str, pretrained_cfg: Any, overlay: Optional[Dict[str, Any]]) -> None:
    """``pretrained=True`` needs a weight source; say what exists when there is none."""
    if isinstance(pretrained_cfg, str) or pretrained_cfg is None:
        name = f"{variant}.{pretrained_cfg}" if pretrained_cfg else variant
        cfg = get_pretrained_cfg(name) or PretrainedCfg()
    else:
        cfg = (
            pretrained_cfg
            if isinstance(pretrained_cfg, PretrainedCfg)
            else PretrainedCfg(**pretrained_cfg)
        )
        name = variant
    sources = ("file", "url", "hf_hub_id", "state_dict")
    if (
        cfg.has_weights
        or cfg.state_dict is not None
        or any((overlay or {}).get(k) for k in sources)
    ):
        return
    raise ValueError(
        f"no published weights for {name} (tags of {variant}: {', '.join(known_tags(variant)) or '(none)'}). "
        f"Tags with weights: {', '.join(sorted(PUBLISHED_WEIGHTS)) or 'none published yet'}. "
        "Load your own weights with create_model('local-dir:RUN_DIR') or "
        "pretrained_cfg_overlay=dict(file='model.safetensors'), or use pretrained=False."
    )


def _released_weights(variant: str, pretrained_cfg: Any, overlay: Dict[str, Any]) -> Optional[str]:
    """The SHA-256-checked local file of a published tag's weights; ``None`` for any other source."""
    if overlay.get("file") or not isinstance(pretrained_cfg, (str, type(None))):
        return None
    cfg = resolve_pretrained_cfg(
        variant, pretrained_cfg=pretrained_cfg, pretrained_cfg_overlay=overlay
    )
    if not cfg.hf_hub_id or cfg.source == "hf-hub":
        return None
    return verified_weights(f"{variant}.{cfg.tag}", cfg.hf_hub_id)


def _drop_mismatched_head(state_dict: Dict[str, Any], model: LongTailClassifier) -> Dict[str, Any]:
    """Head and calibration tensors sized for another number of classes are dropped (timm then
    loads non-strict and the model keeps fresh ones)."""
    own = model.state_dict()
    return {
        k: v
        for k, v in state_dict.items()
        if not (
            k.startswith(("head.", "calibration."))
            and k in own
            and tuple(own[k].shape) != tuple(v.shape)
        )
    }


def _checkpoint_num_classes(path: str) -> Optional[int]:
    """Rows of the head in a safetensors file (read from its header, no tensor loaded)."""
    if not str(path).endswith(".safetensors"):
        return None
    with safe_open(str(path), framework="pt") as checkpoint:
        for key in ("head.fc.weight", "head.weight", "head.class_means"):
            if key in checkpoint.keys():
                return int(checkpoint.get_slice(key).get_shape()[0])
    return None


def _sync_backbone_cfg(model: LongTailClassifier) -> None:
    """A timm backbone's own input size / normalisation is what its data pipeline needs; the
    classifier is the head's, and the unpooled map of ltzoo's own backbones follows their stride."""
    cfg = model.pretrained_cfg
    if isinstance(model.head, HeadBase):
        cfg["classifier"] = classifier_cfg(type(model.head))
    backbone_cfg = getattr(model.backbone, "pretrained_cfg", None)
    if not backbone_cfg and model.feature_info:
        stride = model.feature_info[-1]["reduction"]
        cfg["pool_size"] = tuple(side // stride for side in cfg["input_size"][1:])
    if backbone_cfg:
        for key in ("input_size", "pool_size", "crop_pct", "interpolation", "mean", "std"):
            if key in backbone_cfg:
                model.pretrained_cfg[key] = backbone_cfg[key]
        first_conv = backbone_cfg.get("first_conv")
        if isinstance(first_conv, str):
            model.pretrained_cfg["first_conv"] = f"backbone.{first_conv}"


def create_lt_model(variant: str, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Build ``variant`` with timm's builder (pretrained cfg, weight loading, traits).

    A ``local-dir:`` or ``hf-hub:`` name without ``pretrained=True`` builds the saved architecture
    with random weights, as timm does, and warns (:class:`ltzoo.errors.RandomWeightsWarning`)."""
    _check_tag(variant, kwargs.get("pretrained_cfg"))
    source = kwargs.get("pretrained_cfg")
    source = source.get("source") if isinstance(source, dict) else None
    if not pretrained and source in ("local-dir", "hf-hub"):
        warnings.warn(
            f"{variant} from a '{source}:' name has random weights: the saved ones load only with "
            "pretrained=True",
            RandomWeightsWarning,
            stacklevel=3,
        )
    if pretrained:
        # Hub and local-dir weights: safetensors only, never a pickle
        kwargs["pretrained_cfg_overlay"] = safe_weights_overlay(
            variant, kwargs.get("pretrained_cfg"), kwargs.get("pretrained_cfg_overlay")
        )
        overlay = kwargs.get("pretrained_cfg_overlay") or {}
        _check_weights(variant, kwargs.get("pretrained_cfg"), overlay)
        released = _released_weights(variant, kwargs.get("pretrained_cfg"), overlay)
        if released is not None:
            overlay = kwargs["pretrained_cfg_overlay"] = dict(overlay, file=released)
        if overlay.get("file") and "num_classes" not in overlay:
            # a bare weight file says nothing of its classes: read them from its header, so that the
            # head is kept when they match the requested num_classes and re-initialised otherwise
            file_classes = _checkpoint_num_classes(overlay["file"])
            if file_classes is not None:
                kwargs["pretrained_cfg_overlay"] = dict(overlay, num_classes=file_classes)
    # features_only=True: timm's getter wrapper, through forward_intermediates (the backbone is
    # one child module, which timm's list/dict wrappers cannot walk into); every level by default
    feature_cfg = dict(feature_cls="getter", out_indices=None, **kwargs.pop("feature_cfg", {}))
    model = build_model_with_cfg(
        LongTailClassifier,
        variant,
        pretrained,
        pretrained_filter_fn=_drop_mismatched_head,
        feature_cfg=feature_cfg,
        **kwargs,
    )
    if isinstance(model, LongTailClassifier):
        _sync_backbone_cfg(model)
    return model


def _make_entrypoint(backbone: str, method: str) -> Callable[..., LongTailClassifier]:
    spec = METHODS.get(method)
    name = f"{backbone}_{method}"

    def entrypoint(pretrained: bool = False, **kwargs: Any) -> LongTailClassifier:
        model_args = dict(backbone=backbone, head=spec.head, head_kwargs=dict(spec.head_kwargs))
        return create_lt_model(name, pretrained=pretrained, **dict(model_args, **kwargs))

    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = (
        f"{backbone} backbone with the {spec.head!r} head of method {method!r}: {spec.description}."
    )
    return entrypoint


@register_model
def lt_classifier(pretrained: bool = False, **kwargs: Any) -> LongTailClassifier:
    """Any backbone (ltzoo's CIFAR ResNets or a timm name) with any head plugin.

    ``create_model("lt_classifier", backbone="convnext_atto", head="lws", num_classes=10)``.
    """
    return create_lt_model("lt_classifier", pretrained=pretrained, **kwargs)


MODEL_NAMES = ["lt_classifier"]
for _backbone in ZOO_BACKBONES:
    for _method in zoo_methods():
        _fn = _make_entrypoint(_backbone, _method)
        globals()[_fn.__name__] = register_model(_fn)
        MODEL_NAMES.append(_fn.__name__)
MODEL_NAMES.sort()


def known_tags(model_name: str) -> list:
    arch, _ = split_model_name_tag(model_name)
    return [t for t in default_cfgs[arch].tags if t] if arch in default_cfgs else []
