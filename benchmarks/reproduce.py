"""Reproduce the CIFAR-LT tables from ltzoo's recipes: one plan of every run, resumable, several at once.

    python benchmarks/reproduce.py --list                        # every row: recipe, costs, record or not
    python benchmarks/reproduce.py --only cifar100_lt/if100/resnet32 --parallel 2   # a block on a CPU
    python benchmarks/reproduce.py --parallel 3 --time-limit 3000 --start-partial  # a GPU session
    python benchmarks/reproduce.py --table-only                  # redraw the tables from the records

The plan (``benchmarks/reproduction/plan.py``) lists every row as data: dataset, imbalance factor,
backbone, recipe, overrides, seed, the row whose stage-1 encoder it reuses, and the paper's number.
Its order is what a short session should fill first: the paper backbones on CIFAR-100-LT IF 100, then
IF 50, then ResNet-32 on CIFAR-100-LT, then CIFAR-10-LT. Select rows with ``--only PATTERN`` (a row id
glob such as ``'cifar100_lt/if100/resnet32/iwb*'``, a prefix such as ``cifar10_lt/if10``, or one part
of the id: ``resnet32_x8``, ``if50``, ``'tau*'``), and narrow with ``--dataset``, ``--backbone``,
``--imbalance``. A selected stage-2 row brings its encoder when that has no finished run folder.

Each row runs as ``python -m ltzoo train --config RECIPE --set ...`` (a search row: ``python -m ltzoo
tune``) in the run folder ``OUT/<row id>``, its output in ``OUT/logs/<row id>.log``; ``--commands``
prints them. A row whose record exists is skipped (``--force`` runs it again); a stage 1 stopped
part-way resumes from its newest checkpoint (``engine.resume=auto``), even over an older record; a
stage-2 row starts once its encoder's run has finished. An encoder recorded on another machine (no
run folder here) is trained again, and its record replaced, when a selected stage-2 row needs it.
A selected stage-2 row runs again when its encoder trains in the call, or when its record was made
on another encoder than the encoder row's record (their stage-1 per-class accuracies differ), so a
table never mixes encoders silently.

The fast path is on by default (``--fast-path auto``): ``data.loader=device`` and
``engine.channels_last=true`` on every device, ``mixed_precision=bf16`` where the device computes in
bf16 (a GPU that supports it, a CPU with AVX512-BF16 or AMX), and ``engine.fused_optimizer=true`` on a
GPU. ``benchmarks/engine_precision.py`` measured bf16 + channels-last at 587 img/s vs 313 fp32 on
a 2-core CPU that computes bf16 natively (CIFAR-100-LT; the 200-epoch CE encoder, one seed each:
38.84 All vs 39.83); the project's current 2-core CPU does not, so it trains in fp32. A stage 1
stopped part-way resumes with the settings it started with; ``--fast-path off`` runs the recipes as
written, and ``--set`` overrides either.

``--parallel N`` runs up to N rows side by side (one ResNet-32 leaves a large GPU mostly idle; on a CPU
the cores are shared out among them). ``--time-limit SECONDS`` starts no row whose estimated cost
exceeds the time left (``--start-partial`` starts a stage-1 row anyway while 2 minutes are left: it
checkpoints and resumes in the next call) and sends SIGTERM to the running rows at the limit, so they
save a checkpoint. A failed row is reported with its id and log and does not stop the others.

As soon as a row finishes, its record is written atomically to ``RESULTS/<row id>.json`` and the tables
``RESULTS/<dataset>/<backbone>.md`` are redrawn (``benchmarks/reproduction/records.py``), so a call cut
short keeps every row it finished. Estimated minutes on the 2-core CPU and on one H100/H200-class GPU
(the GPU figures are estimates until measured): ``benchmarks/reproduction/costs.py``.

Data: the recipes read ``data/cifar100`` and ``data/cifar10`` (``LTZOO_DATA_ROOT=DIR`` reads
``DIR/cifar100`` and ``DIR/cifar10`` instead); ``--root DATASET=PATH`` points a dataset elsewhere
(e.g. a folder packed by ``benchmarks/pack_cifar_lt.py``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from reproduction import costs, records  # noqa: E402  (benchmarks/reproduction)
from reproduction.plan import PLAN, Row  # noqa: E402
from reproduction.runner import STOPPED, Job, Outcome, Runner  # noqa: E402

from ltzoo.run_folder import flatten, read_config  # noqa: E402
from ltzoo.train.config import load_config  # noqa: E402
from ltzoo.train.run import cpu_computes_bf16  # noqa: E402
from ltzoo.train.shared_stage1 import SAME_DATA_FIELDS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


FAST_PATH_KEYS = (
    "data.loader",
    "engine.channels_last",
    "mixed_precision",
    "engine.fused_optimizer",
)


def fast_path_settings(device: str, bf16: Optional[bool] = None) -> Dict[str, str]:
    """The options of the measured fast path on ``device`` ("cpu" or "gpu"); ``bf16``: whether it
    computes in bf16 (default: ask the machine)."""
    if bf16 is None:
        if device == "gpu":
            import torch

            bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        else:
            bf16 = cpu_computes_bf16()
    settings = {"data.loader": "device", "engine.channels_last": "true"}
    if bf16:
        settings["mixed_precision"] = "bf16"
    if device == "gpu":
        settings["engine.fused_optimizer"] = "true"
    return settings


def trials_of(row: Row) -> int:
    """Full runs a row makes: a search row's ``--trials``, otherwise one."""
    return int(row.tune[row.tune.index("--trials") + 1]) if "--trials" in row.tune else 1


def matches(row: Row, pattern: str) -> bool:
    """An id glob, an id prefix (``cifar10_lt/if10``), or one part of the id (``resnet32_x8``, ``if50``)."""
    return (
        fnmatch.fnmatchcase(row.id, pattern)
        or fnmatch.fnmatchcase(row.id, pattern.rstrip("/") + "/*")
        or any(fnmatch.fnmatchcase(part, pattern) for part in row.id.split("/"))
    )


def select(plan: Sequence[Row], args) -> List[Row]:
    for pattern in args.only:
        if not any(matches(row, pattern) for row in plan):
            raise SystemExit(f"reproduce.py: --only {pattern!r} matches no row (see --list)")
    return [
        row
        for row in plan
        if (not args.only or any(matches(row, p) for p in args.only))
        and (not args.dataset or row.dataset in args.dataset)
        and (not args.backbone or row.backbone in args.backbone)
        and (not args.imbalance or row.imbalance in args.imbalance)
    ]


class Call:
    """One invocation: its rows, their run folders, commands, estimates and records."""

    def __init__(self, args, plan: Sequence[Row], command: Optional[Callable] = None):
        self.args, self.plan = args, list(plan)
        self.by_id = {row.id: row for row in self.plan}
        self.out, self.results = Path(args.out), Path(args.results)
        self.roots = dict(item.split("=", 1) for item in args.roots)
        self.command_for = command or self.ltzoo_command
        self.device = args.device
        if self.device == "auto":
            import torch

            on_cpu = any(o.replace(" ", "") == "device=cpu" for o in args.overrides)
            self.device = "gpu" if torch.cuda.is_available() and not on_cpu else "cpu"
        self.fast = fast_path_settings(self.device) if args.fast_path == "auto" else {}
        self._table_cpu_seconds: Optional[Dict[str, float]] = None

    # ---- one row ----------------------------------------------------------------------------------
    def run_dir(self, row: Row) -> Path:
        return self.out / row.id

    def log(self, row: Row) -> Path:
        return self.out / "logs" / f"{row.id}.log"

    def overrides(self, row: Row) -> List[str]:
        out = [] if row.tune else [f"output_dir={self.run_dir(row)}"]
        # eval.tta=flip: every record holds the flip-averaged numbers beside the last-epoch headline
        out += [f"data.imbalance={row.imbalance:g}", f"seed={row.seed}", "progress=false"]
        out.append("eval.tta=flip")
        if not row.tune and not self.anew(row):
            out.append("engine.resume=auto")
        if row.dataset in self.roots:
            out.append(f"data.root={self.roots[row.dataset]}")
        out += [f"{key}={value}" for key, value in self.fast_path(row).items()]
        out += list(row.overrides)
        if row.needs is not None:
            out.append(f"stage1.from_run={self.run_dir(self.by_id[row.needs])}")
        return out + list(self.args.overrides)

    def fast_path(self, row: Row) -> Dict[str, str]:
        """The fast-path options of the row. A row that continues its run folder (a stage 1 stopped
        part-way resumes; a finished one is recorded) keeps the ones that folder started with:
        precision and loader are part of a stage 1's trajectory, and a record states what ran."""
        started = self.run_dir(row) / "config.yaml"
        if self.anew(row) or row.tune or not started.is_file():
            return dict(self.fast)
        recorded = flatten(read_config(self.run_dir(row)))
        return {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in ((k, recorded[k]) for k in FAST_PATH_KEYS if k in recorded)
        }

    def config(self, row: Row):
        return load_config(REPO / row.recipe, self.overrides(row))

    def anew(self, row: Row) -> bool:
        """Start the row's run over (``--overwrite``) rather than resume it: with --force, and always
        for a stage-2 row, which keeps nothing between calls (its stage 1 is its encoder's)."""
        return self.args.force or row.needs is not None

    def ltzoo_command(self, row: Row) -> List[str]:
        recipe = os.path.relpath(REPO / row.recipe)
        if row.tune:
            head = ["tune", "--config", recipe, "--output-dir", str(self.run_dir(row)), *row.tune]
        else:
            head = ["train", "--config", recipe] + (["--overwrite"] if self.anew(row) else [])
        return [sys.executable, "-m", "ltzoo", *head] + [
            a for o in self.overrides(row) for a in ("--set", o)
        ]

    def finished(self, row: Row) -> bool:
        return (self.run_dir(row) / ("best.json" if row.tune else "results.json")).is_file()

    def recorded(self, row: Row) -> bool:
        return records.record_path(self.results, row).is_file()

    def in_progress(self, row: Row) -> bool:
        """Does the row's run folder hold a stage 1 stopped part-way (a checkpoint, no results)?"""
        folder = self.run_dir(row)
        return (
            row.needs is None
            and not row.tune
            and not self.finished(row)
            and any((folder / "checkpoints").glob("step_*"))
        )

    def on_its_encoder(self, row: Row) -> bool:
        """Was a stage-2 row's record made on the encoder its encoder row's record holds? Both runs
        score the encoder's own stage-1 classifier: the same per-class accuracy, or another encoder."""
        if row.needs is None:
            return True
        paths = [records.record_path(self.results, r) for r in (row, self.by_id[row.needs])]
        if not all(path.is_file() for path in paths):
            return True  # nothing to compare with
        mine, encoder = (
            json.loads(path.read_text())["results"]["methods"]["stage1"].get("per_class_accuracy")
            for path in paths
        )
        return mine is None or encoder is None or mine == encoder

    def estimate(self, row: Row, device: str) -> Optional[float]:
        cfg = self.config(row)
        n_train = costs.training_images(cfg)
        done = (
            costs.done_fraction(self.run_dir(row), cfg, n_train)
            if n_train and not row.tune
            else 0.0
        )
        return self.cost(row, cfg, device, done)

    @staticmethod
    def cost(row: Row, cfg, device: str, done: float = 0.0) -> Optional[float]:
        """``costs.row_seconds`` of ``row`` run with the resolved recipe ``cfg``."""
        return costs.row_seconds(
            cfg,
            row.backbone,
            device,
            from_encoder=row.needs is not None,
            trials=trials_of(row),
            done=done,
        )

    def table_cpu_seconds(self) -> Dict[str, float]:
        """Each row's estimated cost from scratch on the project's 2-core CPU (no native bf16) on its
        fast path, fp32 channels-last, as the tables state it (the same wherever the tables are
        drawn; computed once per call)."""
        if self._table_cpu_seconds is None:
            fast = [f"{k}={v}" for k, v in fast_path_settings("cpu", bf16=False).items()]
            self._table_cpu_seconds = {}
            for row in self.plan:
                overrides = [f"data.imbalance={row.imbalance:g}", *fast, *row.overrides]
                seconds = self.cost(row, load_config(REPO / row.recipe, overrides), "cpu")
                if seconds is not None:
                    self._table_cpu_seconds[row.id] = seconds
        return self._table_cpu_seconds

    def write_tables(self) -> List[Path]:
        return records.write_tables(self.results, self.plan, self.table_cpu_seconds())

    def resumed_at_step(self, row: Row) -> Optional[int]:
        """The checkpoint step the row's last call resumed from (its log), None if it started anew."""
        log = self.log(row)
        if not log.is_file():
            return None
        last_call = log.read_text(errors="replace").rsplit("\n$ ", 1)[-1]
        found = re.findall(r"resumed from \S*step_(\d+)", last_call)
        return int(found[-1]) if found else None

    def pack(self, row: Row, wall_seconds: float) -> Path:
        shown = ["python", *self.command_for(row)[1:]]
        return records.pack(
            row,
            self.run_dir(row),
            self.results,
            cfg=self.config(row),
            overrides=self.overrides(row),
            command=shlex.join(shown),
            driver=shlex.join(["python", *sys.argv]),
            wall_seconds=wall_seconds,
            resumed_at_step=self.resumed_at_step(row),
        )

    # ---- the call ---------------------------------------------------------------------------------
    def todo(self, selected: Sequence[Row]) -> List[Row]:
        """In plan order: the selected rows without a record (all with --force), with a stage 1
        stopped part-way (it resumes), or, for a stage-2 row, whose record was made on another
        encoder than its encoder row's record; every encoder they need that has no finished run
        folder; and the selected stage-2 rows whose encoder trains in this call (they follow it)."""
        todo = {
            row.id
            for row in selected
            if self.args.force
            or not self.recorded(row)
            or self.in_progress(row)
            or not self.on_its_encoder(row)
        }
        for row_id in list(todo):
            needs = self.by_id[row_id].needs
            if needs is not None and needs not in todo and not self.finished(self.by_id[needs]):
                todo.add(needs)
        todo |= {row.id for row in selected if row.needs in todo}
        return [row for row in self.plan if row.id in todo]

    def job(self, row: Row) -> Job:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
        if self.device == "cpu" and self.args.parallel > 1 and "OMP_NUM_THREADS" not in env:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.args.parallel))
        if self.args.force and row.tune and self.run_dir(row).exists():
            shutil.rmtree(self.run_dir(row))
        return Job(
            row.id,
            self.command_for(row),
            self.log(row),
            needs=row.needs,
            estimate=self.estimate(row, self.device),
            resumable=row.needs is None,
            env=env,
        )

    def finish(self, job: Job, code: int) -> Outcome:
        row = self.by_id[job.id]
        if code == 0 and self.finished(row):
            path = self.pack(row, job.ended - job.started)
            self.write_tables()
            top1 = json.loads(path.read_text())["results"]
            return Outcome(
                "recorded", f"top-1 {top1['methods'][top1['deploy']]['top1']:.2f}, {path}"
            )
        if code in STOPPED:
            again = "its stage 1 resumes" if row.needs is None else "it runs again"
            return Outcome("stopped", f"SIGTERM; {again} in the next call")
        tail = [line for line in job.log.read_text(errors="replace").splitlines() if line.strip()]
        return Outcome("failed", tail[-1][:300] if tail else "no output")

    def same_recipe(self, row: Row) -> bool:
        """Does the run folder hold a run of this row as this call would run it? (The settings that
        shape its numbers; not where its data lie, nor how fast it ran.)"""
        done, wanted = load_config(self.run_dir(row) / "config.yaml"), self.config(row)
        fields = (*SAME_DATA_FIELDS, "transform")
        sections = ["stage2", "eval"] + (["stage1", "model"] if row.needs is None else [])
        return (
            all(getattr(done.data, f) == getattr(wanted.data, f) for f in fields)
            and done.seed == wanted.seed
            and all(
                getattr(done, s).model_dump() == getattr(wanted, s).model_dump() for s in sections
            )
        )

    def recover(self, todo: List[Row]) -> List[Row]:
        """Records for runs that finished after the last call was stopped, before it packed them
        (not for a row that has a record, nor one whose encoder trains again in this call: their
        finished run folders hold what is to be replaced)."""
        left, training = [], {row.id for row in todo}
        for row in todo:
            if (
                not self.args.force
                and not self.recorded(row)
                and row.needs not in training
                and not row.tune
                and self.finished(row)
                and self.same_recipe(row)
            ):
                results = json.loads((self.run_dir(row) / "results.json").read_text())
                print(
                    f"[recovered] {row.id}: {self.pack(row, results['seconds']['total'])}",
                    flush=True,
                )
            else:
                left.append(row)
        return left

    def run(self, selected: Sequence[Row]) -> Dict[str, Outcome]:
        todo = self.recover(self.todo(selected))
        available = {row.id for row in self.plan if self.finished(row) and row not in todo}
        print(
            f"{len(selected)} row(s) selected, {len(todo)} to run ({', '.join(r.id for r in todo) or 'none'}); "
            f"estimates for the {self.device.upper()}",
            flush=True,
        )
        runner = Runner(
            self.args.parallel, self.args.time_limit, self.args.start_partial, self.args.grace
        )
        return runner.run([self.job(row) for row in todo], available, self.finish)

    def listing(self, rows: Sequence[Row]) -> str:
        header = (
            *"id dataset IF backbone recipe overrides".split(),
            "depends on",
            "CPU min",
            "GPU min",
        )
        header += ("record",)
        table, total = [header], {"cpu": 0.0, "gpu": 0.0}
        for row in rows:
            cpu, gpu = self.estimate(row, "cpu"), self.estimate(row, "gpu")
            if not self.recorded(row):
                total["cpu"] += cpu or 0.0
                total["gpu"] += gpu or 0.0
            shown = " ".join(row.overrides + ((" ".join(row.tune),) if row.tune else ()))
            table.append(
                (
                    row.id,
                    row.dataset,
                    f"{row.imbalance:g}",
                    row.backbone,
                    row.recipe,
                    shown or "-",
                    row.needs or "-",
                    costs.minutes(cpu),
                    costs.minutes(gpu),
                    "yes" if self.recorded(row) else "no",
                )
            )
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in table]
        missing = sum(not self.recorded(row) for row in rows)
        lines.append(
            f"{len(rows)} rows, {len(rows) - missing} recorded; the {missing} others: about "
            f"{total['cpu'] / 3600:.0f} h on the 2-core CPU, {total['gpu'] / 3600:.1f} h on one GPU (estimate)"
        )
        return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--list", action="store_true", help="print the selected rows, their costs and records"
    )
    p.add_argument(
        "--commands", action="store_true", help="print the command of every selected row"
    )
    p.add_argument(
        "--table-only", action="store_true", help="redraw every table from RESULTS; run nothing"
    )
    p.add_argument(
        "--only", nargs="+", action="extend", default=[], metavar="PATTERN", help="rows to select"
    )
    p.add_argument("--dataset", nargs="+", choices=sorted({r.dataset for r in PLAN}))
    p.add_argument("--backbone", nargs="+", choices=sorted({r.backbone for r in PLAN}))
    p.add_argument("--imbalance", nargs="+", type=float, metavar="IF")
    p.add_argument(
        "--parallel", type=int, default=1, metavar="N", help="rows side by side (default 1)"
    )
    p.add_argument(
        "--time-limit", type=float, metavar="SECONDS", help="start nothing that would not finish"
    )
    p.add_argument(
        "--start-partial",
        action="store_true",
        help="with --time-limit: start stage-1 rows anyway (2 min left)",
    )
    p.add_argument(
        "--grace", type=float, default=60.0, help="seconds between SIGTERM and SIGKILL (default 60)"
    )
    p.add_argument(
        "--force", action="store_true", help="run the selected rows again, over their records"
    )
    p.add_argument("--root", dest="roots", action="append", default=[], metavar="DATASET=PATH")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--out", default="runs/reproduce", help="run folders and logs (default runs/reproduce)"
    )
    p.add_argument(
        "--results", default=str(REPO / "benchmarks" / "results"), help="records and tables"
    )
    p.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "gpu"), help="whose estimates count"
    )
    p.add_argument(
        "--fast-path",
        default="auto",
        choices=("auto", "off"),
        help="auto: device loader, channels-last, bf16 where the device has it (default); "
        "off: the recipes as written",
    )
    args = p.parse_args(argv)
    for item in args.roots:
        if "=" not in item:
            p.error(
                f"--root {item!r}: expected DATASET=PATH, e.g. cifar100_lt=data/packed/cifar100"
            )
    return args


def main(argv=None, plan: Sequence[Row] = PLAN, command: Optional[Callable] = None) -> int:
    """``plan`` and ``command`` (row -> argv) replace the plan and the ltzoo command (tests)."""
    args = parse_args(argv)
    call = Call(args, plan, command)
    selected = select(plan, args)
    if args.list or args.commands:
        if args.list:
            print(call.listing(selected))
        for row in selected if args.commands else ():
            print(shlex.join(["python", *call.command_for(row)[1:]]))
        return 0
    outcomes = {} if args.table_only else call.run(selected)
    tables = call.write_tables()
    failed = [row_id for row_id, o in outcomes.items() if o.status == "failed"]
    if outcomes:
        counts = {}
        for outcome in outcomes.values():
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        print("rows: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    for row_id in failed:
        print(f"FAILED {row_id}: {outcomes[row_id].detail}; log {call.log(call.by_id[row_id])}")
    print(f"tables: {', '.join(str(p) for p in tables)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
