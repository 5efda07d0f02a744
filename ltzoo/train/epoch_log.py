"""Per-epoch training log: ``log.csv`` and ``log.jsonl`` in the run folder (appended across
resumes), plus a console line when the progress bar is off. Main process only."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Dict

from tqdm.auto import tqdm


class EpochLog:
    def __init__(self, run_dir: Path, enabled: bool = True, echo: bool = False):
        self.run_dir, self.enabled, self.echo = Path(run_dir), enabled, echo

    def write(self, stats: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps(stats) + "\n")
        csv_path = self.run_dir / "log.csv"
        new = not csv_path.exists()
        with open(csv_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(stats))
            if new:
                writer.writeheader()
            writer.writerow(stats)
        line = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items())
        if self.echo:
            print(f"stage 1 {line}", flush=True)
        else:
            tqdm.write(f"stage 1 {line}")
