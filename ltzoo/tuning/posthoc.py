"""Post-hoc parameters tuned on a finished run's cached validation features, without retraining.

- ``tau``: tau-normalisation ``w_i / ||w_i||^tau`` of a linear classifier (Kang et al. ICLR'20;
  tau chosen on an 80/20 validation split);
- ``temperature``: temperature scaling fitted by validation NLL (Guo et al. ICML'17);
- ``logit_adjust``: strength ``s`` of the post-hoc logit adjustment ``b = s * (-log pi_train)``
  (Menon et al. ICLR'21), towards a uniform deployment prior.

The deployed logits are ``z / T + b`` (:mod:`ltzoo.models.calibration`, the composition
``ltzoo calibrate`` uses too): ``T`` is fitted first on the validation logits of the head (for
each tau tried, when tau is tuned), then ``s`` is searched on top. The run's encoder and heads are
reloaded once, the validation features extracted once, and ``tau``/``logit_adjust`` searched
jointly by Optuna TPE on those features (milliseconds per trial). The result is written to
``<RUN_DIR>/posthoc/``: ``posthoc.json`` (values, validation metrics before/after, test metrics for
reporting only), ``model/`` (the deployable model with the tuned head and calibration buffers,
``timm.create_model("local-dir:...")`` loads it) and, when tau was tuned on the stage-1
classifier, ``best.yaml``: the run's recipe with ``stage2.method_options.tau.tau_grid: [tau]``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

import torch
import yaml

from ltzoo.atomic import write_json_atomic, write_text_atomic
from ltzoo.errors import ConfigError
from ltzoo.evaluation import evaluate_logits, fit_temperature, logit_adjustment_bias
from ltzoo.heads import create_head
from ltzoo.heads.tau_norm import tau_normalize
from ltzoo.hub import load_pretrained, save_pretrained
from ltzoo.models.calibration import calibrated
from ltzoo.models.lt_classifier import registered_head_name
from ltzoo.run_folder import CONFIG, RESULTS, TIMM_CONFIG, check_run_dir
from ltzoo.train.assemble import build_datasets
from ltzoo.train.config import RunConfig, from_dict, load_config, to_dict
from ltzoo.train.features import extract_features
from ltzoo.train.reload import load_heads
from ltzoo.tuning.objective import Objective
from ltzoo.tuning.space import SearchSpace
from ltzoo.tuning.study import check_storage_url, open_storage

POSTHOC = ("tau", "logit_adjust", "temperature")
ALIASES = {
    "la": "logit_adjust",
    "logit-adjust": "logit_adjust",
    "t": "temperature",
    "temp": "temperature",
}
DEFAULT_RANGES = {"tau": "tau=uniform:0:2", "logit_adjust": "logit_adjust=uniform:0:2"}
REPORT_KEYS = ("top1", "mean_per_class", "many", "medium", "few", "per_class_std", "ece", "nll")


def parse_posthoc(names) -> list:
    items = names.split(",") if isinstance(names, str) else list(names)
    out = []
    for name in (n.strip().lower() for n in items if n.strip()):
        name = ALIASES.get(name, name)
        if name not in POSTHOC:
            raise ConfigError(
                f"--posthoc {name!r} is not allowed; allowed: {', '.join(POSTHOC)} (aliases: {', '.join(ALIASES)})"
            )
        if name not in out:
            out.append(name)
    if not out:
        raise ConfigError(f"--posthoc needs at least one of {', '.join(POSTHOC)}")
    return out


class PosthocHead(torch.nn.Module):
    """A linear-type head with tau-normalised weights and an additive logit bias: what the tuned
    values deploy as (``tau_norm`` head + the model's calibration buffers)."""

    def __init__(self, head, tau_allowed: bool, counts):
        super().__init__()
        self.head = head
        self.prior = logit_adjustment_bias(counts)  # -log pi_train up to a constant, strength 1
        self.start_tau = float(getattr(head, "tau", 0.0))
        if tau_allowed:
            kind = registered_head_name(head)
            if kind not in ("linear", "tau_norm"):
                raise ConfigError(
                    f"--posthoc tau needs a linear or tau_norm head; this method's head is {kind!r} "
                    "(tune tau on stage1, crt or iwb, or drop tau)"
                )
            self.weight = head.fc.weight.detach()
            self.bias = head.fc.bias.detach() if head.fc.bias is not None else None

    def raw_logits(self, features: torch.Tensor, tau: Optional[float] = None) -> torch.Tensor:
        """The head's logits with ``tau`` (None: the head as saved), before calibration."""
        with torch.no_grad():
            if tau is None:
                return self.head(features).float()
            return torch.nn.functional.linear(
                features, tau_normalize(self.weight, tau), self.bias
            ).float()


def _summary(metrics: Dict[str, Any]) -> Dict[str, Any]:
    return {k: metrics.get(k) for k in REPORT_KEYS}


def _ranges(posthoc: Sequence[str], params: Sequence[str]) -> Dict[str, Any]:
    """``{name: Param}`` searched: the default range of each tuned name, ``--param`` ranges over them."""
    ranges = {
        p.key: p
        for p in SearchSpace.parse(
            [DEFAULT_RANGES[n] for n in posthoc if n in DEFAULT_RANGES]
        ).params
    }
    for param in SearchSpace.parse(params).params:
        key = ALIASES.get(param.key, param.key)
        if key not in ranges:
            raise ConfigError(
                f"--param {param.spec()}: post-hoc ranges can be given for {', '.join(ranges) or '(none)'}"
            )
        ranges[key] = dataclasses.replace(param, key=key)
    return ranges


def _run_splits(run_dir: Path, data_root: Optional[str]):
    """The run's recipe and data splits; a run without a validation split is refused."""
    cfg = load_config(run_dir / CONFIG, [f"data.root={data_root}"] if data_root else [])
    splits = build_datasets(cfg)
    if splits["val"] is None:
        raise ConfigError(
            f"run {str(run_dir)!r} has no validation split (data.val_fraction=0): post-hoc tuning needs one; "
            "the test split is never used for tuning"
        )
    return cfg, splits


class _PosthocScores:
    """Metrics of the tuned head's deployed logits ``z / T + s * b0`` for given values; the
    temperature is fitted on the validation features once per tau, not once per trial."""

    def __init__(self, tuned: PosthocHead, val, counts, thresholds, fit: bool):
        self.tuned, self.val, self.counts, self.thresholds, self.fit = (
            tuned,
            val,
            counts,
            thresholds,
            fit,
        )
        self._temperatures: Dict[Any, float] = {}

    def temperature_for(self, tau) -> float:
        if not self.fit:
            return 1.0
        if tau not in self._temperatures:
            logits = self.tuned.raw_logits(self.val.features, tau=tau)
            self._temperatures[tau] = fit_temperature(logits, self.val.labels)
        return self._temperatures[tau]

    def evaluate(self, features, tau=None, strength=0.0, temperature=1.0) -> Dict[str, Any]:
        z = calibrated(
            self.tuned.raw_logits(features.features, tau=tau),
            temperature,
            strength * self.tuned.prior,
        )
        return evaluate_logits(z, features.labels, self.counts, **self.thresholds)


def _best_values(
    space: SearchSpace,
    ranges: Dict[str, Any],
    start_tau: float,
    trial_score: Callable[[Any], float],
    trials: int,
    storage: Optional[str],
    study_name: Optional[str],
    seed: int,
) -> Dict[str, Any]:
    """Search ``space`` with Optuna TPE, the untouched head enqueued first; the best values."""
    # optional dependency (the `tune` extra): imported only when a search runs
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=open_storage(storage, heartbeat=None) if storage else None,
        study_name=study_name,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=10),
    )
    start = {k: start_tau if k == "tau" else 0.0 for k in space.keys}
    start = {k: v for k, v in start.items() if ranges[k].low <= v <= ranges[k].high}
    if start:
        # the untouched head, so tuning never loses on val
        study.enqueue_trial(start, skip_if_exists=True)
    study.optimize(trial_score, n_trials=trials)
    return dict(study.best_params)


def tune_posthoc(
    run_dir,
    posthoc: Sequence[str] = POSTHOC,
    method: Optional[str] = None,
    objective: str = "mean_per_class",
    params: Sequence[str] = (),
    trials: int = 60,
    storage: Optional[str] = None,
    study_name: Optional[str] = None,
    seed: int = 0,
    output_dir: Optional[str] = None,
    export: bool = True,
    data_root: Optional[str] = None,
) -> Dict[str, Any]:
    """Tune ``posthoc`` parameters of ``method``'s head (default: ``stage1`` when tau is tuned,
    else the deployed method) on the run's validation split; returns what ``posthoc.json`` holds."""
    posthoc = parse_posthoc(posthoc)
    if storage:
        check_storage_url(storage)  # before the run's features are computed
    run_dir = check_run_dir(run_dir)
    results = json.loads((run_dir / RESULTS).read_text())
    method = method or ("stage1" if "tau" in posthoc else results["deploy"])
    ranges = _ranges(posthoc, params)
    space = SearchSpace(list(ranges.values()))

    cfg, splits = _run_splits(run_dir, data_root)
    model = load_pretrained(run_dir).eval()
    heads = load_heads(run_dir, model.num_features)
    if method not in heads:
        raise ConfigError(
            f"--method {method!r} is not allowed; the run's methods are {', '.join(heads)}"
        )
    counts = results["class_counts"]
    val, test = extract_features(model, splits["val"]), extract_features(model, splits["test"])
    tuned = PosthocHead(heads[method], tau_allowed="tau" in posthoc, counts=counts)
    goal = Objective.parse(objective)
    thresholds = dict(many=cfg.data.many_threshold, few=cfg.data.few_threshold)
    scores = _PosthocScores(tuned, val, counts, thresholds, fit="temperature" in posthoc)

    def trial_score(trial):
        chosen = space.suggest(trial)
        tau = chosen.get("tau")
        return goal.score(
            scores.evaluate(val, tau, chosen.get("logit_adjust", 0.0), scores.temperature_for(tau))
        )

    values: Dict[str, Any] = {}
    if len(space):
        values.update(
            _best_values(
                space, ranges, tuned.start_tau, trial_score, trials, storage, study_name, seed
            )
        )
    tau, strength = values.get("tau"), values.get("logit_adjust", 0.0)
    temperature = scores.temperature_for(tau)
    if "temperature" in posthoc:
        values["temperature"] = temperature

    out = Path(output_dir or run_dir / "posthoc")
    report = {
        "run_dir": str(run_dir),
        "method": method,
        "objective": goal.text,
        "values": values,
        "trials": trials if len(space) else 0,
        "chosen_on": f"validation split ({len(val.labels)} images)",
        "validation": _before_after(scores, val, tau, strength, temperature),
        "test_for_reporting_only": _before_after(scores, test, tau, strength, temperature),
    }
    if export:
        exported = _export(
            model, heads[method], tau, strength, temperature, counts, run_dir, out / "model", report
        )
        report["model_dir"] = str(exported)
    if tau is not None and method == "stage1":
        report["best_recipe"] = str(_write_recipe(cfg, tau, out / "best.yaml"))
    write_json_atomic(out / "posthoc.json", report)
    return report


def _before_after(scores: _PosthocScores, features, tau, strength, temperature) -> Dict[str, Any]:
    """The report's metrics of ``features`` with the head as saved and with the tuned values."""
    return {
        "before": _summary(scores.evaluate(features)),
        "after": _summary(scores.evaluate(features, tau, strength, temperature)),
    }


def _export(
    model, head, tau, strength, temperature, counts, run_dir: Path, out: Path, report
) -> Path:
    """The deployable model: tuned head (tau_norm when tau was tuned) + calibration ``z / T + s * b0``."""
    head = copy.deepcopy(head)
    if tau is not None:
        normalised = create_head(
            "tau_norm",
            head.in_features,
            head.num_classes,
            tau=float(tau),
            bias=head.fc.bias is not None,
        )
        normalised.load_linear(head.fc.weight, head.fc.bias)
        head = normalised
    model.replace_head(head)
    model.pretrained_cfg["architecture"] = "lt_classifier"
    model.calibration.set(temperature=temperature, bias=logit_adjustment_bias(counts, tau=strength))
    saved = json.loads((run_dir / TIMM_CONFIG).read_text())
    test = report["test_for_reporting_only"]
    calibration = {
        "temperature": float(temperature),
        "target_prior": "uniform",
        "tau": float(strength),
        "fitted_on": report["chosen_on"],
        "scores": {"split": "test", "before": test["before"], "after": test["after"]},
    }
    extra = dict(
        saved.get("ltzoo", {}),
        calibration=calibration,
        posthoc={k: report[k] for k in ("method", "objective", "values", "chosen_on")},
    )
    return save_pretrained(model, out, label_names=saved.get("label_names"), extra=extra)


def _write_recipe(cfg, tau: float, path: Path) -> Path:
    values = to_dict(cfg)
    stage2 = values["stage2"]
    if "tau" not in stage2["methods"]:
        stage2["methods"].append("tau")
    stage2["method_options"].setdefault("tau", {})["tau_grid"] = [round(float(tau), 6)]
    values["output_dir"] = f"{str(cfg.output_dir).rstrip('/')}-tau"  # never over the tuned run
    from_dict(RunConfig, values)  # what is written loads
    header = f"# tau = {tau:.4f} tuned post hoc on the validation split of {cfg.output_dir}\n"
    return write_text_atomic(path, header + yaml.safe_dump(values, sort_keys=False))
