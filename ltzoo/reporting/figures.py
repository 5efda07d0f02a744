"""Figures of one or more run folders; each function takes ``RunData`` and writes one PNG.

- class counts: the training long tail (log scale when it spans a decade);
- weight norms: per-class ``||w_i||`` of stage 1 and every stage-2 head, classes sorted by training
  count (Dang et al. AAAI'24, Fig. 1 and 4; Kang et al. ICLR'20 Fig. 2);
- per-class accuracy against the training count, and its box plot per method with mean and
  standard deviation (Park, Piao and Kim, Fig. 2);
- Many / Medium / Few accuracy bars (Liu et al. CVPR'19 groups);
- reliability diagrams (Guo et al. ICML'17, Fig. 1);
- the stage-1 training curves from ``log.jsonl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np

from ltzoo.errors import InputError
from ltzoo.reporting.runs import RunData
from ltzoo.reporting.style import (
    GROUP_COLORS,
    GROUP_NAMES,
    RUN_LINESTYLES,
    RUN_MARKERS,
    figure,
    grid_shape,
    integer_axis,
    log_axis,
    method_color,
    save,
    spans_decades,
)

FEW_SAMPLES = 5  # reliability bins with fewer samples are drawn faded


def _order(counts: Sequence[int]) -> List[int]:
    """Class indices by training count, largest first (stable)."""
    return sorted(range(len(counts)), key=lambda i: -counts[i])


def _group_of(n: int, thresholds) -> str:
    return "many" if n > thresholds["many"] else "few" if n < thresholds["few"] else "medium"


def _rank_axis(ax, run: RunData) -> None:
    counts = run.counts
    order = _order(counts)
    ax.set_xlabel("class, sorted by training count (head → tail)")
    if len(order) <= 30:
        ax.set_xticks(
            range(len(order)),
            [f"{run.results['class_names'][i]}\n({counts[i]})" for i in order],
            fontsize=8,
        )


def class_counts(runs: Sequence[RunData], path: Path) -> Path:
    """Training images per class, sorted; bars coloured by Many/Medium/Few when there is one profile."""
    profiles = {}
    for run in runs:
        profiles.setdefault(tuple(run.counts), []).append(run)
    fig = figure(8, 4.2)
    ax = fig.add_subplot()
    if len(profiles) == 1:
        run = runs[0]
        counts, th = run.counts, run.thresholds
        order = _order(counts)
        colors = [GROUP_COLORS[_group_of(counts[i], th)] for i in order]
        ax.bar(
            range(len(order)),
            [counts[i] for i in order],
            color=colors,
            edgecolor="white",
            linewidth=0.5,
        )
        for group in ("many", "medium", "few"):
            if any(_group_of(c, th) == group for c in counts):
                ax.bar([0], [0], color=GROUP_COLORS[group], label=f"{group.capitalize()}")
        _rank_axis(ax, run)
        title = (
            f"Training class counts: {run.results.get('dataset', '')} ({sum(counts):,} images, {len(counts)} classes, "
            f"imbalance {max(counts) / max(1, min(counts)):.0f})"
        )
    else:
        for k, (counts, members) in enumerate(profiles.items()):
            ranked = sorted(counts, reverse=True)
            ax.step(
                range(len(ranked)),
                ranked,
                where="mid",
                linestyle=RUN_LINESTYLES[k % 4],
                linewidth=1.8,
                label=", ".join(r.label for r in members),
            )
        ax.set_xlabel("class rank by training count (head → tail)")
        title = "Training class counts"
        counts = [c for p in profiles for c in p]
        th = runs[0].thresholds
    for name, value in (("many", th["many"]), ("few", th["few"])):
        ax.axhline(value, color="#999999", linestyle="--", linewidth=0.8)
        ax.annotate(
            f"{'Many >' if name == 'many' else 'Few <'} {value:g}",
            (1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color="#666666",
        )
    if spans_decades(counts):
        log_axis(ax, "y")
    ax.set_ylabel("training images" + (" (log scale)" if spans_decades(counts) else ""))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 0.9))
    return save(fig, path)


def weight_norms(runs: Sequence[RunData], path: Path) -> Path:
    """Per-class weight norms of every head, classes sorted by training count; left the raw norms
    (Dang et al. AAAI'24, Fig. 4), right each head's norms over its mean, to compare the shapes."""
    fig = figure(12, 3.8 * len(runs))
    axes = fig.subplots(len(runs), 2, squeeze=False)
    for row, run in enumerate(runs):
        order = _order(run.counts)
        for k, (method, metrics) in enumerate(run.methods.items()):
            norms = np.asarray(metrics["weight_norms"])[order]
            style = dict(
                color=method_color(method, k),
                marker="o",
                markersize=3.5,
                linewidth=1.6,
                label=method,
            )
            if (
                method == "stage1"
            ):  # the reference the stage-2 heads re-balance: drawn on top, dashed
                style.update(color="black", linestyle="--", linewidth=2.0, marker="s", zorder=5)
            axes[row, 0].plot(range(len(order)), norms, **style)
            axes[row, 1].plot(range(len(order)), norms / norms.mean(), **style)
        axes[row, 0].set_ylabel("‖w_i‖ (L2 norm of class weight)")
        axes[row, 1].set_ylabel("‖w_i‖ / mean over classes")
        axes[row, 1].axhline(1.0, color="#999999", linewidth=0.8, linestyle="--")
        for col, what in enumerate(("classifier weight norms", "relative weight norms")):
            _rank_axis(axes[row, col], run)
            axes[row, col].set_title(f"{run.label}: {what}", fontsize=10)
            axes[row, col].grid(alpha=0.3)
        axes[row, 1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title="head")
    return save(fig, path)


def accuracy_vs_count(runs: Sequence[RunData], path: Path) -> Path:
    """Per-class test accuracy against the class's training count, one line per method."""
    rows, cols = grid_shape(len(runs), 2)
    fig = figure(7.5 * cols, 4.4 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, run in zip(axes, runs):
        counts = np.asarray(run.counts)
        order = np.argsort(counts, kind="stable")
        for k, (method, metrics) in enumerate(run.methods.items()):
            acc = np.array([np.nan if a is None else a for a in metrics["per_class_accuracy"]])[
                order
            ]
            ax.plot(
                counts[order],
                acc,
                marker="o",
                markersize=4,
                linewidth=1.4,
                alpha=0.9,
                color=method_color(method, k),
                label=f"{method} ({np.nanmean(acc):.1f})",
            )
        if spans_decades(counts):
            log_axis(ax, "x")
        th = run.thresholds
        _group_regions(ax, counts, th)
        ax.set_xlabel(
            "training images of the class" + (" (log scale)" if spans_decades(counts) else "")
        )
        ax.set_ylabel("test accuracy of the class (%)")
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
        ax.set_title(f"{run.label}: per-class accuracy vs. class size", fontsize=10, pad=14)
        ax.legend(
            fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title="method (mean %)"
        )
    for ax in axes[len(runs) :]:
        ax.set_visible(False)
    return save(fig, path)


def _group_regions(ax, counts, th) -> None:
    """Dashed lines at the Few/Many thresholds and the group names centred in their (wide enough) regions."""
    lo, hi = ax.get_xlim()
    logx = ax.get_xscale() == "log"
    pos = np.log10 if logx else (lambda v: v)
    edges = [lo, th["few"], th["many"], hi]
    for value in (th["few"], th["many"]):
        if lo < value < hi:
            ax.axvline(value, color="#999999", linestyle="--", linewidth=0.8)
    for name, a, b in zip(("Few", "Medium", "Many"), edges[:-1], edges[1:]):
        a, b = max(a, lo), min(b, hi)
        if b > a and (pos(b) - pos(a)) / (pos(hi) - pos(lo)) > 0.1:
            mid = 10 ** ((pos(a) + pos(b)) / 2) if logx else (a + b) / 2
            ax.annotate(
                name,
                (mid, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
                color="#666666",
            )


def _entries(runs: Sequence[RunData]):
    """(label, method, metrics) for every method of every run; labels carry the run when several."""
    many = len(runs) > 1
    return [
        (f"{run.label}\n{m}" if many else m, m, metrics)
        for run in runs
        for m, metrics in run.methods.items()
    ]


def _run_separators(ax, runs: Sequence[RunData], offset: float) -> None:
    """Vertical lines between the runs' groups of methods (x positions 1..N)."""
    if len(runs) > 1:
        edge = 0
        for run in runs[:-1]:
            edge += len(run.methods)
            ax.axvline(edge + offset, color="#999999", linewidth=1.0)


def accuracy_box(runs: Sequence[RunData], path: Path) -> Path:
    """Box plot of per-class accuracy per method, with the mean and the standard deviation
    (Park, Piao and Kim, Fig. 2)."""
    entries = _entries(runs)
    fig = figure(min(16.0, max(6.0, 1.1 * len(entries) + 1.5)), 4.6)
    ax = fig.add_subplot()
    data = [
        [a for a in metrics["per_class_accuracy"] if a is not None] for _, _, metrics in entries
    ]
    box = ax.boxplot(
        data,
        patch_artist=True,
        showmeans=True,
        widths=0.6,
        meanprops=dict(marker="^", markerfacecolor="white", markeredgecolor="black", markersize=7),
        medianprops=dict(color="black"),
    )
    ax.set_xticks(range(1, len(entries) + 1), [label for label, _, _ in entries], fontsize=8)
    for k, (patch, (_, method, metrics)) in enumerate(zip(box["boxes"], entries)):
        patch.set_facecolor(method_color(method, k))
        patch.set_alpha(0.55)
        ax.annotate(
            f"{metrics['top1']:.1f}\nSD {metrics['per_class_std']:.1f}",
            (k + 1, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    _run_separators(ax, runs, offset=0.5)
    ax.set_ylabel("per-class test accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(
        "Distribution of per-class accuracy (▲ mean; above: top-1 and SD)", fontsize=10, pad=30
    )
    return save(fig, path)


def group_bars(runs: Sequence[RunData], path: Path) -> Path:
    """All / Many / Medium / Few test accuracy, one bar per method (and run)."""
    entries = _entries(runs)
    groups = [
        g
        for g in ("top1", "many", "medium", "few")
        if any(m.get(g) is not None for _, _, m in entries)
    ]
    fig = figure(min(14.0, max(7.0, 0.45 * len(entries) * len(groups) + 2)), 4.4)
    ax = fig.add_subplot()
    width = 0.8 / len(entries)
    for k, (label, method, metrics) in enumerate(entries):
        xs = np.arange(len(groups)) + (k - (len(entries) - 1) / 2) * width
        values = [metrics.get(g) if metrics.get(g) is not None else 0.0 for g in groups]
        run_index = [r.label for r in runs].index(label.split("\n")[0]) if len(runs) > 1 else 0
        bars = ax.bar(
            xs,
            values,
            width,
            color=method_color(method, k),
            label=label.replace("\n", " / "),
            hatch=["", "//", "..", "xx"][run_index % 4],
            edgecolor="white",
            linewidth=0.5,
        )
        if len(entries) * len(groups) <= 28:
            ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    sizes = entries[0][2].get("group_sizes", {})
    names = [
        GROUP_NAMES[g]
        + (f"\n({sizes[g]} class{'es' if sizes[g] != 1 else ''})" if g in sizes else "")
        for g in groups
    ]
    ax.set_xticks(range(len(groups)), names)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 108)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(
        "Accuracy by class group (Many > 100, Medium 20-100, Few < 20 training images)", fontsize=10
    )
    return save(fig, path)


def reliability(runs: Sequence[RunData], path: Path) -> Path:
    """Reliability diagram per method: accuracy per confidence bin against the diagonal (Guo et al.)."""
    panels = [
        (run, m, run.reliability[m]) for run in runs for m in run.methods if m in run.reliability
    ]
    if not panels:
        raise InputError("no reliability data: the runs' models could not be reloaded")
    rows, cols = grid_shape(len(panels), 3)
    fig = figure(3.6 * cols, 3.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for k, (ax, (run, method, bins)) in enumerate(zip(axes, panels)):
        edges = np.asarray(bins["edges"]) * 100
        centers, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        count = np.asarray(bins["count"])
        used = count > 0
        acc, conf = np.asarray(bins["accuracy"]), np.asarray(bins["confidence"])
        bars = ax.bar(
            centers[used],
            acc[used],
            width[used],
            color=method_color(method, k),
            edgecolor="black",
            linewidth=0.5,
            label="accuracy",
        )
        for bar, n in zip(bars, count[used]):
            bar.set_alpha(0.85 if n >= FEW_SAMPLES else 0.3)
        ax.bar(
            centers[used],
            np.abs(conf - acc)[used],
            width[used],
            bottom=np.minimum(acc, conf)[used],
            fill=False,
            hatch="///",
            edgecolor="#d62728",
            linewidth=0.6,
            label="gap to mean confidence",
        )
        ax.plot(
            [0, 100],
            [0, 100],
            linestyle="--",
            color="#555555",
            linewidth=1,
            label="perfect calibration",
        )
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.set_aspect("equal")
        ax.set_xlabel("confidence (%)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(
            f"{run.label + ' / ' if len(runs) > 1 else ''}{method}: ECE {bins['ece']:.1f}% "
            f"(n = {bins['num_samples']})",
            fontsize=10,
        )
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels + [],
        loc="outside lower center",
        ncols=3,
        fontsize=8,
        title=f"equal-width confidence bins; faded: fewer than {FEW_SAMPLES} samples",
        title_fontsize=8,
    )
    return save(fig, path)


def training_curves(runs: Sequence[RunData], path: Path) -> Path:
    """Stage-1 loss and training accuracy per epoch (``log.jsonl``)."""
    fig = figure(11, 3.8)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for k, run in enumerate(r for r in runs if r.log):
        epochs = [e["epoch"] + 1 for e in run.log]
        style = dict(
            marker=RUN_MARKERS[k % len(RUN_MARKERS)], markersize=3, linewidth=1.5, label=run.label
        )
        loss_ax.plot(epochs, [e["loss"] for e in run.log], **style)
        acc_ax.plot(epochs, [e["train_acc"] for e in run.log], **style)
    for ax, label in ((loss_ax, "training loss"), (acc_ax, "training accuracy (%)")):
        integer_axis(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.set_title(f"Stage 1: {label}", fontsize=10)
    acc_ax.legend(fontsize=8)
    return save(fig, path)
