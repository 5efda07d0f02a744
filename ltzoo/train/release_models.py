"""``ltzoo release add RUN_DIR --tag TAG``: a finished run's deployed model, calibrated, into the
release store (:mod:`ltzoo.release`).

The temperature (Guo et al., "On Calibration of Modern Neural Networks", ICML'17, Sec. 4.2) is fitted
on the run's validation split, which must exist (``data.val_source: leftover`` draws a balanced one
from the training images the long-tail profile leaves out; never the test set). ECE and NLL on the
test set are measured before and after; top-1 does not change. With ``target_prior``, the logits are
also shifted to that class prior (Menon et al., "Long-Tail Learning via Logit Adjustment", ICLR'21,
Eq. 4 post hoc). The model's metrics are the run's own ``results.json`` (and its benchmark record's,
when given: both must agree), re-measured here from the saved weights as a check.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from ltzoo.errors import InputError
from ltzoo.evaluation import evaluate_logits, fit_temperature, logit_adjustment_bias
from ltzoo.hub import load_pretrained, model_args_of
from ltzoo.release import ReleaseStore, split_name
from ltzoo.run_folder import CONFIG, TIMM_CONFIG, check_run_dir, read_json, read_results
from ltzoo.train.assemble import build_datasets
from ltzoo.train.config import load_config
from ltzoo.train.features import predict_logits

DATASET_TITLES = {"cifar100_lt": "CIFAR-100-LT", "cifar10_lt": "CIFAR-10-LT"}
METRIC_KEYS = ("top1", "many", "medium", "few", "per_class_std", "ece", "nll")
# the record's top-1 and the one re-measured from the saved weights may differ by this much (bf16
# training evaluates in autocast; the release measures in fp32)
TOP1_TOLERANCE = 0.05


def _tag_of(cfg) -> str:
    """``cifar100_lt_r100`` from the run's dataset and imbalance factor."""
    return f"{cfg.data.dataset}_r{cfg.data.imbalance:g}"


def _chosen_on_validation(results: Dict[str, Any], method: str) -> list:
    chosen = ["temperature"]
    selection = results["methods"][method].get("selection") or {}
    if selection.get("split") == "val":
        chosen.insert(0, "tau" if "tau" in selection else "stage-2 selection")
    if (results.get("deploy_choice") or {}).get("split") == "validation":
        chosen.insert(0, "deployed method")
    return chosen


def _read_record(record, run_dir: Path, top1: float) -> Dict[str, Any]:
    """The reproduction record ``record`` names (``{}`` without one); one whose deployed top-1 is
    not the run's is refused."""
    if not record:
        return {}
    try:
        rec = json.loads(Path(record).read_text())
        recorded = rec["results"]["methods"][rec["results"]["deploy"]]["top1"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"--record {str(record)!r} is not a benchmark record (benchmarks/results/...json): "
            f"{type(error).__name__}: {error}"
        ) from None
    if recorded != top1:
        raise InputError(f"record {record} is not the record of {run_dir}: their top-1 differ")
    return rec


def _calibration_entry(temperature, target_prior, val_images: int, before, after) -> Dict[str, Any]:
    """The ``calibration`` entry of the released model: its temperature, the prior shift, where it
    was fitted and the test scores before and after."""
    return {
        "temperature": float(temperature),
        "prior_shift": target_prior,
        "fitted_on": f"balanced validation split ({val_images} images)",
        "scores": {
            "split": "test",
            **{
                k: {m: float(v[m]) for m in ("top1", "ece", "nll")}
                for k, v in (("before", before), ("after", after))
            },
        },
    }


def _model_config(model, arch: str, saved, results, method: str, calibration) -> Dict[str, Any]:
    """The released model's ``config.json``: the run's, without its Hub fields, with the calibration."""
    pretrained_cfg = {
        k: v
        for k, v in saved["pretrained_cfg"].items()
        if k not in ("hf_hub_id", "file", "source", "tag")
    }
    return {
        "architecture": arch,
        "num_classes": model.num_classes,
        "num_features": model.num_features,
        "pretrained_cfg": pretrained_cfg,
        "model_args": model_args_of(model),
        "label_names": results["class_names"],
        "ltzoo": {
            "class_counts": results["class_counts"],
            "deployed_method": method,
            "calibration": calibration,
        },
    }


def _release_info(cfg, arch, method, results, calibration, rec, record, run_dir, description):
    """The index entry's description of the released model: its metrics, data and provenance."""
    return {
        "description": description or f"{arch} ({method}).",
        "dataset": cfg.data.dataset,
        "dataset_title": DATASET_TITLES.get(cfg.data.dataset, cfg.data.dataset),
        "metrics": {k: results["methods"][method].get(k) for k in METRIC_KEYS},
        "calibration": calibration,
        "validation": results.get("data", {}).get("validation"),
        "chosen_on_validation": _chosen_on_validation(results, method),
        "protocol": "last epoch, no test-time augmentation",
        "record": str(record) if record else None,
        "recipe": rec.get("recipe", str(run_dir / CONFIG)),
        "command": rec.get("command", "(see the run's config.yaml)"),
        "machine": rec.get("machine", "unknown"),
    }


def released_architecture(saved: Dict[str, Any], cfg) -> str:
    """The zoo architecture a run's deployed model is released as: the one its saved
    ``config.json`` (``saved``) names, or the recipe's ``model.name`` for a run that deployed its
    stage-1 classifier (saved under the generic ``lt_classifier``)."""
    arch = saved["architecture"]
    return cfg.model.name if arch == "lt_classifier" else arch


def add_run(
    run_dir: Union[str, Path],
    store: Optional[ReleaseStore] = None,
    tag: Optional[str] = None,
    record: Optional[Union[str, Path]] = None,
    description: Optional[str] = None,
    data_root: Optional[str] = None,
    target_prior: Optional[str] = None,
    replace: bool = False,
) -> Dict[str, Any]:
    """Calibrate ``run_dir``'s deployed model and store it as ``<arch>.<tag>``; returns its entry
    (the store's index is not saved: call ``store.save()``)."""
    run_dir = check_run_dir(run_dir)
    store = store or ReleaseStore()
    overrides = [f"data.root={data_root}"] if data_root else []
    cfg = load_config(run_dir / CONFIG, overrides=overrides)
    results, saved = read_results(run_dir), read_json(run_dir / TIMM_CONFIG)
    method, arch = results["deploy"], released_architecture(saved, cfg)
    name = f"{arch}.{tag or _tag_of(cfg)}"
    split_name(name)
    rec = _read_record(record, run_dir, results["methods"][method]["top1"])

    splits = build_datasets(cfg)
    if splits["val"] is None:
        raise InputError(
            f"run {run_dir} has no validation split: the temperature is fitted on one, never on test; "
            "train with data.val_source=leftover (or data.val_fraction > 0)"
        )
    model = load_pretrained(run_dir).eval()
    model.calibration.set(temperature=1.0, bias=torch.zeros(model.num_classes))
    val_logits, val_targets = predict_logits(model, splits["val"])
    test_logits, test_targets = predict_logits(model, splits["test"])
    counts = results["class_counts"]
    thresholds = dict(many=cfg.data.many_threshold, few=cfg.data.few_threshold)
    temperature = fit_temperature(val_logits, val_targets)
    bias = torch.zeros(model.num_classes)
    if target_prior is not None:
        bias = logit_adjustment_bias(counts, None if target_prior == "uniform" else target_prior)
    before = evaluate_logits(test_logits, test_targets, counts, **thresholds)
    after = evaluate_logits(test_logits / temperature + bias, test_targets, counts, **thresholds)
    recorded = results["methods"][method]
    if abs(before["top1"] - recorded["top1"]) > TOP1_TOLERANCE:
        warnings.warn(
            f"{name}: top-1 re-measured from the saved weights is {before['top1']:.2f}, the run "
            f"recorded {recorded['top1']:.2f}",
            UserWarning,
            stacklevel=2,
        )
    model.calibration.set(temperature=temperature, bias=bias)
    calibration = _calibration_entry(temperature, target_prior, len(val_targets), before, after)
    config = _model_config(model, arch, saved, results, method, calibration)
    info = _release_info(cfg, arch, method, results, calibration, rec, record, run_dir, description)
    state = {
        k: v.detach().float() if v.is_floating_point() else v for k, v in model.state_dict().items()
    }
    return store.add(name, state, config, info, replace=replace)


__all__ = ["add_run", "released_architecture"]
