"""Figures of an Optuna study written by ``ltzoo tune`` (a weight-decay search, as in Alshammari et al., CVPR'22):
the optimisation history and the objective against every searched parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ltzoo.errors import InputError
from ltzoo.reporting.style import figure, grid_shape, integer_axis, save


def load_study(storage: str, study_name: Optional[str] = None):
    """The study ``study_name`` in ``storage`` (the only one when no name is given); never creates a database."""
    import optuna

    if storage.startswith("sqlite:///"):
        file = storage[len("sqlite:///") :]
        if file != ":memory:" and not Path(file).is_file():
            raise FileNotFoundError(f"--study {storage!r}: the database {file!r} does not exist")
    names = optuna.study.get_all_study_names(storage=storage)
    if study_name is None:
        if len(names) != 1:
            raise InputError(
                f"--study {storage!r} holds {len(names)} studies ({', '.join(names) or 'none'}); "
                "name one with --study-name"
            )
        study_name = names[0]
    if study_name not in names:
        raise InputError(
            f"--study-name {study_name!r} is not in {storage!r}; its studies: {', '.join(names) or '(none)'}"
        )
    return optuna.load_study(study_name=study_name, storage=storage)


def _trials(study):
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    return (
        [t for t in trials if t.state == TrialState.COMPLETE],
        [t for t in trials if t.state == TrialState.PRUNED],
    )


def optimisation_history(study, path: Path) -> Path:
    """Objective per trial, the best so far, and where trials were pruned."""
    complete, pruned = _trials(study)
    if not complete and not pruned:
        raise InputError(f"study {study.study_name!r} has no finished trial to plot")
    objective = study.user_attrs.get("objective", "objective")
    fig = figure(8, 4.2)
    ax = fig.add_subplot()
    if complete:
        xs, ys = [t.number for t in complete], [t.value for t in complete]
        ax.scatter(xs, ys, s=28, color="#1f77b4", zorder=3, label="complete trial")
        best = np.maximum.accumulate(ys)
        ax.step(xs, best, where="post", color="#d62728", linewidth=1.8, label="best so far")
        top = int(np.argmax(ys))
        ax.annotate(
            f"best: trial {xs[top]}\n{ys[top]:.2f}",
            (xs[top], ys[top]),
            xytext=(8, -18),
            textcoords="offset points",
            fontsize=8,
            arrowprops=dict(arrowstyle="-", color="#999999"),
        )
    if pruned:
        values = [t.value for t in complete] or [0.0]
        low = min(values) - 0.08 * (max(values) - min(values) or 1.0)
        ax.scatter(
            [t.number for t in pruned],
            [low] * len(pruned),
            marker="x",
            color="#7f7f7f",
            s=40,
            zorder=3,
            label=f"pruned ({len(pruned)}), drawn below the lowest value",
        )
    integer_axis(ax)
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"validation objective: {objective}")
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncols=3)
    ax.set_title(
        f"Study {study.study_name!r}: optimisation history ({len(complete)} complete, {len(pruned)} pruned)",
        fontsize=10,
    )
    return save(fig, path)


def parameter_slices(study, path: Path) -> Path:
    """Objective against each searched parameter (log axis for log-uniform ranges); colour = trial number."""
    complete, _ = _trials(study)
    if not complete:
        raise InputError(f"study {study.study_name!r} has no complete trial to plot")
    names = sorted({name for t in complete for name in t.params})
    rows, cols = grid_shape(len(names), 3)
    fig = figure(4.6 * cols, 3.8 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    best = max(complete, key=lambda t: t.value)
    objective = study.user_attrs.get("objective", "objective")
    for ax, name in zip(axes, names):
        trials = [t for t in complete if name in t.params]
        values = [t.params[name] for t in trials]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        xs = values if numeric else [str(v) for v in values]
        points = ax.scatter(
            xs,
            [t.value for t in trials],
            c=[t.number for t in trials],
            cmap="viridis",
            s=30,
            zorder=3,
        )
        if name in best.params:
            ax.scatter(
                [best.params[name] if numeric else str(best.params[name])],
                [best.value],
                marker="*",
                s=220,
                facecolor="none",
                edgecolor="#d62728",
                linewidth=1.5,
                zorder=4,
                label="best",
            )
            ax.legend(fontsize=8, loc="lower right")
        dist = trials[0].distributions.get(name)
        if numeric and getattr(dist, "log", False):
            ax.set_xscale("log")
        if not numeric:
            ax.margins(x=0.3)
        ax.set_xlabel(
            name + (" (log scale)" if numeric and getattr(dist, "log", False) else ""), fontsize=9
        )
        ax.set_ylabel(f"validation objective: {objective}")
        ax.grid(alpha=0.3)
    fig.colorbar(points, ax=list(axes[: len(names)]), label="trial number", shrink=0.9)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"Study {study.study_name!r}: objective against each searched parameter", fontsize=10
    )
    return save(fig, path)
