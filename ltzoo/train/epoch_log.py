"""Per-epoch training log: ``log.csv`` and ``log.jsonl`` in the run folder, plus a console line
when the progress bar is off. Main process only.

A resumed run first drops the rows of the epochs it is about to train again (those after its
checkpoint), so each epoch appears once; a run started over (``--overwrite``) starts clean files.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any, Dict

from tqdm.auto import tqdm

from ltzoo.atomic import write_text_atomic
from ltzoo.errors import storage_error
from ltzoo.run_folder import LOG_CSV, LOG_JSONL


class EpochLog:
    def __init__(self, run_dir: Path, enabled: bool = True, echo: bool = False):
        self.run_dir, self.enabled, self.echo = Path(run_dir), enabled, echo

    def keep_before(self, epoch: int) -> None:
        """Drop the rows of ``epoch`` and later (resuming at the start of ``epoch``)."""
        path = self.run_dir / LOG_JSONL
        if not self.enabled or not path.is_file():
            return
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        kept = [row for row in rows if row.get("epoch", -1) < epoch]
        if len(kept) == len(rows):
            return
        write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in kept))
        csv_path = self.run_dir / LOG_CSV
        if csv_path.is_file():
            lines = csv_path.read_text().splitlines(keepends=True)
            write_text_atomic(csv_path, "".join(lines[: 1 + len(kept)]) if kept else "")

    def write(self, stats: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        path = self.run_dir / LOG_JSONL
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as handle:
                handle.write(json.dumps(stats) + "\n")
            path = self.run_dir / LOG_CSV
            new = not path.exists() or path.stat().st_size == 0
            with open(path, "a", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(stats))
                if new:
                    writer.writeheader()
                writer.writerow(stats)
        except OSError as error:
            converted = storage_error(error, path)
            if converted is None:
                raise
            raise converted from error
        line = "  ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items()
        )
        if self.echo:
            logging.getLogger(__name__).info(f"stage 1 {line}")
        else:
            tqdm.write(f"stage 1 {line}")
