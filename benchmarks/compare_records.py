"""Two reproduction records side by side: their metrics, the difference, and every setting in which
the two runs differ, so that a claim such as "the schedule is worth X points" rests on two runs that
differ in the schedule only.

    python benchmarks/compare_records.py benchmarks/results/cifar10_lt/if100/resnet32/ce.json \\
        benchmarks/results/cifar10_lt/if100/resnet32/ce_cosine.json
    python benchmarks/compare_records.py \\
        benchmarks/results/precision/cifar100_lt_if100_resnet32_ce_fp32.json \\
        benchmarks/results/cifar100_lt/if100/resnet32/ce.json

Metrics are the deployed model's (top-1 All / Many / Medium / Few, the standard deviation of the
per-class accuracy) at the last epoch without test-time augmentation, and All with flip averaging
where the record holds it. Settings are the record's overrides (run bookkeeping left out: run folder,
resume, data location, progress bars) and the effective stage-1 settings the run stored; a key one
only one record states is listed apart (the other ran its recipe's default, or was recorded
before the key was stored).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from reproduction.records import METRICS  # benchmarks/reproduction: the metric keys of the tables

LABELS = dict(zip(METRICS, ("All", "Many", "Medium", "Few", "Std")))
BOOKKEEPING = ("output_dir", "engine.resume", "stage1.from_run", "data.root", "progress")


def metrics(record: Dict[str, Any]) -> Dict[str, Optional[float]]:
    results = record["results"]
    deployed = results["methods"][results.get("deploy", "stage1")]
    out = {LABELS[key]: deployed.get(key) for key in METRICS}
    out["All, flip"] = (record.get("flip") or {}).get("top1")
    return out


def settings(record: Dict[str, Any]) -> Dict[str, str]:
    """What the run was told and what it used: overrides, then the stored stage-1 settings."""
    out = {
        "recipe": record.get("recipe"),
        "backbone": (record.get("backbone") or {}).get("name"),
        "dataset": (record["results"].get("data") or {}).get("dataset")
        or record["results"].get("dataset"),
    }
    for item in record.get("overrides", []):
        key, _, value = item.partition("=")
        if key not in BOOKKEEPING:
            out[key] = value
    stage1 = (record["results"].get("settings") or {}).get("stage1") or {}
    for key, value in stage1.items():
        if key != "from_run":
            out[f"stage1.{key}"] = value
    return {
        key: json.dumps(value) if not isinstance(value, str) else value
        for key, value in out.items()
    }


def differences(a: Dict[str, str], b: Dict[str, str]) -> List[Tuple[str, str, str]]:
    """Keys both records hold with different values."""
    return [(key, a[key], b[key]) for key in sorted(set(a) & set(b)) if a[key] != b[key]]


def compare(path_a: Path, path_b: Path) -> str:
    a, b = (json.loads(Path(p).read_text()) for p in (path_a, path_b))
    ma, mb = metrics(a), metrics(b)
    width = 8
    lines = [f"A: {path_a}", f"B: {path_b}", ""]
    lines.append(f"{'':10}  {'A':>{width}}  {'B':>{width}}  {'B - A':>7}")

    def cell(value: Optional[float]) -> str:
        return "-" if value is None else f"{value:.2f}"

    for label in ma:
        va, vb = ma[label], mb[label]
        delta = "-" if va is None or vb is None else f"{vb - va:+.2f}"
        lines.append(f"{label:10}  {cell(va):>{width}}  {cell(vb):>{width}}  {delta:>7}")
    sa, sb = settings(a), settings(b)
    diff = differences(sa, sb)
    lines.append("")
    lines.append("settings that differ (A -> B):" if diff else "settings both hold: identical")
    lines += [f"  {key}: {va} -> {vb}" for key, va, vb in diff]
    for side, mine, other in (("A", sa, sb), ("B", sb, sa)):
        alone = sorted(set(mine) - set(other))
        if alone:
            shown = ", ".join(f"{key}={mine[key]}" for key in alone)
            lines.append(f"only {side} states (the other ran its recipe's default): {shown}")
    machines = {a.get("machine"), b.get("machine")}
    lines.append("machine: " + " | ".join(str(m) for m in sorted(machines, key=str)))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("record_a", type=Path)
    p.add_argument("record_b", type=Path)
    args = p.parse_args(argv)
    for path in (args.record_a, args.record_b):
        if not path.is_file():
            print(
                f"compare_records.py: {path} is not a file (records: benchmarks/results/)",
                file=sys.stderr,
            )
            return 2
    print(compare(args.record_a, args.record_b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
