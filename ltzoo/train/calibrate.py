"""``ltzoo calibrate RUN_DIR``: post-hoc calibration of a run's deployed model, stored in the model.

1. Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML'17, Sec. 4.2):
   ``T`` minimises the NLL of ``softmax(z / T)`` on the validation split, which is carved from the
   training set (``data.val_fraction``, :func:`ltzoo.train.assemble.build_datasets`), never the test set.
2. Logit adjustment to a target class prior (Menon et al., "Long-Tail Learning via Logit
   Adjustment", ICLR'21, Eq. 4 post hoc): ``b = tau * (log pi_target - log pi_train)``; the
   validation split follows the training prior, so ``T`` is fitted before the adjustment and the
   deployed logits are ``z / T + b``: with ``tau = 1``, ``softmax(z / T + b)_y ∝ softmax(z / T)_y
   * pi_target(y) / pi_train(y)`` (Bayes' rule for a prior shift).

Both go into the model's ``calibration`` buffers (``model.calibration.set(temperature=, bias=)``),
and ``model.safetensors`` + ``config.json`` are re-written atomically with
:func:`ltzoo.hub.save_pretrained`, so the reloaded model predicts exactly what was evaluated.
Calibration always starts from the raw logits (a second call replaces the first, it does not
compound). The report (test ECE / NLL / accuracy before and after) is printed and written to
``RUN_DIR/calibration.json``. The heads under ``heads/`` (``ltzoo eval``) are not changed.

Target priors: ``uniform`` (default: a balanced deployment, Menon et al.'s post-hoc adjustment),
``train`` (no adjustment: temperature only), a JSON file holding a list of ``C`` numbers or a
``{class name: number}`` mapping for every class, or ``C`` numbers; counts or probabilities (they
are normalised).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from ltzoo.errors import InputError
from ltzoo.run_folder import (
    CALIBRATION,
    CONFIG,
    TIMM_CONFIG,
    check_run_dir,
    read_json,
    read_results,
    replace_together,
)

COLUMNS = (
    ("All", "top1"),
    ("Many", "many"),
    ("Medium", "medium"),
    ("Few", "few"),
    ("ECE", "ece"),
    ("NLL", "nll"),
)


def parse_target_prior(
    spec: Union[None, str, Sequence[Any]], class_names: Sequence[str]
) -> Union[str, List[float]]:
    """``"uniform"``, ``"train"`` or a list of ``C`` non-negative numbers, from the CLI/API spelling."""
    if spec is None:
        return "uniform"
    if isinstance(spec, (str, Path)):
        spec = [spec]
    spec = list(spec)
    num_classes = len(class_names)
    if len(spec) == 1 and str(spec[0]) in ("uniform", "train"):
        return str(spec[0])
    if len(spec) == 1 and isinstance(spec[0], (str, Path)) and str(spec[0]).endswith(".json"):
        path = Path(spec[0])
        if not path.is_file():
            raise FileNotFoundError(f"target prior file {str(path)!r} does not exist")
        try:
            value = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(
                f"target prior file {str(path)!r} is not valid JSON ({error}); expected a list of "
                f"{num_classes} numbers or a {{class name: number}} mapping"
            ) from None
        if isinstance(value, dict):
            missing = [name for name in class_names if name not in value]
            unknown = sorted(set(value) - set(class_names))
            if missing or unknown:
                raise InputError(
                    f"target prior {path}: classes missing {missing[:10]}, unknown {unknown[:10]}; "
                    f"the mapping must name every class of the run: {', '.join(class_names[:10])}, ..."
                )
            value = [value[name] for name in class_names]
        spec = value
    try:
        prior = [float(v) for v in spec]
    except (TypeError, ValueError):
        raise InputError(
            f"target prior {spec!r} is not allowed; give uniform, train, a .json file or "
            f"{num_classes} numbers"
        ) from None
    if len(prior) != num_classes:
        raise InputError(f"target prior has {len(prior)} values; the run has {num_classes} classes")
    if any(not (p >= 0) for p in prior) or sum(prior) <= 0:
        raise InputError("target prior values must be >= 0 with a positive sum")
    return prior


def _calibration_record(model, prior, tau: float, val_images: int, rows) -> Dict[str, Any]:
    """The ``calibration`` entry of the model's config and of the report: the model's temperature
    and bias, how they were chosen, and the test scores before and after."""
    return {
        "temperature": float(model.calibration.temperature),
        "bias": [float(b) for b in model.calibration.bias],
        "target_prior": prior,
        "tau": float(tau),
        "fitted_on": f"validation split ({val_images} images)",
        "scores": {
            "split": "test",
            **{
                name: {k: rows[key][k] for k in ("ece", "nll", "top1")}
                for name, key in (("before", "before"), ("after", "temperature+prior"))
            },
        },
    }


def _save_calibrated(model, run_dir: Path, saved: Dict[str, Any], calibration) -> None:
    """Re-save the run's model with its calibration, keeping the saved labels and data config."""
    from ltzoo.hub import save_pretrained

    data_config = {
        k: saved["pretrained_cfg"][k]
        for k in ("input_size", "mean", "std")
        if k in saved.get("pretrained_cfg", {})
    }
    extra = dict(saved.get("ltzoo", {}), calibration=calibration)
    save_pretrained(
        model, run_dir, label_names=saved.get("label_names"), data_config=data_config, extra=extra
    )


def calibrate_run(
    run_dir: Union[str, Path],
    target_prior: Union[None, str, Sequence[Any]] = "uniform",
    tau: float = 1.0,
    data_root: Optional[str] = None,
    allow_other_data: bool = False,
) -> Dict[str, Any]:
    """Fit ``T`` on validation, set the prior adjustment, re-save the model; returns the report.
    Data whose class names differ from the run's is refused, or with ``allow_other_data`` mapped
    by name (:mod:`ltzoo.train.data_check`)."""
    from ltzoo.atomic import write_json_atomic
    from ltzoo.evaluation import evaluate_logits, fit_temperature, logit_adjustment_bias
    from ltzoo.hub import load_pretrained
    from ltzoo.train.config import load_config
    from ltzoo.train.data_check import checked_datasets
    from ltzoo.train.features import predict_logits

    run_dir = check_run_dir(run_dir)
    if not tau >= 0:
        raise InputError(f"tau={tau} is not allowed; it must be >= 0")
    cfg = load_config(run_dir / CONFIG, overrides=[f"data.root={data_root}"] if data_root else [])
    saved = read_json(run_dir / TIMM_CONFIG)
    results = read_results(run_dir)
    counts = results["class_counts"]
    splits = checked_datasets(run_dir, cfg, allow_other_data)  # the run's classes, checked
    prior = parse_target_prior(target_prior, splits["test"].classes)
    if splits["val"] is None:
        raise InputError(
            f"run {run_dir} has no validation split (data.val_fraction=0): temperature scaling needs "
            "held-out training data; retrain with data.val_fraction > 0 (never fit it on test)"
        )

    model = load_pretrained(run_dir).eval()
    # start from the raw logits
    model.calibration.set(temperature=1.0, bias=torch.zeros(model.num_classes))
    val_logits, val_targets = predict_logits(model, splits["val"])
    test_logits, test_targets = predict_logits(model, splits["test"])
    temperature = fit_temperature(val_logits, val_targets)
    if prior == "train":
        bias = torch.zeros(model.num_classes)
    else:
        bias = logit_adjustment_bias(counts, None if prior == "uniform" else prior, tau=tau)

    def scores(calibration_temperature, calibration_bias):
        model.calibration.set(temperature=calibration_temperature, bias=calibration_bias)
        with torch.no_grad():
            logits = model.calibration(test_logits)
        return evaluate_logits(
            logits, test_targets, counts, many=cfg.data.many_threshold, few=cfg.data.few_threshold
        )

    rows = {
        "before": scores(1.0, torch.zeros(model.num_classes)),
        "temperature": scores(temperature, torch.zeros(model.num_classes)),
        "temperature+prior": scores(temperature, bias),
    }
    model.calibration.set(temperature=temperature, bias=bias)
    calibration = _calibration_record(model, prior, tau, len(val_targets), rows)
    report = {
        "calibration": calibration,
        "test": {name: {key: r[key] for _, key in COLUMNS} for name, r in rows.items()},
    }

    def write(folder: Path) -> None:
        _save_calibrated(model, folder, saved, calibration)
        write_json_atomic(folder / CALIBRATION, report)

    # weights, config and report switch together: a kill leaves the old three or the new three
    replace_together(run_dir, write)
    return report


def format_report(report: Dict[str, Any]) -> str:
    from ltzoo.evaluation import format_table

    c = report["calibration"]
    prior = c["target_prior"] if isinstance(c["target_prior"], str) else "given"
    return (
        format_table(report["test"], columns=COLUMNS)
        + f"\ntemperature T = {c['temperature']:.4f} (fitted on the {c['fitted_on']}); "
        f"target prior: {prior}, tau = {c['tau']}\n(test split; the model now outputs z / T + b)"
    )


__all__ = ["calibrate_run", "format_report", "parse_target_prior"]
