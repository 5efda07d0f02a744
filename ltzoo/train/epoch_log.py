"""Per-epoch training log: ``log.csv`` and ``log.jsonl`` in the run folder, plus a console line
when the progress bar is off. Main process only.

A resumed run first drops the rows of the epochs it is about to train again (those after its
checkpoint), so each epoch appears once; a run started over (``--overwrite``) starts clean files.
``log.jsonl`` is the record; ``log.csv`` is rewritten from it whenever a row brings columns the CSV
header lacks (a run resumed by a newer ltzoo that logs more), so every row stays under its header.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any, Dict

from tqdm.auto import tqdm

from ltzoo.atomic import write_text_atomic
from ltzoo.errors import storage_error
from ltzoo.run_folder import LOG_CSV, LOG_JSONL, read_epoch_log


def training_seconds(run_dir: Path) -> float:
    """The summed ``epoch_seconds`` of the epochs ``log.jsonl`` in ``run_dir`` holds: stage 1's
    training time over every call that trained it (a resumed run's earlier calls included; a partial
    epoch a stop cut short is not counted); 0 without a log."""
    return float(sum(row.get("epoch_seconds", 0.0) for row in read_epoch_log(run_dir)))


class EpochLog:
    def __init__(self, run_dir: Path, enabled: bool = True, echo: bool = False):
        self.run_dir, self.enabled, self.echo = Path(run_dir), enabled, echo

    def keep_before(self, epoch: int) -> None:
        """Drop the rows of ``epoch`` and later (resuming at the start of ``epoch``)."""
        path = self.run_dir / LOG_JSONL
        if not self.enabled or not path.is_file():
            return
        rows = read_epoch_log(self.run_dir)
        kept = [row for row in rows if row.get("epoch", -1) < epoch]
        if len(kept) == len(rows):
            return
        write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in kept))
        self._rewrite_csv(kept)

    def _rewrite_csv(self, rows) -> None:
        """``log.csv`` from ``rows``, one column per key any row has (empty where a row lacks it)."""
        fields = list(dict.fromkeys(key for row in rows for key in row))
        text = io.StringIO(newline="")
        if rows:
            writer = csv.DictWriter(text, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)
        write_text_atomic(self.run_dir / LOG_CSV, text.getvalue())

    def _csv_header(self):
        path = self.run_dir / LOG_CSV
        if not path.is_file() or path.stat().st_size == 0:
            return None
        with open(path, newline="") as handle:
            return next(csv.reader(handle), None)

    def write(self, stats: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        path = self.run_dir / LOG_JSONL
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as handle:
                handle.write(json.dumps(stats) + "\n")
            header = self._csv_header()
            if header is not None and not set(stats) <= set(header):
                rows = read_epoch_log(self.run_dir)
                self._rewrite_csv(rows)
            else:
                path = self.run_dir / LOG_CSV
                with open(path, "a", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=header or list(stats), restval="")
                    if header is None:
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
