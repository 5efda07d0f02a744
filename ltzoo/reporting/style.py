"""Shared look of the report figures: a fixed colour per method, one marker per run, Agg output.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no global state, no display):
safe in tests, threads and headless machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

METHOD_COLORS = {
    "stage1": "#4d4d4d",
    "crt": "#1f77b4",
    "lws": "#ff7f0e",
    "tau": "#2ca02c",
    "ncm": "#9467bd",
    "iwb": "#d62728",
}
_EXTRA = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78")
RUN_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
RUN_LINESTYLES = ("-", "--", ":", "-.")
GROUP_COLORS = {"many": "#3b75af", "medium": "#8fbc8f", "few": "#e07b39"}
GROUP_NAMES = {
    "top1": "All",
    "mean_per_class": "Balanced",
    "many": "Many",
    "medium": "Medium",
    "few": "Few",
}
DPI = 120


def figure(width: float, height: float):
    """A new Agg-backed figure (needs matplotlib: ``pip install 'ltzoo[report]'``)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("ltzoo report needs matplotlib: pip install 'ltzoo[report]'") from error
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def method_color(method: str, index: int = 0) -> str:
    return METHOD_COLORS.get(method, _EXTRA[index % len(_EXTRA)])


def spans_decades(values: Sequence[float], ratio: float = 10.0) -> bool:
    """Whether positive ``values`` span at least ``ratio`` (then a log axis reads better)."""
    positive = [v for v in values if v and v > 0]
    return bool(positive) and max(positive) / min(positive) >= ratio


def log_axis(ax, which: str = "x") -> None:
    """Log scale with plain-number ticks at 1-2-5 steps when the data span under three decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    low, high = ax.get_xlim() if which == "x" else ax.get_ylim()
    if low > 0 and high / low < 1000:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def integer_axis(ax, which: str = "x") -> None:
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if which == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def save(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (its format from the suffix) under a temporary name in the same
    folder, then rename it: a report killed mid-way never leaves a torn figure."""
    from ltzoo.atomic import save_figure_atomic

    return save_figure_atomic(fig, path, dpi=DPI)


def grid_shape(n: int, max_cols: int = 3):
    cols = min(max(1, n), max_cols)
    return (n + cols - 1) // cols, cols
