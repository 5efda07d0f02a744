"""The report page: ``report.md`` (links the PNGs next to it) and ``report.html`` (self-contained:
the PNGs are embedded as data URIs, so the one file can be mailed or attached)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ltzoo.atomic import write_text_atomic
from ltzoo.reporting.runs import RunData

COLUMNS = (
    ("All", "top1"),
    ("Balanced", "mean_per_class"),
    ("Many", "many"),
    ("Medium", "medium"),
    ("Few", "few"),
    ("Std", "per_class_std"),
    ("ECE", "ece"),
)


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def metric_rows(run: RunData, split: str = "methods") -> Tuple[List[str], List[List[str]]]:
    metrics = run.results.get(split) or {}
    header = ["Method", *(h for h, _ in COLUMNS)]
    return header, [
        [m, *(_cell(v.get(k)) for _, k in COLUMNS)] for m, v in metrics.items() if m in run.methods
    ]


def _run_intro(run: RunData) -> str:
    r, counts = run.results, run.counts
    return (
        f"{r.get('dataset', '?')}: {r.get('num_train', sum(counts)):,} training images in {len(counts)} classes "
        f"(imbalance {max(counts) / max(1, min(counts)):.0f}), {r.get('num_test', '?')} test images; "
        f"deployed method: {r.get('deploy', '?')}"
    )


def write_markdown(
    path: Path,
    title: str,
    runs: Sequence[RunData],
    figures: Dict[str, Tuple[str, Path]],
    study: Optional[Dict[str, Any]] = None,
    notes: Sequence[str] = (),
) -> Path:
    lines = [f"# {title}", ""]
    for run in runs:
        header, rows = metric_rows(run)
        lines += [
            f"## {run.label}",
            "",
            f"`{run.path}`: {_run_intro(run)}",
            "",
            "Test accuracy (%):",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    if study:
        lines += ["## Study", "", _study_text(study), ""]
    lines += ["## Figures", ""]
    for name, (caption, file) in figures.items():
        lines += [f"### {caption}", "", f"![{name}]({Path(file).name})", ""]
    lines += [f"- {note}" for note in notes]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def _study_text(study: Dict[str, Any]) -> str:
    text = (
        f"Study `{study['name']}` ({study['storage']}): {study['complete']} complete and {study['pruned']} pruned "
        f"trials; objective `{study.get('objective')}` of `{study.get('method')}` on the validation split."
    )
    if study.get("best") is not None:
        params = ", ".join(
            f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
            for k, v in study["best_params"].items()
        )
        text += f" Best: trial {study['best_trial']}, {study['best']:.2f} ({params})."
    return text


def _table_html(header: List[str], rows: List[List[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html(
    path: Path,
    title: str,
    runs: Sequence[RunData],
    figures: Dict[str, Tuple[str, Path]],
    study: Optional[Dict[str, Any]] = None,
    notes: Sequence[str] = (),
) -> Path:
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for run in runs:
        parts += [
            f"<h2>{html.escape(run.label)}</h2>",
            f"<p><code>{html.escape(str(run.path))}</code>: {html.escape(_run_intro(run))}</p>",
            "<p>Test accuracy (%):</p>",
            _table_html(*metric_rows(run)),
        ]
    if study:
        parts += ["<h2>Study</h2>", f"<p>{html.escape(_study_text(study))}</p>"]
    parts.append("<h2>Figures</h2>")
    for name, (caption, file) in figures.items():
        data = base64.b64encode(Path(file).read_bytes()).decode("ascii")
        parts.append(
            f'<figure id="{name}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "th,td{border:1px solid #ccc;padding:.3em .7em;text-align:right}"
        "th:first-child,td:first-child{text-align:left}thead{background:#f3f3f3}"
        "img{max-width:100%;border:1px solid #eee}figure{margin:1.5em 0}figcaption{color:#555;font-size:.9em}"
    )
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )
    return write_text_atomic(path, page)
