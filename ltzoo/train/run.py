"""One two-stage run: stage 1 joint training, stage-2 classifier methods on cached features,
evaluation of every method on the test set, and the run folder (layout and rules:
:mod:`ltzoo.run_folder`).

``results.json``'s ``protocol`` says how ``methods`` / ``validation`` were scored (the last-epoch
model, no test-time augmentation); with ``eval.tta: flip`` the flip-averaged test metrics stand
beside them in ``tta.flip`` (``protocol`` + ``methods``).
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any, Dict

import torch

from ltzoo.atomic import save_safetensors_atomic, write_json_atomic
from ltzoo.data.base import data_record
from ltzoo.data.samplers import create_sampler
from ltzoo.data.transforms import create_transform
from ltzoo.errors import ConfigError
from ltzoo.evaluation import format_per_class, format_table
from ltzoo.factory import list_models
from ltzoo.hub import save_pretrained
from ltzoo.losses import create_loss
from ltzoo.models.lt_classifier import registered_head_name
from ltzoo.models.zoo import MODEL_NAMES
from ltzoo.registry import (
    DATASETS,
    LOSSES,
    SAMPLERS,
    TRANSFORMS,
    UnknownNameError,
    unknown_name_message,
)
from ltzoo.run_folder import (
    CONFIG,
    HEADS_DIR,
    HEADS_TABLE,
    RESULTS,
    SHARED_ENCODER,
    VERSION_KEY,
    claim,
    flatten,
)
from ltzoo.train.assemble import build_datasets, build_model, input_config
from ltzoo.train.config import RunConfig, from_dict, save_config, to_dict
from ltzoo.train.epoch_log import training_seconds
from ltzoo.train.features import extract_features
from ltzoo.train.image_training import evaluate_own_encoders, fit_stage2_on_images, uses_images
from ltzoo.train.scoring import PROTOCOLS, evaluate_heads
from ltzoo.train.shared_stage1 import adopt_source_stage1, load_stage1_model
from ltzoo.train.stage1 import checked_checkpoint, train_stage1
from ltzoo.train.stage2 import BEST_VAL, check_stage2_config, deployed_method, fit_stage2
from ltzoo.version import __version__

logger = logging.getLogger(__name__)


def format_results(results: Dict[str, Any], run_dir: str) -> str:
    """What a finished run reports: every method's table, per-class accuracy, TTA tables, the folder."""
    parts = [
        format_table(results["methods"]),
        format_per_class(results["methods"], class_names=results["class_names"]),
    ]
    parts += [
        format_tta_table(mode, scored["methods"]) for mode, scored in results.get("tta", {}).items()
    ]
    parts.append(f"run folder: {run_dir}  ({results['seconds']['total']:.1f} s)")
    return "\n".join(parts)


def format_tta_table(mode: str, methods: Dict[str, Any]) -> str:
    """A test-time augmentation's summary table, labelled as such (printed after the headline one)."""
    label = (
        f"test-time augmentation {mode} ({PROTOCOLS[mode]['logits']}), beside the headline above:"
    )
    return label + "\n" + format_table(methods)


def evaluate_flip(
    model,
    heads: Dict[str, Any],
    encoders: Dict[str, Any],
    test_set,
    test_features,
    class_counts,
    cfg: RunConfig,
    accelerator=None,
) -> Dict[str, Any]:
    """``results["tta"]["flip"]``: every head scored with the mean of the logits of each test image and
    of its mirror, on the encoder it deploys with (its own re-trained one, or the shared ``model``)."""
    shared_mirrored = extract_features(model, test_set, accelerator=accelerator, mirror=True)
    methods = {}
    for name, head in heads.items():
        encoder = encoders.get(name)
        plain, mirrored = test_features, shared_mirrored
        if encoder is not None:
            plain = extract_features(encoder, test_set, accelerator=accelerator)
            mirrored = extract_features(encoder, test_set, accelerator=accelerator, mirror=True)
        methods[name] = evaluate_heads({name: head}, plain, class_counts, cfg, mirrored=mirrored)[
            name
        ]
    return {"protocol": PROTOCOLS["flip"], "methods": methods}


def save_run(
    cfg: RunConfig,
    model,
    heads: Dict[str, Any],
    results: Dict[str, Any],
    data_config: Dict[str, Any],
) -> Path:
    """Write the run folder (every file atomically)."""
    out = Path(cfg.output_dir)
    table = {}
    for name, head in heads.items():
        save_safetensors_atomic(head.state_dict(), out / HEADS_DIR / f"{name}.safetensors")
        table[name] = {"head": registered_head_name(head), "head_kwargs": head.head_kwargs}
    write_json_atomic(out / HEADS_TABLE, table)
    deploy = results["deploy"]
    model.replace_head(heads[deploy])
    arch = f"{model.backbone_name}_{deploy}"
    model.pretrained_cfg["architecture"] = arch if arch in MODEL_NAMES else "lt_classifier"
    save_pretrained(
        model,
        out,
        label_names=results["class_names"],
        data_config=data_config,
        extra={
            "class_counts": results["class_counts"],
            "deployed_method": deploy,
            "top1": results["methods"][deploy]["top1"],
        },
    )
    write_json_atomic(out / RESULTS, results)
    return out


def check_names(cfg: RunConfig) -> None:
    """Every registry name in the recipe exists (dataset, model, loss, samplers, transform, stage-2
    methods): a typo fails here, with the valid names, before any data is read."""
    DATASETS.get(cfg.data.dataset)
    TRANSFORMS.get(cfg.data.transform)
    try:
        create_transform(cfg.data.transform, train=True, **cfg.data.transform_kwargs)
    except ValueError as error:
        raise ConfigError(
            f"data.transform_kwargs={cfg.data.transform_kwargs!r} is not allowed: {error}"
        ) from None
    for key, build in (
        (
            "stage1.loss_kwargs",
            lambda: create_loss(cfg.stage1.loss, class_counts=[2, 1], **cfg.stage1.loss_kwargs),
        ),
        (
            "stage1.sampler_kwargs",
            lambda: create_sampler(cfg.stage1.sampler, [0, 1], **cfg.stage1.sampler_kwargs),
        ),
    ):
        try:
            build()
        except UnknownNameError:
            raise
        except (ValueError, TypeError) as error:
            raise ConfigError(
                f"{key}={getattr(cfg.stage1, key.split('.')[1])!r} is not allowed: {error}"
            ) from None
    if cfg.stage1.mixes and not LOSSES.get(cfg.stage1.loss).accepts_soft_targets:
        takes = [name for name in LOSSES.names() if LOSSES.get(name).accepts_soft_targets]
        raise ConfigError(
            f"stage1.loss={cfg.stage1.loss!r} does not take the soft targets of stage1.mixup="
            f"{cfg.stage1.mixup:g} / stage1.cutmix={cfg.stage1.cutmix:g}; allowed with mixing: "
            f"{', '.join(takes)}"
        )
    if cfg.model.name.split(".")[0] not in list_models():
        raise UnknownNameError(unknown_name_message("model", cfg.model.name, list_models()))
    resolved = check_stage2_config(cfg.stage2)
    for method in resolved.values():
        if method.settings is not None:
            SAMPLERS.get(method.settings.sampler)
    return resolved


def format_settings(cfg: RunConfig, resolved: Dict[str, Any]) -> str:
    """The settings each stage really trains with, one line per stage-2 method."""

    def line(s) -> str:
        sched = s.schedule + (f" {s.milestones} x{s.gamma}" if s.schedule == "multistep" else "")
        warm = (
            f", warm-up {s.warmup_epochs:g} ep from {s.warmup_start_lr:g}"
            if s.warmup_epochs
            else ""
        )
        return (
            f"{s.epochs} ep, batch {s.batch_size}, lr {s.lr:g} {sched}{warm}, momentum {s.momentum:g}"
            f"{' nesterov' if s.nesterov else ''}, wd {s.weight_decay:g}, sampler {s.sampler}"
            f"{f', clip {s.grad_clip:g}' if s.grad_clip else ''}"
        )

    s1 = cfg.stage1
    mixing = (
        f", mixing: mixup {s1.mixup:g} cutmix {s1.cutmix:g} prob {s1.mixup_prob:g} "
        f"switch {s1.mixup_switch_prob:g} mode {s1.mixup_mode}"
        + (f" off from epoch {s1.mixup_off_epoch}" if s1.mixup_off_epoch is not None else "")
        if s1.mixes
        else ""
    )
    lines = [f"  stage1: {line(s1)}, loss {s1.loss} {s1.loss_kwargs or ''}".rstrip() + mixing]
    for name, r in resolved.items():
        what = (
            line(r.settings) + (f", loss {r.loss}" if r.loss else "")
            if r.settings
            else "no training"
        )
        lines.append(f"  {name}: {what}{f' {r.options}' if r.options else ''}")
    return "\n".join(lines)


def fit_method(method, model, splits, features, counts, cfg: RunConfig, accelerator, resolved):
    """Stage-2 ``method`` on the stage-1 ``model`` with its effective settings ``resolved``: on the
    cached ``features`` ({"train_plain", "val", ...}), or on images when ``cfg.stage2`` re-trains
    encoder layers or augments. Returns (head, the re-trained encoder or None)."""
    if uses_images(cfg.stage2):
        return fit_stage2_on_images(
            method,
            model,
            splits,
            features["val"],
            features["train_plain"],
            counts,
            cfg,
            accelerator,
            resolved=resolved,
        )
    head = fit_stage2(
        method,
        model.head,
        features["train_plain"],
        features["val"],
        counts,
        cfg.stage2,
        cfg.seed,
        resolved=resolved,
    )
    return head, None


def cpu_computes_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Does this CPU compute in bf16 natively (AVX512-BF16 or AMX-BF16 among its Linux flags)?"""
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def make_accelerator(cfg: RunConfig):
    """The run's Accelerator: precision, accumulation, torch.compile as ``cfg`` says, even when an
    earlier run in this process asked otherwise. CPU-only machines run on the CPU backend (gloo
    across processes: ``MULTI_CPU``)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import TorchDynamoPlugin

    if cfg.engine.compile_mode != "default" and not cfg.engine.compile:
        raise ConfigError(
            f"engine.compile_mode={cfg.engine.compile_mode!r} is not allowed with engine.compile=false; "
            "set engine.compile=true, or leave engine.compile_mode=default"
        )
    # Accelerate keeps its settings in process-wide singletons: a second run in one process (a notebook,
    # `ltzoo tune` trials, benchmarks) would otherwise keep the first run's torch.compile settings, or
    # refuse another mixed_precision. The process group (PartialState) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    cpu = cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())
    if cpu and cfg.mixed_precision == "bf16" and not cpu_computes_bf16():
        warnings.warn(
            "mixed_precision=bf16 on a CPU without native bf16 (no AVX512-BF16 or AMX among its "
            "flags): it runs, but slower than mixed_precision=no",
            stacklevel=2,
        )
    dynamo = (
        TorchDynamoPlugin(backend="inductor", mode=cfg.engine.compile_mode)
        if cfg.engine.compile
        else None
    )
    return Accelerator(
        cpu=cpu,
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.engine.grad_accumulation,
        log_with=cfg.engine.log_with or None,
        project_dir=cfg.output_dir,
        dynamo_plugin=dynamo,
    )


def tracker_config(cfg: RunConfig) -> Dict[str, Any]:
    """The recipe for the trackers (``engine.log_with``): flat keys, scalar values (others as text)."""
    return {
        key: value if isinstance(value, (int, float, str, bool)) else str(value)
        for key, value in flatten(to_dict(cfg)).items()
    }


def start_run_folder(cfg: RunConfig, accelerator, overwrite: bool, resolved) -> None:
    """Claim the run folder (:func:`ltzoo.run_folder.claim`) and log the run's settings."""
    claim(
        to_dict(cfg),
        resume=cfg.engine.resume != "none",
        overwrite=overwrite and accelerator.is_main_process,
        normalize=lambda recorded: to_dict(from_dict(RunConfig, recorded)),
    )
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        logger.info(
            f"ltzoo: {accelerator.num_processes} process(es) ({accelerator.distributed_type.value}) on "
            f"{accelerator.device}, global batch {cfg.stage1.batch_size}, run folder {cfg.output_dir}"
        )
        logger.info("settings:\n" + format_settings(cfg, resolved))


def stage1_model(cfg: RunConfig, accelerator, train_set, in_chans: int, on_epoch_end, checkpoint):
    """The stage-1 model: the one ``stage1.from_run`` names, else one trained here."""
    if cfg.stage1.from_run:
        return load_stage1_model(cfg, train_set, in_chans, accelerator)
    model = build_model(cfg, train_set.num_classes, in_chans=in_chans)
    return train_stage1(
        cfg, accelerator, model, train_set, on_epoch_end=on_epoch_end, checkpoint=checkpoint
    )


def fit_stage2_methods(cfg: RunConfig, model, splits, features, accelerator, resolved):
    """``(heads, encoders)``: every method's head (``stage1``'s first), and the encoders of the
    methods whose stage 2 re-trained encoder layers too (``stage2.retrain``)."""
    counts = splits["train"].class_counts
    heads = {"stage1": model.head}
    encoders = {}
    for method in cfg.stage2.methods:
        heads[method], encoder = fit_method(
            method, model, splits, features, counts, cfg, accelerator, resolved[method]
        )
        encoders.update({method: encoder} if encoder is not None else {})
    return heads, encoders


def results_record(
    cfg: RunConfig, splits, heads, features, resolved, stage1_seconds: float
) -> Dict[str, Any]:
    """``results.json``'s data, settings and every head's test (and validation) metrics."""
    train_set = splits["train"]
    counts = train_set.class_counts
    validation = (
        evaluate_heads(heads, features["val"], counts, cfg) if features["val"] is not None else None
    )
    results = {
        "dataset": cfg.data.dataset,
        "class_names": list(train_set.classes),
        "class_counts": [int(c) for c in counts],
        "num_train": len(train_set),
        "num_test": len(splits["test"]),
        "data": data_record(train_set, splits["test"], splits["val"]),
        "deploy": None,  # decided in run(), once the re-trained encoders are scored too
        "methods": evaluate_heads(heads, features["test"], counts, cfg),
        "validation": validation,
        "settings": {
            "stage1": cfg.stage1.model_dump(),
            "stage2": {m: r.record() for m, r in resolved.items()},
        },
        # this call's stage 1 (resuming, only its own epochs); "total" once all is scored
        "seconds": {"stage1": round(stage1_seconds, 2)},
        VERSION_KEY: __version__,
    }
    if cfg.stage1.from_run:
        results["stage1_from_run"] = cfg.stage1.from_run
    else:  # stage 1 trained here: its epochs over every call that trained it
        results["seconds"]["stage1_epochs"] = round(training_seconds(Path(cfg.output_dir)), 2)
    return results


def run(
    cfg: RunConfig, accelerator=None, on_epoch_end=None, overwrite: bool = False
) -> Dict[str, Any]:
    """Stage 1, every stage-2 method, evaluation, run folder; returns ``results``.

    ``cfg.output_dir`` must be empty or missing, unless ``cfg.engine.resume`` continues the run in
    it (same trajectory settings) or ``overwrite`` starts it over (:func:`ltzoo.run_folder.claim`).

    ``results["methods"]`` holds test metrics, ``results["validation"]`` the same metrics on the
    validation split carved from the training set (``None`` without one): tune on that, never on
    test. ``on_epoch_end(epoch, stats, model)`` is passed to stage 1.
    """
    from accelerate.utils import set_seed

    resolved = check_names(cfg)
    if cfg.stage1.from_run:
        cfg = adopt_source_stage1(cfg)
    checkpoint = None  # a wrong checkpoint fails before anything is written
    if cfg.engine.resume not in ("none", "auto"):
        checkpoint = checked_checkpoint(cfg.engine.resume, to_dict(cfg))
    if accelerator is None:
        accelerator = make_accelerator(cfg)
    start_run_folder(cfg, accelerator, overwrite, resolved)
    set_seed(cfg.seed)
    started = time.perf_counter()
    splits = build_datasets(cfg)  # bad data fails here, before anything is written
    if splits["val"] is None and cfg.stage2.deploy == BEST_VAL:
        deployed_method(cfg.stage2)  # refuses: nothing to choose on
    if accelerator.is_main_process:
        save_config(cfg, Path(cfg.output_dir) / CONFIG)
    if cfg.engine.log_with:
        accelerator.init_trackers("ltzoo", config=tracker_config(cfg))
    counts = splits["train"].class_counts
    data_config = input_config(splits["test"], cfg.data)
    model = stage1_model(
        cfg, accelerator, splits["train"], data_config["input_size"][0], on_epoch_end, checkpoint
    )
    stage1_done = time.perf_counter()

    model.eval()
    features = {
        name: extract_features(model, splits[name], accelerator=accelerator)
        if splits[name] is not None
        else None
        for name in ("train_plain", "val", "test")
    }
    heads, encoders = fit_stage2_methods(cfg, model, splits, features, accelerator, resolved)
    results = results_record(cfg, splits, heads, features, resolved, stage1_done - started)
    if encoders:
        evaluate_own_encoders(results, heads, encoders, splits, counts, cfg, accelerator)
        if accelerator.is_main_process:  # the stage-1 encoder the other heads score with
            save_safetensors_atomic(
                model.backbone.state_dict(), Path(cfg.output_dir) / HEADS_DIR / SHARED_ENCODER
            )
    results["deploy"] = deployed_method(cfg.stage2, results["validation"])
    if cfg.stage2.deploy == BEST_VAL:
        results["deploy_choice"] = {
            "rule": "the highest top-1 on the validation split",
            "split": "validation",
            "validation_top1": {m: v["top1"] for m, v in results["validation"].items()},
        }
    results["protocol"] = PROTOCOLS["none"]
    if cfg.eval.tta == "flip":
        flip = evaluate_flip(
            model, heads, encoders, splits["test"], features["test"], counts, cfg, accelerator
        )
        results["tta"] = {"flip": flip}
    # everything but saving: the re-trained encoders' and the flip evaluations included
    results["seconds"]["total"] = round(time.perf_counter() - started, 2)
    if accelerator.is_main_process:
        save_run(cfg, encoders.get(results["deploy"], model), heads, results, data_config)
    accelerator.wait_for_everyone()
    if cfg.engine.log_with:
        accelerator.end_training()
    return results
