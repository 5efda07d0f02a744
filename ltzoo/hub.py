"""Saving and loading models in timm's Hub format: ``config.json`` + ``model.safetensors``.

A folder written by :func:`save_pretrained` loads with ``timm.create_model("local-dir:DIR")``
(after ``import ltzoo``) or :func:`load_pretrained`; the same two files on the Hugging Face Hub
load with ``hf-hub:org/name``. Weights are safetensors only: nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import timm

from ltzoo.train.checkpoint import save_safetensors_atomic, write_json_atomic

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def model_args_of(model) -> Dict[str, Any]:
    """Arguments that rebuild ``model``'s architecture (backbone, head and head options)."""
    args = dict(getattr(model, "_model_args", {}) or {})
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "num_classes", "pretrained"):
        args.pop(key, None)
    args.update(backbone=model.backbone_name, head=model.head_name, head_kwargs=dict(model.head.head_kwargs))
    return args


def save_pretrained(
    model, directory: Union[str, Path], label_names: Optional[Sequence[str]] = None,
    extra: Optional[Dict[str, Any]] = None, data_config: Optional[Dict[str, Any]] = None,
) -> Path:
    """Write ``model.safetensors`` and timm's ``config.json`` (atomically) into ``directory``.

    ``data_config`` (``input_size``, ``mean``, ``std``, ...) records the preprocessing the weights
    were trained with; ``extra`` goes under the ``ltzoo`` key (class counts, results, recipe).
    """
    directory = Path(directory)
    pretrained_cfg = {k: v for k, v in model.pretrained_cfg.items() if k not in ("state_dict", "file", "source")}
    pretrained_cfg.update(num_classes=model.num_classes, **(data_config or {}))
    for key in ("hf_hub_id", "url", "tag"):
        pretrained_cfg.pop(key, None)
    config = {
        "architecture": model.pretrained_cfg.get("architecture", "lt_classifier"),
        "num_classes": model.num_classes,
        "num_features": model.num_features,
        "pretrained_cfg": pretrained_cfg,
        "model_args": model_args_of(model),
    }
    if label_names is not None:
        config["label_names"] = list(label_names)
    if extra:
        config["ltzoo"] = extra
    save_safetensors_atomic(model.state_dict(), directory / WEIGHTS_NAME, metadata={"format": "pt"})
    write_json_atomic(directory / CONFIG_NAME, json.loads(json.dumps(config, default=list)))
    return directory


def load_pretrained(directory: Union[str, Path], num_classes: Optional[int] = None, **kwargs: Any):
    """The model saved in ``directory``; says which file is missing when the folder is incomplete."""
    directory = Path(directory)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} has no {name}; a saved ltzoo model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    if num_classes is not None:
        saved = json.loads((directory / CONFIG_NAME).read_text()).get("num_classes")
        if saved is not None and saved != num_classes:
            raise ValueError(
                f"num_classes={num_classes} does not match the checkpoint in {directory}, which has {saved} classes; "
                "omit num_classes to keep the checkpoint's, or build a new head with model.reset_classifier(n)"
            )
    import ltzoo  # noqa: F401  (registers the architectures with timm)

    return timm.create_model(f"local-dir:{directory}", pretrained=True, **kwargs)
