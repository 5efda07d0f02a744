"""The documentation's generated pages: the settings reference from the pydantic schema, the CLI
reference from the argparse parser, the recipes from ``recipes/``, the model table from the
registry and the reproduction tables from ``benchmarks/results/``. The build (``docs/hooks.py``)
fills each ``<!-- ltzoo:NAME -->`` marker of a page with ``GENERATORS[NAME]()``, so no page can drift
from the code it describes.
"""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

ROOT = Path(__file__).resolve().parents[1]


# ---- settings ------------------------------------------------------------------------------------
def _type_name(annotation: Any) -> str:
    """A reader's name for a field's type: ``int``, ``float``, ``list[int]``, ``str or null``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return "choice"
    if origin is typing.Union:
        names = [_type_name(a) for a in args if a is not type(None)]
        suffix = " or null" if type(None) in args else ""
        return " or ".join(dict.fromkeys(names)) + suffix
    if origin in (list, tuple, typing.List, typing.Tuple):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"list[{inner}]" if inner else "list"
    if origin in (dict, typing.Dict):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "null")


def _allowed(field: Any) -> str:
    """Choices of a ``Literal`` and the bounds of a constrained number, as the validator checks."""
    annotation = field.annotation
    for candidate in [annotation, *typing.get_args(annotation)]:
        if typing.get_origin(candidate) is typing.Literal:
            return ", ".join(f"`{c}`" for c in typing.get_args(candidate))
    bounds = []
    for item in field.metadata:
        for attr, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None:
                bounds.append(f"{word} {value}")
    return ", ".join(bounds)


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if hasattr(value, "model_dump"):
        return ""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = str(value).lower()
    else:
        text = str(value)
    return f"`{text}`".replace("|", "\\|")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def settings_fields(model: Any = None, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """``(dotted key, pydantic FieldInfo)`` for every leaf setting of the run configuration."""
    from pydantic import BaseModel

    if model is None:
        from ltzoo.train.config import RunConfig

        model = RunConfig
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from settings_fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def _inherited_description(section: str, name: str) -> str:
    """A stage's training setting that redeclares or derives a :class:`TrainSettings` field takes
    its description; in ``stage2`` a null value means each method's own default."""
    from ltzoo.train.config import TrainSettings

    field = TrainSettings.model_fields.get(name)
    if field is None or not field.description:
        return ""
    if section == "stage2":
        return f"{field.description} For every method; null: each method's own default."
    return field.description


def settings_reference() -> str:
    """One table per section of the run configuration: key, type, default, allowed values and what
    the setting does (the field's docstring in ``ltzoo/train/config.py``)."""
    sections: Dict[str, List[str]] = {}
    for key, field in settings_fields():
        section = key.split(".")[0] if "." in key else "run"
        name = key.split(".", 1)[1] if "." in key else key
        description = field.description or _inherited_description(section, name)
        row = (
            f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | "
            f"{_allowed(field)} | {_cell(description)} |"
        )
        sections.setdefault(section, []).append(row)
    out = []
    for section, rows in sections.items():
        title = "Top level" if section == "run" else f"`{section}.*`"
        out += [f"### {title}", "", "| Key | Type | Default | Allowed | What it does |"]
        out += ["|---|---|---|---|---|", *rows, ""]
    return "\n".join(out)


# ---- command line --------------------------------------------------------------------------------
def _subcommands(
    parser: argparse.ArgumentParser,
) -> Iterator[Tuple[str, str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _arguments(parser: argparse.ArgumentParser) -> List[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        flags = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest.upper()}`"
        if action.metavar and action.option_strings:
            flags += f" `{action.metavar}`"
        helptext = (action.help or "").replace("%(default)s", str(action.default))
        if action.choices:
            helptext += " Choices: " + ", ".join(f"`{c}`" for c in action.choices) + "."
        default = action.default
        shown = (
            ""
            if default in (None, False, argparse.SUPPRESS) or not action.option_strings
            else f"`{default}`"
        )
        rows.append(f"| {flags} | {_cell(shown)} | {_cell(helptext)} |")
    return rows


def _command_section(
    name: str, summary: str, parser: argparse.ArgumentParser, level: int
) -> List[str]:
    out = [f"{'#' * level} `{name}`", ""]
    if summary:
        out += [_cell(summary), ""]
    if parser.description:
        out += [parser.description.strip(), ""]
    out += ["```text", parser.format_usage().strip(), "```", ""]
    children = list(_subcommands(parser))
    rows = _arguments(parser)
    if rows:
        out += ["| Argument | Default | What it does |", "|---|---|---|", *rows, ""]
    for child, child_summary, child_parser in children:
        out += _command_section(f"{name} {child}", child_summary, child_parser, level + 1)
    return out


def cli_reference() -> str:
    """Every ``ltzoo`` subcommand with its usage line and arguments, read from the parser the
    ``ltzoo`` command itself uses (``ltzoo.cli.build_parser``)."""
    from ltzoo.cli import build_parser

    out: List[str] = []
    for name, summary, sub in _subcommands(build_parser()):
        out += _command_section(f"ltzoo {name}", summary, sub, 3)
    return "\n".join(out)


# ---- recipes, models, results ---------------------------------------------------------------------
def _header(text: str) -> str:
    """A recipe's leading comment block, as prose."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(" ".join(lines).split())


def recipes_reference() -> str:
    """Every recipe under ``recipes/``: its path, its header comment and its settings."""
    out = []
    for folder in sorted({p.parent for p in (ROOT / "recipes").rglob("*.yaml")}):
        out += [f"### `{folder.relative_to(ROOT)}/`", ""]
        for path in sorted(folder.glob("*.yaml")):
            text = path.read_text()
            out += [f"#### `{path.name}`", ""]
            header = _header(text)
            if header:
                out += [header, ""]
            out += ['??? note "Settings"', "    ```yaml"]
            out += [f"    {line}" if line else "" for line in text.rstrip().splitlines()]
            out += ["    ```", ""]
    return "\n".join(out)


def models_reference() -> str:
    from ltzoo.model_table import model_table_markdown

    return model_table_markdown()


def reproduction_tables() -> str:
    """The CIFAR-LT tables exactly as ``benchmarks/reproduce.py`` writes them."""
    out = []
    for path in sorted((ROOT / "benchmarks" / "results").glob("*/*.md")):
        out += [path.read_text().strip(), ""]
    return "\n".join(out)


def strongest_ablation() -> str:
    """The table of the strongest ResNet-32 recipe's ablation, as ``benchmarks/reproduce.py`` writes
    it (``benchmarks/results/cifar100_lt/resnet32_ablation.md``, without its title and notes)."""
    text = (ROOT / "benchmarks" / "results" / "cifar100_lt" / "resnet32_ablation.md").read_text()
    return "\n".join(line for line in text.splitlines() if line.startswith("|"))


def released_results() -> str:
    """One row per released model: its test All / Many / Medium / Few accuracy and calibrated ECE
    (from the release store's index), beside the published figure the reproduction plan compares it
    with (``benchmarks/reproduction/plan.py``, which names its source)."""
    import json
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from reproduction.plan import PLAN, SOURCES

    paper = {row.id: (row.paper, row.source) for row in PLAN}
    releases = json.loads((ROOT / "weights" / "index.json").read_text())["releases"]
    out = [
        "| Model (`timm.create_model` name) | All | Many | Medium | Few | ECE | Published |",
        "|---|---|---|---|---|---|---|",
    ]
    sources = {}

    # grouped by dataset and tag (the record's folder), then by top-1
    def order(item):
        name, entry = item
        return (entry["record"].rsplit("/", 2)[0], entry["metrics"]["top1"])

    for name, entry in sorted(releases.items(), key=order):
        m = entry["metrics"]
        ece = entry.get("calibration", {}).get("scores", {}).get("after", {}).get("ece", m["ece"])
        row_id = entry["record"].removeprefix("benchmarks/results/").removesuffix(".json")
        figure, source = paper.get(row_id, (None, None))
        if figure is not None and source:
            mark = sources.setdefault(source, len(sources) + 1)
            cited = f"{figure:.2f} [{mark}]"
        else:
            cited = "—"
        # a group without classes (CIFAR-10-LT at IF 100 has no class under 20 images) is "—"
        groups = " | ".join(
            "—" if m.get(k) is None else f"{m[k]:.2f}" for k in ("top1", "many", "medium", "few")
        )
        out.append(f"| `{name}` | {groups} | {ece:.2f} | {cited} |")
    out.append("")
    out += [f"[{mark}] {SOURCES[source]}." for source, mark in sources.items()]
    return "\n".join(out)


def released_summary() -> str:
    """The README's view of the release store: one row per released architecture (and per recipe
    tag), one column per dataset and imbalance factor, each cell the test top-1 / Few top-1 %; the
    full table (Many, Medium, ECE, published figures) is :func:`released_results`."""
    import json

    releases = json.loads((ROOT / "weights" / "index.json").read_text())["releases"]
    columns: Dict[Tuple[str, int], str] = {}
    rows: Dict[
        str, Dict[Tuple[str, int], Tuple[float, Any]]
    ] = {}  # label -> column -> (top-1, Few)
    for name, entry in releases.items():
        dataset, factor = entry["record"].split("/")[2:4]
        column = (dataset, -int(factor.removeprefix("if")))
        columns[column] = f"{entry['dataset_title']} IF {-column[1]} (`.{dataset}_r{-column[1]}`)"
        arch, tag = name.split(".")
        recipe = tag.removesuffix(f"{dataset}_r{-column[1]}")
        m = entry["metrics"]
        rows.setdefault(f"{arch}.{recipe}*" if recipe else arch, {})[column] = (
            m["top1"],
            m.get("few"),
        )
    order = sorted(columns)

    def rank(item):  # plain tags by their first column's top-1, then recipe tags
        label, cells = item
        return ("." in label, next((cells[c][0] for c in order if c in cells), 0.0))

    def cell(scores) -> str:  # a dataset without Few classes (CIFAR-10-LT at IF 100) shows "—"
        if scores is None:
            return ""
        top1, few = scores
        return f"{top1:.2f} / " + ("—" if few is None else f"{few:.2f}")

    out = [
        "| Model (tag in the column) | " + " | ".join(columns[c] for c in order) + " |",
        "|---|" + "---|" * len(order),
    ]
    for label, cells in sorted(rows.items(), key=rank):
        out.append(f"| `{label}` | " + " | ".join(cell(cells.get(c)) for c in order) + " |")
    return "\n".join(out)


GENERATORS: Dict[str, Callable[[], str]] = {
    "settings": settings_reference,
    "cli": cli_reference,
    "recipes": recipes_reference,
    "models": models_reference,
    "reproduction": reproduction_tables,
    "released": released_results,
    "released-summary": released_summary,
    "strongest-ablation": strongest_ablation,
}


# the README's generated blocks: (begin marker, end marker, generator)
README_BLOCKS = (
    ("<!-- released:begin", "<!-- released:end -->", "released-summary"),
    ("<!-- ablation:begin", "<!-- ablation:end -->", "strongest-ablation"),
)


def update_readme(path: Path = ROOT / "README.md") -> str:
    """``README.md`` with each generated block between its markers rewritten from the data."""
    text = path.read_text()
    for begin, end, name in README_BLOCKS:
        start = text.index("\n", text.index(begin)) + 1
        text = text[:start] + GENERATORS[name]() + "\n" + text[text.index(end) :]
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Rewrite the README's generated blocks")
    parser.add_argument("--readme", action="store_true", help="rewrite README.md in place")
    if parser.parse_args().readme:
        readme = update_readme()
        (ROOT / "README.md").write_text(readme)
        print(f"README.md: {len(readme.splitlines())} lines")
