"""Hyper-parameter search over full two-stage runs (e.g. weight decay by Optuna TPE on an
80/20 split of the training set).

Every trial is one ``ltzoo train`` run with the trial's values set on the base recipe, written to
``<output_dir>/trial_0007``. Its objective is measured on the validation split carved from the
training set (``data.val_fraction``), for the stage-2 method named by ``method``; the test split
is never looked at. After every stage-1 epoch the model is scored on the validation split and
reported to the trial, so a median pruner (Optuna ``MedianPruner``) stops runs that fall behind
the median of earlier trials at the same epoch.

A trial runs in the worker's process (one device); search in parallel by starting several
workers on the same study (processes, or machines sharing a PostgreSQL URL), not through
``accelerate launch``.

Usage::

    from ltzoo.tuning import tune
    best = tune("recipe.yaml", ["stage1.weight_decay=loguniform:1e-5:1e-1"], objective="few",
                method="lws", trials=20, storage="sqlite:///study.db", study_name="wd")
    best["best_recipe"]  # a recipe YAML for ``ltzoo train --config``
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from ltzoo.errors import ConfigError
from ltzoo.run_folder import CHECKPOINTS
from ltzoo.train.config import load_config, to_dict
from ltzoo.train.stage2 import BEST_VAL, deployed_method
from ltzoo.tuning.objective import Objective
from ltzoo.tuning.space import SearchSpace
from ltzoo.tuning.study import (
    best_summary,
    check_storage_url,
    default_storage,
    display_url,
    finished_trials,
    open_storage,
    open_study,
    worker_id,
    write_best,
)

logger = logging.getLogger(__name__)

SUMMARY_KEYS = (
    "top1",
    "mean_per_class",
    "many",
    "medium",
    "few",
    "head",
    "tail",
    "per_class_std",
    "ece",
)


class EpochPruning:
    """``on_epoch_end`` hook: scores the stage-1 model on the validation split, reports it to the
    trial and raises ``optuna.TrialPruned`` when the pruner says so."""

    def __init__(
        self, trial, val_set, class_counts, metric: Objective, many: float = 100, few: float = 20
    ):
        self.trial, self.val_set, self.class_counts, self.metric = (
            trial,
            val_set,
            class_counts,
            metric,
        )
        self.many, self.few = many, few

    def __call__(self, epoch: int, stats: Dict[str, Any], model) -> None:
        import optuna

        from ltzoo.evaluation import evaluate_logits
        from ltzoo.train.features import predict_logits

        logits, labels = predict_logits(model, self.val_set)
        value = self.metric.score(
            evaluate_logits(logits, labels, self.class_counts, many=self.many, few=self.few)
        )
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned after epoch {epoch}: validation {self.metric.text} = {value:.2f}"
            )


def retried_from(trial) -> Optional[int]:
    """Number of the crashed trial this one re-runs (Optuna's heartbeat retry), else None."""
    try:
        return trial.study._storage.get_trial_system_attrs(trial._trial_id).get("failed_trial")
    except Exception:  # noqa: BLE001 - an optional nicety: a fresh folder is always correct
        return None


def default_method(cfg) -> str:
    """The method a trial is scored on: the deployed one (``best_val``: chosen in each trial)."""
    return cfg.stage2.deploy or deployed_method(cfg.stage2)


def _check_method(cfg, method: str) -> None:
    allowed = ["stage1", *cfg.stage2.methods, BEST_VAL]
    if method not in allowed:
        raise ConfigError(
            f"--method {method!r} is not allowed; the recipe's methods are {', '.join(allowed)} "
            "(add it with --set 'stage2.methods=[...]')"
        )


def make_objective(
    config,
    space: SearchSpace,
    base_overrides: Sequence[str],
    objective: Objective,
    method: str,
    prune_metric: Objective,
    output_dir: Path,
    keep_checkpoints: bool = False,
    verbose: bool = False,
    target: Optional[int] = None,
):
    """The Optuna objective: one full run per trial, scored on the validation split. With
    ``target``, a trial that another worker's trials leave no room for is refused (StudyFull)."""
    from ltzoo.train.assemble import build_datasets
    from ltzoo.train.run import run

    def fn(trial) -> float:
        import optuna

        if target is not None and _trials_before(trial) >= target:
            trial.set_user_attr("surplus", True)
            raise StudyFull(
                f"trial {trial.number} is not run: the study already holds {target} finished or "
                "running trials (workers asked for their next trial at the same moment)"
            )
        values = space.suggest(trial)
        original = retried_from(trial)
        run_dir = output_dir / f"trial_{trial.number if original is None else original:04d}"
        # a retried trial continues the crashed one's training from its last checkpoint
        cfg = load_config(
            config,
            list(base_overrides)
            + space.overrides(values)
            + [f"output_dir={run_dir}", "engine.resume=auto"],
        )
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("worker", worker_id())
        splits = build_datasets(cfg)
        hook = EpochPruning(
            trial,
            splits["val"],
            splits["train"].class_counts,
            prune_metric,
            many=cfg.data.many_threshold,
            few=cfg.data.few_threshold,
        )
        run_dir.mkdir(parents=True, exist_ok=True)
        with _trial_log(run_dir / "train.log", echo=verbose):
            try:
                results = run(cfg, on_epoch_end=hook)
            except optuna.TrialPruned:
                _drop_checkpoints(run_dir, keep_checkpoints)
                raise
        # a crashed trial keeps its checkpoints: its retry resumes from them
        _drop_checkpoints(run_dir, keep_checkpoints)
        metrics = results["validation"][results["deploy"] if method == BEST_VAL else method]
        trial.set_user_attr("validation", {k: metrics.get(k) for k in SUMMARY_KEYS})
        return objective.score(metrics)

    return fn


class StudyFull(Exception):
    """A worker's new trial found the study's target already taken by other workers' trials."""


def _trials_before(trial) -> int:
    """Finished or running trials of ``trial``'s study numbered before it (trial numbers are handed
    out in order by the database, so every worker agrees on which trial is one too many)."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum(
        t.number < trial.number for t in trial.study.get_trials(deepcopy=False, states=states)
    )


def run_until_full(study, fn, target: int, heartbeat=None, timeout=None, poll: float = 1.0) -> None:
    """Run trials of ``study`` one at a time until it holds ``target`` finished (complete or pruned)
    trials, with the other workers on it: a trial is started only while finished + running trials
    are fewer than ``target``, so the workers together run exactly ``target``. With heartbeats on,
    a worker with nothing left to start waits for the others' running trials (a dead worker's trial
    goes stale after ``2 x heartbeat`` seconds and is queued again, then run here), so every worker
    returns the same best trial. ``timeout``: start no trial, and stop waiting, after this many
    seconds."""
    import optuna
    from optuna.trial import TrialState

    deadline = None if timeout is None else time.monotonic() + timeout
    said = None
    while deadline is None or time.monotonic() < deadline:
        finished = len(finished_trials(study))
        if finished >= target:
            return
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        if finished + running < target:
            study.optimize(fn, n_trials=1, callbacks=[_report_trial], catch=(StudyFull,))
            continue
        if not heartbeat:  # a dead worker's trial would never be noticed: do not wait for it
            logger.info(
                f"{running} trial(s) still run in other workers; not waiting (no heartbeat)"
            )
            return
        if said != running:
            logger.info(f"waiting for the {running} trial(s) running in other workers")
            said = running
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        time.sleep(poll)


@contextlib.contextmanager
def _trial_log(path: Path, echo: bool):
    """The training engine's log lines go to the trial's ``train.log`` (and to the console with ``echo``)."""
    engine = logging.getLogger("ltzoo.train")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = engine.level, engine.propagate
    engine.addHandler(handler)
    engine.setLevel(logging.INFO)
    engine.propagate = echo
    try:
        yield
    finally:
        engine.removeHandler(handler)
        handler.close()
        engine.setLevel(saved[0])
        engine.propagate = saved[1]


def _drop_checkpoints(run_dir: Path, keep: bool) -> None:
    if not keep:
        shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)


def _report_trial(study, trial) -> None:
    state = trial.state.name.lower()
    if state == "pruned" and trial.intermediate_values:
        epoch = max(trial.intermediate_values)
        value = f" after epoch {epoch}, {study.user_attrs.get('prune_on')} = {trial.intermediate_values[epoch]:.3f}"
    else:
        value = (
            ""
            if trial.value is None
            else f" {study.user_attrs.get('objective')} = {trial.value:.3f}"
        )
    params = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items()
    )
    best = best_summary(study)
    tail = f"; best: trial {best['trial']} = {best['value']:.3f}" if best else ""
    logger.info(f"trial {trial.number} {state}:{value} ({params}){tail}")


def _checked_search(
    config: Optional[str],
    params: Sequence[str],
    overrides: Sequence[str],
    trials: int,
    pruner: str,
    storage: Optional[str],
    method: Optional[str],
):
    """``(base_overrides, space, method)`` of a search whose arguments, storage URL, ranges,
    method and validation split are checked; a ``ConfigError`` names the first that is not allowed."""
    from ltzoo.train.assemble import build_datasets

    if not params:
        raise ConfigError(
            "nothing to tune: give at least one --param KEY=KIND:ARGS, e.g. stage1.weight_decay=loguniform:1e-5:1e-1"
        )
    if trials < 0:
        raise ConfigError(f"--trials={trials} is not allowed; it must be >= 0")
    if pruner not in ("median", "none"):
        raise ConfigError(f"--pruner={pruner!r} is not allowed; allowed: median, none")
    if storage:
        check_storage_url(storage)  # before any data is read
    base_overrides = ["progress=false", *overrides]
    cfg = load_config(config, base_overrides)
    space = SearchSpace.parse(params)
    space.check(config, base_overrides)
    method = method or default_method(cfg)
    _check_method(cfg, method)
    if build_datasets(cfg)["val"] is None:
        raise ConfigError(
            f"{cfg.data.dataset} with data.val_fraction={cfg.data.val_fraction} has no validation split; "
            "tuning needs one (e.g. --set data.val_fraction=0.2, an 80/20 split) and never uses "
            "the test split"
        )
    return base_overrides, space, method


def _sampler_and_pruner(
    startup_trials: int, seed: Optional[int], pruner: str, prune_startup: int, prune_warmup: int
):
    """The study's TPE sampler (constant liar, for parallel workers) and its pruner."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=startup_trials, seed=seed, constant_liar=True
        )
    prune = (
        optuna.pruners.MedianPruner(n_startup_trials=prune_startup, n_warmup_steps=prune_warmup)
        if pruner == "median"
        else optuna.pruners.NopPruner()
    )
    return sampler, prune


def tune(
    config: Optional[str] = None,
    params: Sequence[str] = (),
    overrides: Sequence[str] = (),
    objective: str = "mean_per_class",
    method: Optional[str] = None,
    trials: int = 20,
    storage: Optional[str] = None,
    study_name: str = "tune",
    output_dir: Optional[str] = None,
    pruner: str = "median",
    prune_on: str = "mean_per_class",
    prune_warmup: int = 1,
    prune_startup: int = 3,
    startup_trials: int = 5,
    seed: Optional[int] = None,
    heartbeat: Optional[int] = 60,
    timeout: Optional[float] = None,
    keep_checkpoints: bool = False,
    verbose: bool = False,
) -> Dict[str, Any]:
    """Run (or join, or resume) study ``study_name`` until it holds ``trials`` finished trials.

    ``params``: ``KEY=KIND:ARGS`` ranges (:mod:`ltzoo.tuning.space`); ``overrides``: ``--set``
    items applied to every trial; ``objective``/``prune_on``: see :mod:`ltzoo.tuning.objective`.
    Returns the best trial's summary (``value``, ``params``, ``run_dir``, ...) with
    ``best_recipe``, the path of ``best.yaml`` (None while no trial has completed).
    """
    import optuna

    base_overrides, space, method = _checked_search(
        config, params, overrides, trials, pruner, storage, method
    )
    goal, prune_metric = Objective.parse(objective), Objective.parse(prune_on)
    out = Path(output_dir or Path("runs") / "tune" / study_name)
    storage_url = storage or default_storage(str(out))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler, prune = _sampler_and_pruner(startup_trials, seed, pruner, prune_startup, prune_warmup)
    recipe = to_dict(load_config(config, list(overrides)))
    attrs = {
        "objective": goal.text,
        "method": method,
        "space": space.specs(),
        "prune_on": prune_metric.text,
        "recipe": recipe,
        "output_dir": str(out),
    }
    study = open_study(
        open_storage(storage_url, heartbeat), study_name, attrs, sampler=sampler, pruner=prune
    )
    logger.info(
        f"study {study_name!r} in {display_url(storage_url)}: {len(finished_trials(study))} finished "
        f"trials, target {trials}; objective {goal.text} of {method} on the validation split; trial "
        f"folders in {out}"
    )
    fn = make_objective(
        config,
        space,
        base_overrides,
        goal,
        method,
        prune_metric,
        out,
        keep_checkpoints,
        verbose,
        target=trials,
    )
    run_until_full(study, fn, trials, heartbeat=heartbeat, timeout=timeout)
    summary = best_summary(study) or {"study": study_name, "value": None, "params": {}}
    summary["best_recipe"] = (
        str(write_best(study, str(out), recipe=study.user_attrs.get("recipe", recipe)) or "")
        or None
    )
    summary["storage"] = storage_url
    return summary
