"""Reproduce the CIFAR-100-LT table of the papers (ResNet-32, IF 100 and 50) from ltzoo's recipes.

    python benchmarks/reproduce_cifar100_lt.py --root ../shared/data/cifar100 [--imbalance 100 50]
        [--recipes ce iwb_cb ...] [--set data.loader=device --set mixed_precision=bf16 ...]
    python benchmarks/reproduce_cifar100_lt.py --table-only

Each row is one recipe of ``recipes/cifar100_lt/`` with its paper's hyper-parameters, run at
``data.imbalance = IF``. The decoupled stage-2 recipes (cRT, LWS, NCM, WD+MaxNorm(+CB), IWB(+CB))
share one stage-1 encoder per IF, that of ``ce.yaml`` (the IWB paper's stage 1: CE, batch 64, lr
0.01, weight decay 5e-3, 200 epochs, cosine), loaded with ``stage1.from_run``; their own recipes'
``stage1`` sections are then not used. A recipe whose data differ from ``ce.yaml``'s trains its own
stage 1: ``tau.yaml`` (it carves a 20% validation split to choose tau, as Alshammari et al.,
CVPR'22 tune on an 80/20 split), and the
stage-1 losses (LDAM-DRW, logit adjustment, balanced softmax).

Runs resume: a run folder that already holds ``results.json`` is not run again (``--force`` reruns
it), and a stage 1 stopped part-way (SIGTERM, a time limit) continues from its newest checkpoint
(``engine.resume=auto``). So a table larger than one call's time limit is filled over several calls.

Output: each finished run writes ``reproduction.json`` (its ``results.json`` with the recipe, the
overrides, the command and the machine) into its run folder; every one found is copied to
``RESULTS/if{IF}/{recipe}.json``, and the table (top-1 All / Many / Medium / Few and the std of
per-class accuracy, next to the paper's All) is written to ``RESULTS/table.md`` and printed. A
result more than 1 point under the paper's is flagged in the Notes column.

Paper numbers: Dang et al., "Inverse Weight-Balancing for Deep Long-Tailed Learning", AAAI'24,
Table 1 (Dang et al., AAAI'24); it quotes no CIFAR-100-LT figure for cRT, LWS, NCM or balanced softmax. Its CE
row (38.38 / 43.85) is the plain CE baseline of the earlier papers (weight decay 2e-4); ``ce.yaml``
is the weight-decay-tuned CE (5e-3) that the decoupled methods start from, so it is expected above.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from machine import describe_machine  # noqa: E402  (benchmarks/machine.py)

from ltzoo.atomic import write_json_atomic  # noqa: E402
from ltzoo.train.config import load_config  # noqa: E402
from ltzoo.train.shared_stage1 import SAME_DATA_FIELDS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes" / "cifar100_lt"
SHARED = "ce"  # the recipe whose stage-1 encoder the decoupled stage-2 recipes share
RECORD = "reproduction.json"


@dataclass(frozen=True)
class Row:
    label: str
    recipe: str
    paper: Dict[int, float] = field(
        default_factory=dict
    )  # imbalance factor -> top-1 All, Table 1 of Dang et al., AAAI'24


ROWS = [
    Row("CE", "ce", {100: 38.38, 50: 43.85}),
    Row("cRT", "crt"),
    Row("tau-norm", "tau", {100: 47.73, 50: 52.53}),
    Row("LWS", "lws"),
    Row("NCM", "ncm"),
    Row("LDAM-DRW", "ldam_drw", {100: 42.04, 50: 46.62}),
    Row("Logit adjustment", "logit_adjusted", {100: 43.89, 50: 47.03}),
    Row("Balanced softmax", "balanced_softmax"),
    Row("WD+MaxNorm", "wd_maxnorm", {100: 48.60, 50: 53.20}),
    Row("WD+MaxNorm+CB", "wd_maxnorm_cb", {100: 53.55, 50: 57.71}),
    Row("IWB", "iwb", {100: 53.3, 50: 56.3}),
    Row("IWB+CB", "iwb_cb", {100: 54.8, 50: 57.82}),
]
SHORTFALL = 1.0  # points under the paper that get a note


def run_overrides(recipe: str, imbalance: float, args) -> List[str]:
    out = Path(args.out) / f"if{imbalance:g}" / recipe
    overrides = [
        f"output_dir={out}",
        f"data.imbalance={imbalance:g}",
        "progress=false",
        "engine.resume=auto",
    ]
    if args.root:
        overrides.append(f"data.root={args.root}")
    return overrides + list(args.overrides)


def shares_the_encoder(recipe: str, imbalance: float, args) -> bool:
    """A stage-2 recipe that trains on exactly the data of the shared stage 1."""
    if recipe == SHARED:
        return False
    cfg = load_config(RECIPES / f"{recipe}.yaml", run_overrides(recipe, imbalance, args))
    shared = load_config(RECIPES / f"{SHARED}.yaml", run_overrides(SHARED, imbalance, args))
    return bool(cfg.stage2.methods) and all(
        getattr(cfg.data, f) == getattr(shared.data, f) for f in SAME_DATA_FIELDS
    )


def run_recipe(recipe: str, imbalance: float, args, from_run: Optional[Path] = None) -> Path:
    """Run one recipe unless its run folder is complete; returns the run folder."""
    from ltzoo.train.run import run

    overrides = run_overrides(recipe, imbalance, args)
    if from_run is not None:
        overrides.append(f"stage1.from_run={from_run}")
    cfg = load_config(RECIPES / f"{recipe}.yaml", overrides)
    out = Path(cfg.output_dir)
    if (out / RECORD).is_file() and not args.force:
        print(f"[IF {imbalance:g}] {recipe}: done before ({out / RECORD})", flush=True)
        return out
    print(
        f"[IF {imbalance:g}] {recipe}: {'stage 2 on ' + str(from_run) if from_run else 'stage 1 + stage 2'}",
        flush=True,
    )
    start = time.perf_counter()
    results = run(cfg)
    record = {
        "recipe": str((RECIPES / f"{recipe}.yaml").relative_to(REPO)),
        "imbalance": imbalance,
        "overrides": overrides,
        "command": " ".join(shlex.quote(a) for a in [sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "machine": describe_machine(cfg.device),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "backbone": backbone_of(cfg),
        "protocol": results[
            "protocol"
        ],  # the headline numbers: last epoch, no test-time augmentation
        "results": results,  # its "settings" hold every method's effective training settings
    }
    write_json_atomic(out / RECORD, record)
    export(args)  # at once: a call stopped by its time limit keeps what it finished
    return out


def backbone_of(cfg) -> Dict[str, Any]:
    """The network a record's numbers come from, with its parameter count."""
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


def reproduce(args) -> None:
    for imbalance in args.imbalance:
        sharers = [r for r in args.recipes if shares_the_encoder(r, imbalance, args)]
        shared_run = (
            run_recipe(SHARED, imbalance, args) if sharers or SHARED in args.recipes else None
        )
        for recipe in sharers:
            run_recipe(recipe, imbalance, args, from_run=shared_run)
        for recipe in args.recipes:
            if recipe != SHARED and recipe not in sharers:
                run_recipe(recipe, imbalance, args)


def export(args) -> int:
    """Copy every finished run's record into the results folder; returns how many."""
    copied = 0
    for imbalance in args.imbalance:
        for row in ROWS:
            record = Path(args.out) / f"if{imbalance:g}" / row.recipe / RECORD
            if record.is_file():
                target = Path(args.results) / f"if{imbalance:g}" / f"{row.recipe}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(record, target)
                copied += 1
    return copied


def load_records(results_dir: Path, imbalances) -> Dict[tuple, dict]:
    records = {}
    for imbalance in imbalances:
        for row in ROWS:
            path = results_dir / f"if{imbalance:g}" / f"{row.recipe}.json"
            if path.is_file():
                records[(imbalance, row.recipe)] = json.loads(path.read_text())
    return records


def cell(value: Optional[float]) -> str:
    """A number with 2 decimals; "—" for a group without classes (e.g. no class above 100 images)."""
    return "—" if value is None else f"{value:.2f}"


def render_table(records: Dict[tuple, dict], imbalances) -> str:
    """Markdown: per IF, All / Many / Med / Few / Std of the deployed head and the paper's All."""
    header = ["Method"]
    for imbalance in imbalances:
        header += [f"IF {imbalance:g} All", "Many", "Med", "Few", "Std", "paper"]
    lines = ["| " + " | ".join(header + ["Notes"]) + " |", "|" + "---|" * (len(header) + 1)]
    machines, shared_note = set(), {}
    for row in ROWS:
        cells, notes = [row.label], []
        for imbalance in imbalances:
            record = records.get((imbalance, row.recipe))
            paper = row.paper.get(int(imbalance))
            paper_cell = f"{paper:.2f}" if paper is not None else "—"
            if record is None:
                cells += ["—"] * 5 + [paper_cell]
                continue
            results = record["results"]
            metrics = results["methods"][results["deploy"]]
            cells += [
                cell(metrics.get(k)) for k in ("top1", "many", "medium", "few", "per_class_std")
            ] + [paper_cell]
            if paper is not None and metrics["top1"] < paper - SHORTFALL:
                notes.append(f"IF {imbalance:g}: {paper - metrics['top1']:.2f} under the paper")
            if results.get("stage1_from_run"):
                shared_note[row.recipe] = True
            machines.add(record["machine"])
        lines.append("| " + " | ".join(cells + ["; ".join(notes)]) + " |")
    shared = [r.label for r in ROWS if shared_note.get(r.recipe)]
    lines.append("")
    if shared:
        lines.append(
            f"Shared stage-1 encoder (ce.yaml, per IF): {', '.join(shared)}; CE is that encoder with its "
            "stage-1 classifier. The other rows train their own stage 1."
        )
    lines.append(
        "Std: standard deviation of the per-class top-1 accuracy (points). Many / Med / Few: more than 100, "
        "20 to 100, fewer than 20 training images. paper: Dang et al. AAAI'24 Table 1 (top-1 All)."
    )
    for name in sorted(machines):
        lines.append(f"Machine: {name}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--root",
        default="../shared/data/cifar100",
        help="CIFAR-100 (train.npz/test.npz or torchvision layout)",
    )
    parser.add_argument("--imbalance", type=float, nargs="+", default=[100, 50])
    parser.add_argument(
        "--recipes",
        nargs="+",
        default=[row.recipe for row in ROWS],
        choices=[row.recipe for row in ROWS],
        metavar="RECIPE",
        help=f"a subset of: {', '.join(row.recipe for row in ROWS)}",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="KEY=VALUE for every run"
    )
    parser.add_argument(
        "--out", default="runs/reproduce_cifar100_lt", help="run folders (never committed)"
    )
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "cifar100_lt"))
    parser.add_argument("--force", action="store_true", help="rerun finished runs")
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="render RESULTS/table.md from RESULTS; run nothing",
    )
    args = parser.parse_args(argv)
    results_dir = Path(args.results)
    if not args.table_only:
        export(args)  # records of runs finished by an earlier call, into a fresh results folder
        reproduce(args)
        print(f"{export(args)} run record(s) copied to {results_dir}", flush=True)
    table = render_table(load_records(results_dir, args.imbalance), args.imbalance)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "table.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
