"""Plain-text tables of evaluation results for a terminal, one row per method::

print(format_table({"stage1": r1, "tau_norm": r2}))  # r1, r2 from evaluate_logits

Method      All   Many  Medium    Few    Std    ECE
--------  -----  -----  ------  -----  -----  -----
stage1    38.52  65.10   37.00   8.43  27.11  20.13
tau_norm  42.96  60.31   43.29  21.70  18.55  12.40
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ["DEFAULT_COLUMNS", "HEAD_TAIL_COLUMNS", "format_table", "format_per_class"]

#: (header, key in the evaluate_logits dict)
DEFAULT_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("All", "top1"),
    ("Many", "many"),
    ("Medium", "medium"),
    ("Few", "few"),
    ("Std", "per_class_std"),
    ("ECE", "ece"),
)
#: the head/tail split of Lee (Yonsei University, 2022)
HEAD_TAIL_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("All", "top1"),
    ("Head", "head"),
    ("Tail", "tail"),
    ("Std", "per_class_std"),
)


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _render(header: Sequence[str], body: Sequence[Sequence[str]], left: int = 1) -> str:
    """Columns padded to their widest cell; the first ``left`` columns left-aligned, the rest right."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in body)])


def format_table(
    rows: Mapping[str, Mapping[str, Any]],
    columns: Sequence[Tuple[str, str]] = DEFAULT_COLUMNS,
    digits: int = 2,
    per_class: bool = False,
    class_names: Optional[Sequence[str]] = None,
) -> str:
    """A table with one row per method and columns All / Many / Medium / Few / Std / ECE.

    ``rows`` maps a method name to its metrics, e.g. ``{"stage1": r1, "tau_norm": r2, "lws": r3}``.

    The metrics are ``evaluate_logits`` dicts; a missing or None value prints as ``-``.
    ``columns`` is a sequence of (header, key); ``HEAD_TAIL_COLUMNS`` gives All / Head / Tail / Std.
    With ``per_class=True`` the per-class table of :func:`format_per_class` follows.
    """
    header = ["Method", *(h for h, _ in columns)]
    body = [
        [str(name), *(_cell(m.get(key), digits) for _, key in columns)] for name, m in rows.items()
    ]
    text = _render(header, body)
    if per_class and rows:
        text += "\n\n" + format_per_class(rows, class_names)
    return text


def format_per_class(
    rows: Mapping[str, Mapping[str, Any]],
    class_names: Optional[Sequence[str]] = None,
    digits: int = 1,
) -> str:
    """Per-class accuracy (percent), one line per class, one column per method.

    Columns: class index, name (``class_names`` or the index), training count (from the first
    method's ``class_counts``), then each method's ``per_class_accuracy``. Every method must
    report the same number of classes.
    """
    if not rows:
        raise ValueError("format_per_class needs at least one method")
    accs: Dict[str, List[Any]] = {str(k): list(m["per_class_accuracy"]) for k, m in rows.items()}
    sizes = {k: len(v) for k, v in accs.items()}
    num_classes = next(iter(sizes.values()))
    if len(set(sizes.values())) != 1:
        raise ValueError(f"methods report different numbers of classes: {sizes}")
    if class_names is None:
        class_names = [str(i) for i in range(num_classes)]
    if len(class_names) != num_classes:
        got = len(class_names)
        raise ValueError(f"class_names has {got} entries, the results have {num_classes} classes")
    counts = next(iter(rows.values())).get("class_counts") or [None] * num_classes
    header = ["#", "Class", "Train", *accs]
    body = [
        [
            str(i),
            str(class_names[i]),
            _cell(counts[i], 1),
            *(_cell(a[i], digits) for a in accs.values()),
        ]
        for i in range(num_classes)
    ]
    return _render(header, body, left=2)
