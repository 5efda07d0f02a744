"""``create_model`` and ``list_models``: the timm-style front door of the zoo."""

from __future__ import annotations

import fnmatch
from typing import Any, List, Optional

import timm
from timm.models import split_model_name_tag

from ltzoo.models.zoo import MODEL_NAMES
from ltzoo.registry import UnknownNameError, unknown_name_message

_HUB_PREFIXES = ("hf-hub:", "hf_hub:", "local-dir:")


def create_model(
    name: str, pretrained: bool = False, num_classes: Optional[int] = None, **kwargs: Any
):
    """Build a registered ltzoo model, like ``timm.create_model``.

    ``name`` is a registered name (``ltzoo.list_models()``), optionally with a pretrained tag
    (``resnet32_iwb.cifar100_lt_r100``), or ``hf-hub:org/repo`` / ``local-dir:PATH`` for weights
    saved in timm's format. ``num_classes=None`` keeps the default of the tag (or checkpoint).
    Any timm model works as a backbone through ``create_model("lt_classifier",
    backbone="convnext_atto", head="lws", num_classes=10)``.
    """
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if not name.startswith(_HUB_PREFIXES):
        arch, _ = split_model_name_tag(name)
        if arch not in MODEL_NAMES:
            message = unknown_name_message("model", arch, MODEL_NAMES)
            if timm.is_model(arch):
                message += (
                    f". {arch!r} is a timm model: use it as a backbone, e.g. "
                    f"create_model('lt_classifier', backbone={arch!r}, head='linear')"
                )
            raise UnknownNameError(message)
    return timm.create_model(name, pretrained=pretrained, **kwargs)


def list_models(pattern: str = "*", pretrained: bool = False) -> List[str]:
    """Registered ltzoo model names matching ``pattern``; with ``pretrained=True`` only the
    ``arch.tag`` names that have published weights."""
    if not pretrained:
        return [n for n in MODEL_NAMES if fnmatch.fnmatchcase(n, pattern)]
    with_weights = timm.list_models(pattern, pretrained=True)
    return sorted(n for n in with_weights if split_model_name_tag(n)[0] in MODEL_NAMES)
