"""``ltzoo tune``: the command line of :mod:`ltzoo.tuning`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ltzoo.cli_types import file, folder, integer, number, output_folder, text
from ltzoo.errors import InputError

SEED_MAX = 2**32 - 1  # numpy's and Optuna's samplers take seeds in [0, 2**32 - 1]
HEARTBEAT_MAX = 24 * 3600  # seconds: a trial silent for 2 days is dead, not busy
TIMEOUT_MAX = 365 * 24 * 3600  # seconds: a worker's time limit of up to a year

EPILOG = """examples:
  # weight decay by TPE, scored by Few accuracy of LWS on the 80/20 validation split
  ltzoo tune --config recipes/digits_lt/two_stage.yaml --param stage1.weight_decay=loguniform:1e-5:1e-1 \\
      --param stage2.method_options.iwb.lam=uniform:0.01:0.3 --objective few --method lws --trials 20 \\
      --storage sqlite:///study.db --study-name wd
  # workers on several machines: the same command on each, one PostgreSQL database (psycopg 3)
  ltzoo tune ... --storage postgresql+psycopg://user@host:5432/db --study-name wd
  # a crashed search resumes with the same command; --trials is the study's total (all workers)
  ltzoo tune ... --objective 0.5*few+0.5*overall        # weighted objective
  # post hoc, on a finished run's validation features, no retraining (seconds)
  ltzoo tune runs/digits_lt --posthoc tau,logit_adjust,temperature --objective mean_per_class
"""


def _add_recipe_arguments(p: argparse.ArgumentParser) -> None:
    """The run folder (post hoc) or the recipe and the fields searched."""
    p.add_argument(
        "run_dir",
        nargs="?",
        type=folder,
        help="a finished run folder: tune post-hoc parameters on it (see --posthoc)",
    )
    p.add_argument(
        "--config", type=file, help="base recipe YAML (default: the embedded digits-LT recipe)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fixed recipe override for every trial, e.g. --set stage1.epochs=30 (repeatable)",
    )
    p.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=KIND:ARGS",
        type=text,
        help="a searched field: uniform:LO:HI[:STEP], loguniform:LO:HI, int:LO:HI[:STEP], logint:LO:HI, "
        "choice:A,B (repeatable); post hoc: tau=uniform:0:2, logit_adjust=uniform:0:2",
    )


def _add_study_arguments(p: argparse.ArgumentParser) -> None:
    """What is scored and where the study lives."""
    p.add_argument(
        "--objective",
        default="mean_per_class",
        type=text,
        help="validation metric to maximise: top1 (overall), mean_per_class, many, medium, few, head, tail, "
        "or a weighted sum such as 0.5*few+0.5*overall or top1-0.5*ece (default: mean_per_class)",
    )
    p.add_argument(
        "--method",
        type=text,
        help="stage-2 method whose validation metrics are scored (default: the deployed one; "
        "post hoc: stage1 when tuning tau)",
    )
    p.add_argument(
        "--trials",
        type=integer(1),
        help="finished trials the study should hold, all workers together (default 20; post hoc 60)",
    )
    p.add_argument(
        "--storage",
        type=text,
        help="SQLAlchemy URL of the study database, e.g. postgresql+psycopg://user@host:5432/db "
        "(default: sqlite:///OUTPUT_DIR/study.db; post hoc: in memory)",
    )
    p.add_argument(
        "--study-name", type=text, help="study to create, join or resume (default: tune)"
    )
    p.add_argument(
        "--output-dir",
        type=output_folder,
        help="study folder: trial_NNNN run folders, best.yaml (default: runs/tune/STUDY_NAME); "
        "post hoc: RUN_DIR/posthoc",
    )


def _add_sampler_arguments(p: argparse.ArgumentParser) -> None:
    """The pruner and the sampler."""
    p.add_argument(
        "--pruner",
        default="median",
        choices=("median", "none"),
        help="prune on per-epoch validation (default median)",
    )
    p.add_argument(
        "--prune-on",
        default="mean_per_class",
        type=text,
        metavar="METRIC",
        help="per-epoch validation metric of the stage-1 model the pruner compares (default mean_per_class)",
    )
    p.add_argument(
        "--prune-warmup",
        type=integer(0),
        default=1,
        metavar="EPOCHS",
        help="epochs before a trial may be pruned (default 1)",
    )
    p.add_argument(
        "--prune-startup",
        type=integer(0),
        default=3,
        metavar="TRIALS",
        help="trials that are never pruned (default 3)",
    )
    p.add_argument(
        "--startup-trials",
        type=integer(0),
        default=5,
        help="random trials before TPE models the space (default 5)",
    )
    p.add_argument(
        "--seed",
        type=integer(0, SEED_MAX),
        help=f"sampler seed, 0 to {SEED_MAX} (reproducible with one worker; leave unset with several)",
    )


def _add_worker_arguments(p: argparse.ArgumentParser) -> None:
    """This worker's time limit, its trials' heartbeat, what it keeps and prints."""
    p.add_argument(
        "--timeout",
        type=number(above=0, maximum=TIMEOUT_MAX),
        metavar="SECONDS",
        help=f"stop this worker after this long (> 0, at most {TIMEOUT_MAX} = 365 days)",
    )
    p.add_argument(
        "--heartbeat",
        type=integer(0, HEARTBEAT_MAX),
        default=60,
        metavar="SECONDS",
        help="trial heartbeat; a trial silent for 2x this is failed and retried "
        f"(default 60; 0 turns it off; at most {HEARTBEAT_MAX} = 1 day)",
    )
    p.add_argument(
        "--keep-checkpoints", action="store_true", help="keep every trial's stage-1 checkpoints"
    )
    p.add_argument(
        "--verbose", action="store_true", help="print each trial's tables (default: RUN/train.log)"
    )


def _add_posthoc_arguments(p: argparse.ArgumentParser) -> None:
    """The post-hoc options (with RUN_DIR)."""
    p.add_argument(
        "--posthoc",
        metavar="NAMES",
        type=text,
        help="with RUN_DIR: comma list of tau, logit_adjust, temperature (default: all)",
    )
    p.add_argument(
        "--no-export",
        action="store_true",
        help="post hoc: do not write the calibrated model folder",
    )
    p.add_argument(
        "--data-root", type=folder, help="post hoc: dataset root, if it moved since training"
    )


def add_tune_parser(sub) -> argparse.ArgumentParser:
    """The ``tune`` subcommand: a search over recipe fields, or post-hoc tuning of a run."""
    p = sub.add_parser(
        "tune",
        help="Optuna search over recipe fields, or post-hoc tau/temperature on a run",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_recipe_arguments(p)
    _add_study_arguments(p)
    _add_sampler_arguments(p)
    _add_worker_arguments(p)
    _add_posthoc_arguments(p)
    p.set_defaults(func=cmd_tune)
    return p


def _need_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise InputError("ltzoo tune needs optuna: pip install 'ltzoo[tune]'") from None


def check_output_dir(args: argparse.Namespace) -> None:
    """Refuse an ``--output-dir`` that would mix the study's or the post-hoc files with a run:
    post hoc, the tuned run folder itself (its own ``RUN_DIR/posthoc`` is the default); for a
    search, a folder that already holds a run (the study folder holds one run folder per trial)."""
    from ltzoo.run_folder import MANIFEST, RESULTS

    if not args.output_dir:
        return
    out = Path(args.output_dir)
    if args.run_dir and out.resolve() == Path(args.run_dir).resolve():
        raise InputError(
            f"--output-dir {args.output_dir!r} is not allowed: it is the tuned run folder; "
            "give another folder (default: RUN_DIR/posthoc)"
        )
    if not args.run_dir and any((out / name).is_file() for name in (RESULTS, MANIFEST)):
        raise InputError(
            f"--output-dir {args.output_dir!r} is not allowed: it holds a run; a study folder "
            "holds one run folder per trial: give a new folder or the study's own"
        )


def cmd_tune(args: argparse.Namespace) -> int:
    _need_optuna()
    from ltzoo.run_folder import check_run_dir, hold
    from ltzoo.tuning import tune, tune_posthoc

    if args.run_dir or args.posthoc:
        if not args.run_dir:
            raise InputError(
                "--posthoc needs a run folder: ltzoo tune RUN_DIR --posthoc tau,temperature"
            )
        if args.config or args.overrides:
            raise InputError(
                "post-hoc tuning reads the run's own recipe; --config/--set are for training searches"
            )
        check_output_dir(args)
        hold(check_run_dir(args.run_dir), "run folder")
        report = tune_posthoc(
            args.run_dir,
            posthoc=args.posthoc or "tau,logit_adjust,temperature",
            method=args.method,
            objective=args.objective,
            params=args.params,
            trials=60 if args.trials is None else args.trials,
            storage=args.storage,
            study_name=args.study_name,
            seed=0 if args.seed is None else args.seed,
            output_dir=args.output_dir,
            export=not args.no_export,
            data_root=args.data_root,
        )
        print(format_posthoc(report))
        return 0
    check_output_dir(args)
    best = tune(
        args.config,
        params=args.params,
        overrides=args.overrides,
        objective=args.objective,
        method=args.method,
        trials=20 if args.trials is None else args.trials,
        storage=args.storage,
        study_name=args.study_name or "tune",
        output_dir=args.output_dir,
        pruner=args.pruner,
        prune_on=args.prune_on,
        prune_warmup=args.prune_warmup,
        prune_startup=args.prune_startup,
        startup_trials=args.startup_trials,
        seed=args.seed,
        heartbeat=args.heartbeat or None,
        timeout=args.timeout,
        keep_checkpoints=args.keep_checkpoints,
        verbose=args.verbose,
    )
    if best.get("value") is None:
        print("no trial has completed yet")
        return 0
    print(
        f"best: trial {best['trial']}, {best['objective']} = {best['value']:.4f} (validation, {best['method']}); "
        f"{json.dumps(best['params'])}"
    )
    print(f"best recipe: {best['best_recipe']}  (ltzoo train --config {best['best_recipe']})")
    return 0


def format_posthoc(report) -> str:
    from ltzoo.evaluation import DEFAULT_COLUMNS, format_table

    values = ", ".join(f"{k}={v:.4g}" for k, v in report["values"].items())
    rows = {
        f"{split} {when}": metrics
        for split, key in (("val", "validation"), ("test", "test_for_reporting_only"))
        for when, metrics in report[key].items()
    }
    columns = (DEFAULT_COLUMNS[0], ("Bal", "mean_per_class"), *DEFAULT_COLUMNS[1:], ("NLL", "nll"))
    lines = [
        f"post hoc on {report['method']} ({report['objective']} on the validation split): {values}",
        format_table(rows, columns=columns),
    ]
    if report.get("model_dir"):
        lines.append(f"calibrated model: {report['model_dir']}")
    if report.get("best_recipe"):
        lines.append(f"recipe with this tau: {report['best_recipe']}")
    return "\n".join(lines)
