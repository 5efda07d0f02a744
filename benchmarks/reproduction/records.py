"""A finished row's record, and the tables drawn from the records.

Record (``RESULTS/<row id>.json``, written atomically): the run's ``results.json`` with the recipe, the
overrides, the command that ran, the machine (``benchmarks/machine.py``), the wall time of the call
that finished it (``stage1_resumed_at_step``: the checkpoint it resumed from, when earlier calls
trained part of stage 1), the backbone
and its size, and the protocol: the headline is the last-epoch model without test-time augmentation;
``flip`` holds the deployed head's flip-averaged numbers (the plan runs every row with
``eval.tta=flip``; records written before it have none). A search row's record is its best
trial's run (chosen on the validation split) with the search's summary under ``search``.

Tables: one markdown file per dataset / backbone, ``RESULTS/<dataset>/<backbone>.md``, every row of
the plan in it: a recorded row shows top-1 All / Many / Medium / Few and the standard deviation of the
per-class accuracy next to the paper's number and the record's protocol; a row without a record shows
the command that runs it and its estimated cost on the project's 2-core CPU on the fast path ("needs a
GPU" on the paper backbones).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from machine import describe_machine  # benchmarks/machine.py

from ltzoo.atomic import write_json_atomic, write_text_atomic

from .plan import ABLATION, ABLATION_BLOCK, ENCODER, SOURCES, Row

METRICS = ("top1", "many", "medium", "few", "per_class_std")
SHORTFALL = 1.0  # points under the paper that get a note
DATASET_NAMES = {"cifar100_lt": "CIFAR-100-LT", "cifar10_lt": "CIFAR-10-LT"}
BACKBONE_NAMES = {
    "resnet32": "ResNet-32 (He et al.; the network of Cao et al. and Menon et al.)",
    "resnet32_x8": "ResNet-32 at 8x width (the network Dang et al.'s code trains)",
    "resnet34_cifar": "CIFAR-stem ResNet-34 (the network Alshammari et al.'s code trains)",
}
SCRIPT = "python benchmarks/reproduce.py"


def record_path(results_dir: Path, row: Row) -> Path:
    return Path(results_dir) / f"{row.id}.json"


def backbone_of(cfg) -> Dict[str, Any]:
    """The network a record's numbers come from, with its parameter count (at 100 classes, the figure
    the papers quote)."""
    import ltzoo

    model = ltzoo.create_model(
        cfg.model.name,
        num_classes=100,
        **({"backbone": cfg.model.backbone} if cfg.model.backbone else {}),
    )
    return {
        "name": model.backbone_name,
        "parameters_at_100_classes": sum(p.numel() for p in model.parameters()),
    }


def run_results(row: Row, run_dir: Path) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
    """(the results.json a record holds, the search summary of a search row)."""
    if row.tune:
        search = json.loads((Path(run_dir) / "best.json").read_text())
        return json.loads((Path(search["run_dir"]) / "results.json").read_text()), search
    return json.loads((Path(run_dir) / "results.json").read_text()), None


def flip_summary(results: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    flip = results.get("tta", {}).get("flip")
    if not flip:
        return None
    metrics = flip["methods"][results["deploy"]]
    return {"protocol": flip["protocol"], **{k: metrics.get(k) for k in METRICS}}


_DATA_ROOT = re.compile(r"((?:data\.root|cifar100_lt|cifar10_lt)=|--root (?!\w+=))(\S+)")


def portable(text: str) -> str:
    """``text`` with each data root outside a clone (absolute, or above the repository) written as
    ``$LTZOO_DATA_ROOT/<folder>``: a record names the data a user's clone reads, not this machine's path."""

    def clone_relative(match: re.Match) -> str:
        root = match.group(2)
        if not (root.startswith("/") or root.startswith("..")):
            return match.group(0)
        return f"{match.group(1)}$LTZOO_DATA_ROOT/{Path(root).name}"

    return _DATA_ROOT.sub(clone_relative, text)


def pack(
    row: Row,
    run_dir: Path,
    results_dir: Path,
    *,
    cfg,
    overrides: Sequence[str],
    command: str,
    driver: str,
    wall_seconds: float,
    resumed_at_step: Optional[int] = None,
) -> Path:
    """Write ``row``'s record from its finished run folder; returns its path."""
    results, search = run_results(row, run_dir)
    record = {
        "id": row.id,
        "recipe": row.recipe,
        "imbalance": row.imbalance,
        "seed": row.seed,
        "overrides": [portable(o) for o in overrides],
        "command": portable(command),
        "driver": portable(driver),
        "machine": describe_machine(cfg.device),
        "wall_seconds": round(wall_seconds, 1),  # of the call that finished the row
        "backbone": backbone_of(cfg),
        "protocol": results["protocol"],  # the headline: last epoch, no test-time augmentation
    }
    if resumed_at_step is not None:  # earlier calls trained stage 1 up to this step
        record["stage1_resumed_at_step"] = resumed_at_step
    flip = flip_summary(results)
    if flip is not None:
        record["flip"] = flip
    if search is not None:
        record["search"] = search
    record["results"] = results  # its "settings" hold every stage-2 method's effective settings
    return write_json_atomic(record_path(results_dir, row), record)


def load_records(results_dir: Path, rows: Sequence[Row]) -> Dict[str, dict]:
    records = {}
    for row in rows:
        path = record_path(results_dir, row)
        if path.is_file():
            records[row.id] = json.loads(path.read_text())
    return records


# ---- tables --------------------------------------------------------------------------------------
def cell(value: Optional[float]) -> str:
    """A number with 2 decimals; "—" for a group without classes (e.g. no class above 100 images)."""
    return "—" if value is None else f"{value:.2f}"


def protocol_cell(record: dict) -> str:
    protocol = record["protocol"]
    text = f"{protocol['model']}, {'no TTA' if protocol['tta'] == 'none' else protocol['tta']}"
    flip = record.get("flip")
    return text if flip is None else f"{text} (flip: {cell(flip['top1'])})"


def run_command(row: Row) -> str:
    return f"{SCRIPT} --only {row.id}"


def blocks(rows: Sequence[Row]) -> "OrderedDict[Tuple[str, str], List[Row]]":
    """The rows of each dataset / backbone, in plan order."""
    out: "OrderedDict[Tuple[str, str], List[Row]]" = OrderedDict()
    for row in rows:
        out.setdefault((row.dataset, row.backbone), []).append(row)
    return out


def table_path(results_dir: Path, dataset: str, backbone: str) -> Path:
    return Path(results_dir) / dataset / f"{backbone}.md"


def cpu_cost(seconds: Optional[float]) -> str:
    if seconds is None:
        return ""
    size = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{max(1, round(seconds / 60))} min"
    return f" (about {size} on the 2-core CPU)"


def render_block(
    rows: Sequence[Row], records: Dict[str, dict], cpu_seconds: Optional[Dict[str, float]] = None
) -> str:
    """One markdown table: a line per row, then what the columns mean, the papers and the machines.
    ``cpu_seconds``: each unrecorded row's estimated cost on the 2-core CPU, stated beside its command."""
    dataset, backbone = rows[0].dataset, rows[0].backbone
    header = [
        "Row",
        "IF",
        "Method",
        "All",
        "Many",
        "Med",
        "Few",
        "Std",
        "paper",
        "Protocol",
        "Notes",
    ]
    lines = [
        f"### {DATASET_NAMES.get(dataset, dataset)}, {BACKBONE_NAMES.get(backbone, backbone)}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    machines, shared, sources = set(), [], OrderedDict()
    for row in rows:
        paper = cell(row.paper) if row.paper is not None else "—"
        if row.paper is not None:
            sources.setdefault(row.source, []).append(row.label)
        record = records.get(row.id)
        if record is None:
            todo = "needs a GPU" if row.needs_gpu else "not run yet"
            todo += cpu_cost((cpu_seconds or {}).get(row.id))
            cells = ["—"] * 5 + [paper, "—", f"{todo}: `{run_command(row)}`"]
        else:
            results = record["results"]
            metrics = results["methods"][results["deploy"]]
            notes = []
            if row.paper is not None and metrics["top1"] < row.paper - SHORTFALL:
                notes.append(f"{row.paper - metrics['top1']:.2f} under the paper")
            if "search" in record:
                search = record["search"]
                values = ", ".join(f"{k} {v:.3g}" for k, v in search["params"].items())
                notes.append(f"best of {search['finished_trials']} trials on validation: {values}")
            cells = [cell(metrics.get(k)) for k in METRICS] + [
                paper,
                protocol_cell(record),
                "; ".join(notes),
            ]
            machines.add(record["machine"])
        if row.encoder is not None and row.label not in shared:
            shared.append(row.label)
        lines.append("| " + " | ".join([row.name, f"{row.imbalance:g}", row.label] + cells) + " |")
    lines.append("")
    if shared:
        lines.append(
            f"Stage 2 on the shared encoder of their IF (row `{ENCODER}`, loaded with `stage1.from_run`): "
            f"{', '.join(shared)}. The other rows train their own stage 1."
        )
    lines.append(
        "All / Many / Med / Few: top-1 of the deployed model on the test set; Many / Med / Few: classes with "
        "more than 100, 20 to 100, fewer than 20 training images. Std: standard deviation of the per-class "
        "top-1 (points). Protocol: the headline is the last epoch without test-time augmentation; flip: the "
        "mean of the logits of each test image and its mirror, as the authors' code scores."
    )
    for source, labels in sources.items():
        lines.append(f"paper (top-1 All), {', '.join(dict.fromkeys(labels))}: {SOURCES[source]}.")
    for name in sorted(machines):
        lines.append(f"Machine: {name}")
    return "\n".join(lines) + "\n"


def ablation_rows(rows: Sequence[Row]) -> Dict[str, Row]:
    """The rows of ``rows`` in the ablation's block (CIFAR-100-LT, IF 100, ResNet-32), by name."""
    return {
        row.name: row
        for row in rows
        if (row.dataset, row.imbalance, row.backbone) == ABLATION_BLOCK
    }


def compute_seconds(results: dict) -> Optional[float]:
    """The compute a run took: its stage-1 epochs over every call that trained them
    (``seconds.stage1_epochs``; a run made in one call, without it: that call's stage 1) plus the
    finishing call's time after stage 1 (stage 2 and scoring); None without timings."""
    seconds = results.get("seconds") or {}
    if "stage1" not in seconds:
        return None
    after_stage1 = seconds.get("total", seconds["stage1"]) - seconds["stage1"]
    return seconds.get("stage1_epochs", seconds["stage1"]) + after_stage1


def render_ablation(rows: Sequence[Row], records: Dict[str, dict]) -> str:
    """The ablation of the strongest ResNet-32 (:data:`ABLATION`): a line per step with its
    validation and test top-1, the compute of its run (:func:`compute_seconds`) and the command
    that made it."""
    by_name = ablation_rows(rows)
    lines = [
        "### CIFAR-100-LT IF 100, ResNet-32: the strongest recipe, step by step",
        "",
        "| Step | Validation | All | Many | Med | Few | Compute | Command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    machines = set()
    for name, step, head in ABLATION:
        row, record = by_name[name], records.get(by_name[name].id)
        if record is None:
            lines.append(f"| {step} | — | — | — | — | — | — | not run yet: `{run_command(row)}` |")
            continue
        results = record["results"]
        method = results["deploy"] if head == "deploy" else "stage1"
        test, val = results["methods"][method], (results.get("validation") or {}).get(method, {})
        named = f" ({method})" if head == "deploy" else ""
        seconds = compute_seconds(results)
        hours = "—" if seconds is None else f"{seconds / 3600:.2f} h"
        cells = [cell(val.get("top1"))] + [cell(test.get(k)) for k in METRICS[:4]]
        lines.append(
            f"| {step}{named} | " + " | ".join(cells) + f" | {hours} | `{run_command(row)}` |"
        )
        machines.add(record["machine"])
    lines += [
        "",
        "Validation: top-1 on the balanced split of 20 images per class drawn from the training images "
        "the long-tail profile leaves out; every data-chosen value (tau, the deployed method) is "
        "chosen there. All / Many / Med / Few: test top-1 at the last epoch, no test-time "
        "augmentation. Compute: the run's stage-1 epoch times summed over every call that trained "
        "it, plus the stage 2 and scoring of the call that finished it.",
    ]
    lines += [f"Machine: {name}" for name in sorted(machines)]
    return "\n".join(lines) + "\n"


def write_tables(
    results_dir: Path, rows: Sequence[Row], cpu_seconds: Optional[Dict[str, float]] = None
) -> List[Path]:
    """Every dataset / backbone table of ``rows``, drawn from the records in ``results_dir``;
    ``cpu_seconds`` as :func:`render_block`."""
    records = load_records(results_dir, rows)
    written = []
    for (dataset, backbone), block in blocks(rows).items():
        path = table_path(results_dir, dataset, backbone)
        written.append(write_text_atomic(path, render_block(block, records, cpu_seconds)))
    if {name for name, _, _ in ABLATION} <= set(ablation_rows(rows)):
        path = Path(results_dir) / ABLATION_BLOCK[0] / "resnet32_ablation.md"
        written.append(write_text_atomic(path, render_ablation(rows, records)))
    return written
