"""Typed run configuration (pydantic models), loaded from YAML, overridable with ``--set key=value``.

Unknown keys, wrong types, wrong choices and out-of-range numbers are all reported in one pass,
before any work starts, naming the key, the value and what is allowed. YAML is read with the
YAML 1.2 number rule, so ``5e-4`` and ``1e-3`` are floats in recipes and in ``--set`` (PyYAML's
YAML 1.1 reads them as strings). ``RunConfig()`` with no arguments is the embedded default:
long-tailed 8x8 digits.

Stage-2 settings: ``stage2.<key>`` left at ``null`` means "the method's own default"; the
effective settings of each method are resolved in one place (``ltzoo.train.stage2``) by the
precedence *method defaults < stage2.* < stage2.method_options.<method>*.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Dict, List, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from ltzoo.atomic import write_text_atomic
from ltzoo.errors import ConfigError
from ltzoo.methods.tau import TauGrid
from ltzoo.train.schedule import SCHEDULES, Schedule


# ---- YAML with YAML 1.2 floats ------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's numbers and booleans: ``5e-4`` is a float, and
    only true/false are booleans (YAML 1.1 also reads ``no``/``yes``/``on``/``off`` as booleans,
    which would turn ``--set mixed_precision=no`` into ``False``)."""


_BOOL, _FLOAT_TAG = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.add_implicit_resolver(_FLOAT_TAG, _FLOAT, list("-+0123456789."))
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with YAML 1.2 floats (``5e-4`` is 0.0005, not the string ``"5e-4"``)."""
    return yaml.load(text, Loader=_Loader)


# ---- field types: each range written once -------------------------------------------------------
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Epochs = Annotated[int, Field(ge=0)]
BatchSize = Annotated[int, Field(ge=1)]
Momentum = Annotated[float, Field(ge=0, lt=1)]
Gamma = Annotated[float, Field(gt=0, le=1)]
Fraction = Annotated[float, Field(ge=0, lt=1)]
Probability = Annotated[float, Field(ge=0, le=1)]
ScheduleName = Literal["cosine", "multistep", "constant"]
assert set(ScheduleName.__args__) == set(SCHEDULES)


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        validate_assignment=True,
        use_attribute_docstrings=True,
        allow_inf_nan=False,  # a rate, decay or factor of inf or nan is never meant
    )


class DataConfig(_Section):
    dataset: str = "digits_lt"
    """Registered dataset name (`ltzoo data describe` lists them)."""
    # read relative to the working directory; LTZOO_DATA_ROOT moves the project's data/ folder
    # (ltzoo.data.roots: data/cifar100 -> $LTZOO_DATA_ROOT/cifar100)
    root: Optional[str] = None
    """Folder holding the dataset's files."""
    # true: a dataset torchvision can fetch (cifar10_lt, cifar100_lt, fashion_mnist_lt) downloads
    # into root on first use, md5-checked; the others do not take it
    download: bool = False
    """Download the dataset into `root` when it is missing (CIFAR-10/100 through torchvision,
    md5-checked)."""
    imbalance: PositiveFloat = 20.0
    """Imbalance factor: images of the largest class over the smallest."""
    profile: Literal["exp", "step", "none"] = "exp"
    """Shape of the long tail: exponential, step (half the classes rare) or none (keep every
    image)."""
    val_fraction: Fraction = 0.2
    """With `val_source: fraction`, the share of each class's training images held out for
    validation."""
    # where the validation split comes from (ltzoo.data.longtail.VAL_SOURCES): "fraction" carves
    # val_fraction from the long-tailed training subset; "leftover" draws val_per_class images per
    # class from the training images the long-tail profile leaves out (then val_fraction must be 0)
    val_source: Literal["fraction", "leftover"] = "fraction"
    """Where the validation split comes from: a fraction of the training subset, or
    `val_per_class` images per class from the images the long-tail profile leaves out (then
    `val_fraction` must be 0)."""
    val_per_class: Annotated[int, Field(ge=1)] = 20
    """With `val_source: leftover`, validation images per class."""
    transform: str = "digits"
    """Augmentation preset (`cifar`, `digits`, `mnist`, `imagenet`)."""
    # the preset's options (ltzoo.data.transforms), e.g. cifar: {autoaugment: true, cutout: true}
    transform_kwargs: Dict[str, Any] = Field(default_factory=dict)
    """Options of the preset, e.g. `{autoaugment: true, cutout: true}` for `cifar`."""
    seed: int = 0
    """Seed of the long-tail subset and the validation split."""
    num_workers: Annotated[int, Field(ge=0)] = 0
    """DataLoader worker processes (`loader: torch`)."""
    loader: Literal["torch", "device", "jpeg"] = "torch"
    """`torch`: a DataLoader with PIL transforms; `device`: the in-memory dataset on the
    accelerator, augmented there; `jpeg`: batched JPEG decoding on the GPU."""
    many_threshold: Annotated[int, Field(ge=1)] = 100
    """Classes with more training images than this are Many."""
    few_threshold: Annotated[int, Field(ge=1)] = 20
    """Classes with fewer training images than this are Few."""
    # false: the split files are the user's own, not the benchmark's official lists (ltzoo.data.official)
    official_split: bool = True
    """Check split files against the benchmark's published counts and SHA-256; `false` for splits
    of your own."""
    # which images a long-tail profile keeps (ltzoo.data.longtail.SUBSET_RULES)
    subset_rule: Literal["per_class_permutation", "global_shuffle", "first_n"] = (
        "per_class_permutation"
    )
    """Which images the long-tail profile keeps: each class permutes its own, one global shuffle
    (Cao et al.'s code), or the first n in file order."""

    @model_validator(mode="after")
    def _one_validation_source(self):
        if self.val_source == "leftover" and self.val_fraction:
            raise ValueError(
                f"data.val_fraction={self.val_fraction} is not allowed with data.val_source=leftover, "
                "which draws data.val_per_class images per class from the images the long-tail profile "
                "leaves out; allowed: data.val_fraction=0 (or data.val_source=fraction)"
            )
        return self

    @model_validator(mode="after")
    def _thresholds_ordered(self):
        if self.few_threshold > self.many_threshold:
            raise ValueError(
                f"few_threshold={self.few_threshold} is not allowed with many_threshold="
                f"{self.many_threshold}: Few classes (< few_threshold images) must not overlap Many "
                "ones (> many_threshold); allowed: few_threshold <= many_threshold"
            )
        return self


class ModelConfig(_Section):
    name: str = "resnet32_ce"
    """Registered model name (`ltzoo models`); fixes backbone and deployed head."""
    backbone: Optional[str] = None
    """With `name: lt_classifier`, any backbone (ltzoo's CIFAR ResNets or a timm model)."""
    kwargs: Dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments of the model, e.g. `head_kwargs`."""


class TrainSettings(_Section):
    """How one stage trains: optimizer, schedule, sampler. The defaults are stage 2's generic ones
    (a method's spec may change them); :class:`Stage1Config` declares stage 1's own."""

    epochs: Epochs = 10
    """Training epochs."""
    batch_size: BatchSize = 64
    """Global batch size, split over processes and gradient-accumulation steps."""
    lr: PositiveFloat = 0.05
    """Peak learning rate of SGD."""
    momentum: Momentum = 0.9
    """SGD momentum."""
    nesterov: bool = False
    """Nesterov momentum."""
    weight_decay: NonNegFloat = 5e-4
    """L2 weight decay."""
    schedule: ScheduleName = "cosine"
    """Learning-rate schedule, stepped per batch: cosine to 0, multistep or constant."""
    milestones: List[NonNegFloat] = Field(default_factory=list)  # epochs, with schedule=multistep
    """With `schedule: multistep`, the epochs at which the rate is multiplied by `gamma`."""
    gamma: Gamma = 0.1
    """Multistep decay factor."""
    warmup_epochs: NonNegFloat = 0.0
    """Linear warm-up length, in epochs."""
    warmup_start_lr: NonNegFloat = 0.0
    """Learning rate at the start of the warm-up."""
    sampler: str = "class_balanced"
    """Registered sampler: `instance_balanced`, `class_balanced`, `square_root`, `progressive`,
    ..."""
    sampler_kwargs: Dict[str, Any] = Field(default_factory=dict)
    """Options of the sampler."""
    grad_clip: Optional[PositiveFloat] = None
    """Clip the gradient norm to this value."""

    def schedule_spec(self) -> Schedule:
        return Schedule(
            self.schedule,
            self.epochs,
            self.warmup_epochs,
            self.warmup_start_lr,
            self.milestones,
            self.gamma,
        )

    @model_validator(mode="after")
    def _schedule_fits(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.schedule_spec().check()
        return self


TRAINING_KEYS = tuple(TrainSettings.model_fields)


class Stage1Config(TrainSettings):
    epochs: Epochs = 60
    sampler: str = "instance_balanced"
    loss: str = "ce"
    """Registered stage-1 loss: `ce`, `focal`, `class_balanced`, `ldam`, `logit_adjusted`,
    `balanced_softmax`, ..."""
    loss_kwargs: Dict[str, Any] = Field(default_factory=dict)
    """Options of the loss."""
    mixup: NonNegFloat = 0.0
    """Mixup's Beta(alpha, alpha) parameter (Zhang et al., ICLR'18); 0 is off. Mixing needs a loss
    that takes soft targets: `ce`, `balanced_softmax`, `logit_adjusted`."""
    cutmix: NonNegFloat = 0.0
    """CutMix's Beta(alpha, alpha) parameter (Yun et al., ICCV'19); 0 is off."""
    mixup_prob: Probability = 1.0
    """Probability that a batch is mixed, with `mixup` or `cutmix` on."""
    mixup_switch_prob: Probability = 0.5
    """With both `mixup` and `cutmix` on, probability of CutMix rather than mixup for a batch."""
    mixup_mode: Literal["batch", "pair", "elem"] = "batch"
    """One mixing factor per batch, per pair of images or per image (timm's `Mixup` modes)."""
    mixup_off_epoch: Optional[Epochs] = None
    """The first epoch trained without mixing (timm's `--mixup-off-epoch`); null: mix to the end."""
    # an earlier run folder whose stage-1 model is loaded instead of training one
    # (ltzoo.train.shared_stage1): the other stage1 settings are then that run's
    from_run: Optional[str] = None
    """An earlier run folder whose stage-1 model is loaded instead of training one; its data
    settings must match."""

    @property
    def mixes(self) -> bool:
        """Whether stage 1 mixes its batches (mixup or CutMix on)."""
        return self.mixup > 0 or self.cutmix > 0

    @model_validator(mode="after")
    def _mixup_off_epoch_fits(self):
        if self.mixup_off_epoch is not None and self.mixup_off_epoch > self.epochs:
            raise ValueError(
                f"mixup_off_epoch={self.mixup_off_epoch} is past epochs={self.epochs}; "
                f"allowed: 0 to {self.epochs}, or null to mix to the end"
            )
        return self


def optional_fields(model: type) -> Dict[str, Any]:
    """``model``'s fields, each with its type and range but optional and ``None`` by default (the
    field definitions :func:`pydantic.create_model` takes)."""
    fields = {}
    for name, info in model.model_fields.items():
        annotation = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        fields[name] = (Optional[annotation], None)
    return fields


# stage2.methods, then stage2.<every TrainSettings key>: null = each method's own default
# (ltzoo.train.stage2), a value applies to every method. Derived from TrainSettings, so a new
# training setting is declared once.
_Stage2Training = create_model(
    "_Stage2Training",
    __base__=_Section,
    methods=(
        List[str],
        Field(
            default_factory=lambda: ["crt", "lws", "tau", "ncm", "iwb"],
            description="Stage-2 methods fitted on the stage-1 encoder (`ltzoo.list_methods()`).",
        ),
    ),
    **optional_fields(TrainSettings),
)


class Stage2Config(_Stage2Training):
    tau_grid: TauGrid = Field(default_factory=lambda: [round(0.1 * i, 1) for i in range(21)])
    """Values of tau that tau-norm chooses from on the validation split."""
    # which split tau (and other choices made on data) is picked on when data.val_fraction is 0:
    # "val" refuses to pick on training data; "train" allows it, with a warning and the split recorded
    select_on: Literal["val", "train"] = "val"
    """Split tau and other data-chosen values are picked on when there is no validation split:
    `val` refuses; `train` allows it, with a warning."""
    method_options: Dict[str, Dict[str, Any]] = Field(default_factory=dict)
    """Settings of one method: `{method: {key: value}}`, over the method's defaults and
    `stage2.<key>`."""
    deploy: Optional[str] = None
    """The method whose head goes into the deployed model: `stage1`, one of `methods`, or
    `best_val`, the one of them with the highest top-1 on the validation split (a data-chosen
    value, recorded in `results.json` as `deploy_choice`); default: the last method."""
    # what stage 2 re-trains (Kang et al. ICLR'20, Table 1): the classifier on cached features, or on
    # images with the last stage ("last_block") or every encoder layer ("all") unfrozen too; see
    # ltzoo.train.image_training. augment=True trains on augmented images (encoder frozen unless retrain says).
    retrain: Literal["classifier", "last_block", "all"] = "classifier"
    """What stage 2 trains: the classifier on cached features, or on images with the last stage
    or the whole encoder unfrozen (Kang et al., ICLR 2020, Table 1)."""
    augment: bool = False
    """Train stage 2 on augmented images instead of cached features."""
    encoder_lr_scale: NonNegFloat = 1.0
    """With `retrain` unfreezing encoder layers, their learning rate over the head's."""

    def explicit_training(self) -> Dict[str, Any]:
        """The training settings this section sets for every method (those not left at null)."""
        return {k: getattr(self, k) for k in TRAINING_KEYS if getattr(self, k) is not None}


class EngineConfig(_Section):
    """How stage 1 runs: checkpoints, resume, faults, precision tricks, logging.

    ``stage1.batch_size`` is the GLOBAL batch: each of N processes takes
    ``batch_size / (N * grad_accumulation)`` images per forward pass, so the optimizer sees the
    same batch and keeps the same learning rate whatever N is (no linear scaling needed).
    """

    checkpoint_every_steps: Annotated[int, Field(ge=0)] = 0
    """Also checkpoint every this many steps (0: at each epoch's end only)."""
    keep_checkpoints: Annotated[int, Field(ge=1)] = 2
    """How many of the newest checkpoints to keep."""
    # none | auto (the newest valid checkpoint of this run folder) | a checkpoint folder
    resume: str = "none"
    """`none`, `auto` (the newest valid checkpoint of the run folder) or a checkpoint folder."""
    on_nonfinite: Literal["error", "skip"] = "error"
    """On a NaN or infinite loss: stop naming the step (`error`) or skip the step (`skip`)."""
    grad_accumulation: Annotated[int, Field(ge=1)] = 1
    """Gradient-accumulation steps per optimizer step."""
    channels_last: bool = False
    """Channels-last memory format for the convolutions."""
    fused_optimizer: bool = False
    """The fused SGD kernel (GPU)."""
    compile: bool = False
    """`torch.compile` the model."""
    # torch.compile's mode with engine.compile: reduce-overhead replays the step as CUDA graphs
    # (one launch instead of hundreds of small kernels at batch 64); ignored on the CPU by PyTorch
    compile_mode: Literal[
        "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
    ] = "default"
    """`torch.compile`'s mode; `reduce-overhead` replays each step as CUDA graphs."""
    log_with: List[str] = Field(default_factory=list)
    """Trackers of Accelerate, e.g. `[tensorboard]`."""


class EvalConfig(_Section):
    """The run's final test evaluation. The headline numbers (``results.json`` ``methods``) are always
    the last-epoch model without test-time augmentation; ``tta: flip`` stores, beside them, the mean
    of the logits of each test image and of its horizontal mirror (as the WD+MaxNorm and IWB code
    evaluate) under ``results.json`` ``tta.flip``."""

    tta: Literal["none", "flip"] = "none"
    """Test-time augmentation stored beside the headline: `flip` averages the logits of each
    image and its mirror."""


class RunConfig(_Section):
    output_dir: str = Field("runs/digits_lt", min_length=1)
    """The run folder: weights, results, logs and checkpoints go here."""
    seed: int = Field(0, ge=0, lt=2**32)
    """Seed of weight initialisation, data order and augmentation."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train: `auto` takes a GPU when there is one."""
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    """Autocast precision of training: `no` (fp32), `bf16` or `fp16`."""
    progress: bool = True
    """Show progress bars (only on a terminal)."""
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    stage1: Stage1Config = Field(default_factory=Stage1Config)
    stage2: Stage2Config = Field(default_factory=Stage2Config)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


# ---- loading ----------------------------------------------------------------------------------------
def _allowed_keys(model: type, loc: tuple) -> List[str]:
    for part in loc[:-1]:
        annotation = (
            model.model_fields[part].annotation
            if part in getattr(model, "model_fields", {})
            else None
        )
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _describe(error: Dict[str, Any], root: type) -> str:
    loc = tuple(str(p) for p in error["loc"])
    key = ".".join(loc) or "config"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(root, loc)
        prefix = ".".join(loc[:-1]) + "." if len(loc) > 1 else ""
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"; did you mean {prefix + close[0]!r}?" if close else "."
        return f"unknown config key {key!r}{hint} Allowed keys: {', '.join(prefix + k for k in allowed)}"
    if error["type"] == "value_error":  # a cross-field check; its message names its own keys
        section = ".".join(loc)
        message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        return f"{section + '.' if section else ''}{message}"
    return (
        f"{key}={error.get('input')!r} is not allowed: {error['msg'][0].lower()}{error['msg'][1:]}"
    )


def from_dict(cls: type, values: Dict[str, Any], prefix: str = "") -> Any:
    """Build ``cls`` from a nested dict; every problem is reported at once in one ``ConfigError``."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {values!r}")
    try:
        return cls.model_validate(values)
    except ValidationError as error:
        problems = [_describe(e, cls) for e in error.errors(include_url=False)]
        raise ConfigError("; ".join(dict.fromkeys(problems))) from None


def to_dict(config: BaseModel) -> Dict[str, Any]:
    return config.model_dump(mode="python")


def apply_overrides(values: Dict[str, Any], overrides: List[str]) -> Dict[str, Any]:
    """``["stage1.epochs=5", "data.root=/x"]`` applied to a nested dict (values parsed as YAML)."""
    values = load_yaml(yaml.safe_dump(values)) or {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"--set {item!r} is not allowed: expected key=value, e.g. stage1.epochs=5"
            )
        key, raw = item.split("=", 1)
        node = values
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(
                f"--set {item!r} is not allowed: the key {key.strip()!r} has an empty part; "
                "expected key=value, e.g. stage1.epochs=5"
            )
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part!r} is not a section")
        try:
            node[parts[-1]] = load_yaml(raw)
        except yaml.YAMLError as error:
            raise ConfigError(
                f"--set {item!r}: the value is not valid YAML ({str(error).splitlines()[0]})"
            ) from None
    return values


def read_recipe(path: Union[str, Path]) -> Dict[str, Any]:
    """The YAML mapping in ``path`` (``ConfigError`` naming the file, line and column if it is not one)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"config file {str(path)!r} is a folder; give a recipe file (YAML), "
            "such as recipes/cifar100_lt/ce.yaml"
        )
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        values = load_yaml(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(
            f"config file {str(path)!r} is not valid YAML{where}: {problem}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"config file {str(path)!r} is not a text file (expected a YAML recipe)"
        ) from None
    if values is not None and not isinstance(values, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of sections (data:, stage1:, ...), "
            f"got a {type(values).__name__}"
        )
    if not values:
        raise ConfigError(
            f"config file {str(path)!r} is empty; a recipe sets at least one section (data:, "
            "model:, stage1:, stage2:). Without --config, ltzoo train runs the embedded default"
        )
    return values


def load_config(
    path: Optional[Union[str, Path]] = None, overrides: Optional[List[str]] = None
) -> RunConfig:
    """The recipe at ``path`` (or the embedded default) with ``overrides`` applied, validated."""
    values = read_recipe(path) if path is not None else {}
    values = apply_overrides(values, overrides or [])
    return from_dict(RunConfig, values)


def dump_config(config: RunConfig) -> str:
    """The resolved recipe as YAML text (what ``config.yaml`` and ``--print-config`` show)."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def save_config(config: RunConfig, path: Union[str, Path]) -> None:
    """Write the recipe as YAML, atomically (a crash leaves the old file or the new one)."""
    write_text_atomic(path, dump_config(config))
