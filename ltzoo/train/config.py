"""Typed run configuration: dataclasses, loaded from YAML, overridable with ``--set key=value``.

Unknown keys and wrong types fail before any work starts, naming the key, the value and what is
allowed. ``RunConfig()`` with no arguments is the embedded default: long-tailed 8x8 digits.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml


class ConfigError(ValueError):
    """A recipe or override that does not fit the config schema."""


@dataclass
class DataConfig:
    dataset: str = "digits_lt"
    root: Optional[str] = None
    imbalance: float = 20.0
    profile: str = "exp"
    val_fraction: float = 0.2
    transform: str = "digits"
    # the preset's options (ltzoo.data.transforms), e.g. cifar: {autoaugment: true, cutout: true}
    transform_kwargs: Dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    num_workers: int = 0
    loader: str = "torch"
    many_threshold: int = 100
    few_threshold: int = 20


@dataclass
class ModelConfig:
    name: str = "resnet32_ce"
    backbone: Optional[str] = None
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Stage1Config:
    epochs: int = 60
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 0
    loss: str = "ce"
    loss_kwargs: Dict[str, Any] = field(default_factory=dict)
    sampler: str = "instance_balanced"
    sampler_kwargs: Dict[str, Any] = field(default_factory=dict)
    grad_clip: Optional[float] = None
    # an earlier run folder whose stage-1 model is loaded instead of training one
    # (ltzoo.train.shared_stage1): the other stage1 settings are then that run's
    from_run: Optional[str] = None


@dataclass
class Stage2Config:
    methods: List[str] = field(default_factory=lambda: ["crt", "lws", "tau", "ncm", "iwb"])
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    sampler: str = "class_balanced"
    tau_grid: List[float] = field(default_factory=lambda: [round(0.1 * i, 1) for i in range(21)])
    method_options: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    deploy: Optional[str] = None
    # what stage 2 re-trains (Kang et al. ICLR'20, Table 1): the classifier on cached features, or on
    # images with the last stage ("last_block") or every encoder layer ("all") unfrozen too; see
    # ltzoo.train.stage2.on_images. augment=True trains on augmented images (encoder frozen unless retrain says).
    retrain: str = "classifier"
    augment: bool = False
    encoder_lr_scale: float = 1.0
    grad_clip: Optional[float] = None

    def settings_for(self, method: str, options: Dict[str, Any]) -> Dict[str, Any]:
        """This stage's training settings with ``method``'s own options layered on top."""
        settings = dict(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum,
            weight_decay=self.weight_decay, sampler=self.sampler, sampler_kwargs={}, grad_clip=self.grad_clip,
        )
        settings.update({k: v for k, v in options.items() if k in settings})
        return settings


@dataclass
class EngineConfig:
    """How stage 1 runs: checkpoints, resume, faults, precision tricks, logging.

    ``stage1.batch_size`` is the GLOBAL batch: each of N processes takes
    ``batch_size / (N * grad_accumulation)`` images per forward pass, so the optimizer sees the
    same batch and keeps the same learning rate whatever N is (no linear scaling needed).
    """

    checkpoint_every_steps: int = 0
    keep_checkpoints: int = 2
    resume: str = "none"
    on_nonfinite: str = "error"
    grad_accumulation: int = 1
    channels_last: bool = False
    fused_optimizer: bool = False
    compile: bool = False
    # torch.compile's mode with engine.compile: reduce-overhead replays the step as CUDA graphs
    # (one launch instead of hundreds of small kernels at batch 64); ignored on the CPU by PyTorch
    compile_mode: str = "default"
    log_with: List[str] = field(default_factory=list)


@dataclass
class EvalConfig:
    """The run's final test evaluation. The headline numbers (``results.json`` ``methods``) are always
    the last-epoch model without test-time augmentation; ``tta: flip`` stores, beside them, the mean
    of the logits of each test image and of its horizontal mirror (as the WD+MaxNorm and IWB code
    evaluate) under ``results.json`` ``tta.flip``."""

    tta: str = "none"


@dataclass
class RunConfig:
    output_dir: str = "runs/digits_lt"
    seed: int = 0
    device: str = "auto"
    mixed_precision: str = "no"
    progress: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    engine: EngineConfig = field(default_factory=EngineConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


CHOICES = {
    "mixed_precision": ("no", "bf16", "fp16"),
    "device": ("auto", "cpu", "cuda"),
    "data.profile": ("exp", "step", "none"),
    "stage2.retrain": ("classifier", "last_block", "all"),
    "engine.on_nonfinite": ("error", "skip"),
    "data.loader": ("torch", "device", "jpeg"),
    "engine.compile_mode": ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
    "eval.tta": ("none", "flip"),
}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """``value`` checked (and int->float widened) against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    if origin is Union:
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        return _coerce(key, value, next(a for a in args if a is not type(None)))
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r} is not allowed: expected a list")
        (item_type,) = typing.get_args(tp) or (Any,)
        return [_coerce(f"{key}[{i}]", v, item_type) for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r} is not allowed: expected a mapping")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool) or not isinstance(value, tp):
        raise ConfigError(f"{key}={value!r} is not allowed: expected {_type_name(tp)}, got {type(value).__name__}")
    return value


def from_dict(cls: type, values: Dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, refusing unknown keys and wrong types."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        full = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {prefix + close[0]!r}?" if close else "."
            raise ConfigError(f"unknown config key {full!r}{hint} Allowed keys: {', '.join(prefix + f for f in fields)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value or {}, prefix=f"{full}.")
        else:
            value = _coerce(full, value, tp)
            allowed = CHOICES.get(full)
            if allowed and value not in allowed:
                raise ConfigError(f"{full}={value!r} is not allowed; allowed: {', '.join(allowed)}")
            kwargs[key] = value
    return cls(**kwargs)


def to_dict(config: Any) -> Dict[str, Any]:
    return dataclasses.asdict(config)


def apply_overrides(values: Dict[str, Any], overrides: List[str]) -> Dict[str, Any]:
    """``["stage1.epochs=5", "data.root=/x"]`` applied to a nested dict (values parsed as YAML)."""
    values = yaml.safe_load(yaml.safe_dump(values)) or {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not allowed: expected key=value, e.g. stage1.epochs=5")
        key, raw = item.split("=", 1)
        node = values
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part!r} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return values


def load_config(path: Optional[Union[str, Path]] = None, overrides: Optional[List[str]] = None) -> RunConfig:
    """The recipe at ``path`` (or the embedded default) with ``overrides`` applied, validated."""
    values: Dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        values = yaml.safe_load(path.read_text()) or {}
    values = apply_overrides(values, overrides or [])
    return from_dict(RunConfig, values)


def save_config(config: RunConfig, path: Union[str, Path]) -> None:
    """Write the recipe as YAML, atomically (a crash leaves the old file or the new one)."""
    from ltzoo.train.checkpoint import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(to_dict(config), sort_keys=False))
