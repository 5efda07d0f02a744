"""Reloading a run folder: the recipe, the deployed model and every stage-2 head, re-evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union  # noqa: F401

from ltzoo.atomic import write_json_atomic
from ltzoo.heads import create_head
from ltzoo.hub import load_pretrained
from ltzoo.run_folder import (
    CONFIG,
    HEADS_DIR,
    HEADS_TABLE,
    RESULTS,
    SHARED_ENCODER,
    check_run_dir,
    load_tensors,
    read_json,
    read_results,
)
from ltzoo.train.config import load_config
from ltzoo.train.data_check import checked_datasets, recorded_class_names
from ltzoo.train.features import TTA_MODES, extract_features
from ltzoo.train.scoring import PROTOCOLS, evaluate_heads


def load_heads(run_dir: Path, in_features: int) -> Dict[str, Any]:
    table = read_json(run_dir / HEADS_TABLE)
    names, count = recorded_class_names(run_dir, read_results(run_dir))
    num_classes = len(names) if names else count
    heads = {}
    for name, spec in table.items():
        head = create_head(spec["head"], in_features, num_classes, **spec["head_kwargs"])
        head.load_state_dict(load_tensors(run_dir / HEADS_DIR / f"{name}.safetensors"))
        heads[name] = head.eval()
    return heads


def evaluate_run(
    run_dir: Union[str, Path],
    data_root: Optional[str] = None,
    accelerator=None,
    allow_other_data: bool = False,
):
    """(metrics per head, class names): every head of a run re-evaluated on its test split from
    the saved weights. With an ``accelerator``, each process extracts a shard of the test set and
    ``gather_for_metrics`` reassembles it, so the numbers equal a single-process evaluation.
    Data whose class names differ from the run's is refused, or with ``allow_other_data`` mapped
    by name (:mod:`ltzoo.train.data_check`)."""
    metrics, class_names = evaluate_run_protocols(
        run_dir, data_root, accelerator, allow_other_data=allow_other_data
    )
    return metrics["none"], class_names


def evaluate_run_protocols(
    run_dir: Union[str, Path],
    data_root: Optional[str] = None,
    accelerator=None,
    tta: str = "none",
    allow_other_data: bool = False,
):
    """({protocol: metrics per head}, class names): the headline ``"none"`` (no test-time
    augmentation) and, with ``tta="flip"``, ``"flip"`` (the mean of the logits of each test image
    and of its horizontal mirror) beside it."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta={tta!r} is not allowed; allowed: {', '.join(TTA_MODES)}")
    run_dir = check_run_dir(run_dir)
    cfg = load_config(run_dir / CONFIG, overrides=[f"data.root={data_root}"] if data_root else [])
    test = checked_datasets(run_dir, cfg, allow_other_data)["test"]  # before any work
    model = load_pretrained(run_dir).eval()
    if accelerator is not None:
        model = model.to(accelerator.device)
    heads = load_heads(run_dir, model.num_features)
    modes = ("none",) if tta == "none" else ("none", tta)
    metrics, cache = {mode: {} for mode in modes}, {}
    for name, head in heads.items():
        encoder = encoder_file(run_dir, name)
        if (
            encoder not in cache
        ):  # features once per distinct encoder (and once of the mirrored images)
            if encoder is not None:
                model.backbone.load_state_dict(load_tensors(encoder))
            cache[encoder] = {
                mode: extract_features(model, test, accelerator=accelerator, mirror=mode == "flip")
                for mode in modes
            }
        plain = cache[encoder]["none"]
        for mode in modes:
            mirrored = cache[encoder][mode] if mode == "flip" else None
            metrics[mode][name] = evaluate_heads(
                {name: head}, plain, test.class_counts, cfg, mirrored=mirrored
            )[name]
    return metrics, list(test.classes)


def store_tta(run_dir: Union[str, Path], mode: str, metrics: Dict[str, Any]) -> Dict[str, Any]:
    """Record a test-time augmentation's metrics in the run's ``results.json`` under ``tta.<mode>``,
    labelled with their protocol, beside the headline numbers (which stay as they are)."""
    path = check_run_dir(run_dir) / RESULTS
    results = read_json(path)
    results.setdefault("protocol", PROTOCOLS["none"])
    results.setdefault("tta", {})[mode] = {"protocol": PROTOCOLS[mode], "methods": metrics}
    write_json_atomic(path, results)
    return results


def encoder_file(run_dir: Path, method: str) -> Optional[Path]:
    """The backbone ``method`` scores with: its own re-trained one, stage 1's, or (None) the
    deployed model's, when no method re-trained encoder layers."""
    for name in (f"{method}.encoder.safetensors", SHARED_ENCODER):
        if (run_dir / HEADS_DIR / name).is_file():
            return run_dir / HEADS_DIR / name
    return None
