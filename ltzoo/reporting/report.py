"""The report of run folders and a tuning study: every figure the inputs allow, and the page
(``report.html`` and ``report.md``) that shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ltzoo.errors import InputError
from ltzoo.reporting import figures as F
from ltzoo.reporting import study as S
from ltzoo.reporting.page import write_html, write_markdown
from ltzoo.reporting.runs import RunData, add_reliability, load_run

#: file stem -> (caption, function of the runs)
RUN_FIGURES = {
    "class_counts": ("Training images per class (the long tail)", F.class_counts),
    "weight_norms": (
        "Per-class classifier weight norms, classes sorted by training count (Dang et al. AAAI'24, Fig. 1/4)",
        F.weight_norms,
    ),
    "accuracy_vs_count": (
        "Per-class test accuracy against the class's training count",
        F.accuracy_vs_count,
    ),
    "accuracy_box": (
        "Distribution of per-class test accuracy per method (Park, Piao and Kim, Fig. 2)",
        F.accuracy_box,
    ),
    "group_accuracy": ("Test accuracy of the Many / Medium / Few class groups", F.group_bars),
    "reliability": ("Reliability diagrams on the test split (Guo et al. ICML'17)", F.reliability),
    "training_curves": ("Stage-1 training loss and accuracy per epoch", F.training_curves),
}


def _study_summary(study, storage: str) -> Dict[str, Any]:
    # optuna is an optional dependency (the `tune` extra), needed only when a study is reported
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    summary = {
        "name": study.study_name,
        "storage": storage,
        "complete": len(complete),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "objective": study.user_attrs.get("objective"),
        "method": study.user_attrs.get("method"),
        "best": None,
    }
    if complete:
        best = study.best_trial
        summary.update(
            best=best.value,
            best_trial=best.number,
            best_params=dict(best.params),
            best_run_dir=best.user_attrs.get("run_dir"),
        )
    return summary


def _load_runs(
    run_dirs: Sequence[str],
    labels: Optional[Sequence[str]],
    methods: Optional[Sequence[str]],
) -> List[RunData]:
    """The run folders' data, without the reliability bins (:func:`add_reliability`); when two
    runs would share a label, each is labelled ``parent/folder`` instead."""
    runs = [
        load_run(d, label=labels[i] if labels else None, methods=methods, reliability=False)
        for i, d in enumerate(run_dirs)
    ]
    if len({r.label for r in runs}) < len(runs):
        runs = [
            RunData(
                r.path,
                f"{r.path.parent.name}/{r.path.name}",
                r.results,
                r.log,
                r.reliability,
                r.reliability_error,
            )
            for r in runs
        ]
    return runs


def _draw_run_figures(runs: List[RunData], out: Path) -> Tuple[Dict[str, Any], List[str]]:
    """``({stem: (caption, path)}, notes)``: the figures of :data:`RUN_FIGURES` the runs allow,
    and a note for each run without a reliability diagram."""
    written, notes = {}, []
    for stem, (caption, draw) in RUN_FIGURES.items():
        if not runs:
            break
        if stem == "reliability" and not any(r.reliability for r in runs):
            notes += [
                f"no reliability diagram for {r.label}: {r.reliability_error or 'disabled (--no-reliability)'}"
                for r in runs
            ]
            continue
        if stem == "training_curves" and not any(r.log for r in runs):
            continue
        written[stem] = (caption, draw(runs, out / f"{stem}.png"))
    return written, notes


def _draw_study_figures(loaded, storage: str, out: Path, written: Dict[str, Any]) -> Dict[str, Any]:
    """The study's summary; its figures, those its trials allow, are added to ``written``."""
    summary = _study_summary(loaded, storage)
    if summary["complete"] or summary["pruned"]:
        written["study_history"] = (
            "Optimisation history of the study (validation objective)",
            S.optimisation_history(loaded, out / "study_history.png"),
        )
    if summary["complete"]:
        written["study_params"] = (
            "Validation objective against each searched parameter",
            S.parameter_slices(loaded, out / "study_params.png"),
        )
    return summary


def make_report(
    run_dirs: Sequence[str] = (),
    output_dir: str = "report",
    labels: Optional[Sequence[str]] = None,
    methods: Optional[Sequence[str]] = None,
    study: Optional[str] = None,
    study_name: Optional[str] = None,
    reliability: bool = True,
    data_root: Optional[str] = None,
    title: Optional[str] = None,
    before_writing: Optional[Callable[[Path], None]] = None,
) -> Dict[str, Any]:
    """Write every figure the inputs allow and the page; returns
    ``{"figures": {stem: path}, "html", "markdown", "notes"}``. Every input is checked before
    anything is written; then ``before_writing(output_dir)`` is called (the command line takes the
    folder's lock there) before the folder is made. Each file is written under a temporary name
    and renamed into place."""
    if not run_dirs and not study:
        raise InputError("nothing to report: give run folders and/or --study URL")
    if labels and len(labels) != len(run_dirs):
        raise InputError(f"--labels has {len(labels)} names for {len(run_dirs)} run folders")
    loaded = None
    if study:
        loaded = S.load_study(study, study_name)  # fails early on a wrong URL or name
    runs = _load_runs(run_dirs, labels, methods)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output_dir {str(out)!r} is a file; it must name a folder to write into")
    if before_writing is not None:
        before_writing(out)
    if reliability:  # the slow part: each run's model is reloaded and run on its test split
        for run in runs:
            add_reliability(run, data_root)
    out.mkdir(parents=True, exist_ok=True)
    written, notes = _draw_run_figures(runs, out)
    summary = None
    if loaded is not None:
        summary = _draw_study_figures(loaded, study, out, written)
    title = title or "ltzoo report: " + ", ".join(
        [r.label for r in runs] + ([summary["name"]] if summary else [])
    )
    html_path = write_html(out / "report.html", title, runs, written, summary, notes)
    md_path = write_markdown(out / "report.md", title, runs, written, summary, notes)
    return {
        "figures": {k: p for k, (_, p) in written.items()},
        "html": html_path,
        "markdown": md_path,
        "notes": notes,
    }
