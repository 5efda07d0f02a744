"""Runs plan rows as subprocesses, up to ``parallel`` side by side, in plan order.

- A row starts when a slot is free and the row whose encoder it reuses has finished (in this call or
  an earlier one). A row whose encoder failed, stopped or was not started is reported, not started.
- ``time_limit`` (seconds from the start): a row whose estimate exceeds the time left is not started;
  ``start_partial`` lets a row that trains a resumable stage 1 start anyway while at least
  ``min_partial`` seconds are left (it checkpoints when stopped and resumes in the next call). At
  the limit, and on SIGTERM or Ctrl-C to this process, every running row gets SIGTERM (the engine
  saves a checkpoint and exits, see ``ltzoo.train.stage1``) and, ``grace`` seconds later, SIGKILL.
- Each process that ends is handed to ``finish`` at once (which packs its record and redraws the
  tables) while the others keep running, so a call cut short loses no finished row.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Set

STOPPED = (143, -signal.SIGTERM, 128 + signal.SIGTERM)  # ltzoo train after SIGTERM, or killed by it


@dataclass
class Job:
    id: str
    command: List[str]
    log: Path
    needs: Optional[str] = None  # the id of the job whose encoder this one reuses
    estimate: Optional[float] = None  # seconds; None: unknown
    resumable: bool = False  # trains a stage 1 that checkpoints
    env: Optional[Dict[str, str]] = None
    proc: Optional[subprocess.Popen] = None
    started: float = 0.0
    ended: float = 0.0


@dataclass(frozen=True)
class Outcome:
    status: str  # recorded | failed | stopped | refused | blocked
    detail: str = ""


class Runner:
    def __init__(
        self,
        parallel: int = 1,
        time_limit: Optional[float] = None,
        start_partial: bool = False,
        grace: float = 60.0,
        poll: float = 0.2,
        echo: Callable[[str], None] = print,
        min_partial: float = 120.0,
    ):
        if parallel < 1:
            raise ValueError(f"parallel={parallel} must be >= 1")
        self.parallel, self.time_limit, self.start_partial = parallel, time_limit, start_partial
        self.grace, self.poll, self.echo, self.min_partial = grace, poll, echo, min_partial
        self.stop_requested = False

    def run(
        self, jobs: Iterable[Job], available: Set[str], finish: Callable[[Job, int], Outcome]
    ) -> Dict[str, Outcome]:
        """Run ``jobs`` (in their order); ``available``: ids whose encoder is ready before any starts.
        ``finish(job, returncode)`` is called as soon as a job's process ends."""
        self.start = time.monotonic()
        pending, running, ready = list(jobs), [], set(available)
        outcomes: Dict[str, Outcome] = {}
        stopping = False
        previous = self._trap_signals()
        try:
            while pending or running:
                for job in [j for j in running if j.proc.poll() is not None]:
                    running.remove(job)
                    outcomes[job.id] = self._finish(job, finish)
                    if outcomes[job.id].status == "recorded":
                        ready.add(job.id)
                self._block_orphans(pending, running, ready, outcomes)
                if self._out_of_time() and not stopping:
                    stopping = True
                    for job in pending:
                        outcomes[job.id] = Outcome("refused", "the call stopped before it started")
                    pending = []
                    self._stop(running)
                while not self._out_of_time() and len(running) < self.parallel:
                    job = self._next(pending, ready, outcomes)
                    if job is None:
                        break
                    pending.remove(job)
                    running.append(self._launch(job))
                if pending or running:
                    time.sleep(self.poll)
        finally:
            self._restore_signals(previous)
        return outcomes

    # ---- choosing ---------------------------------------------------------------------------------
    def left(self) -> Optional[float]:
        if self.time_limit is None:
            return None
        return self.time_limit - (time.monotonic() - self.start)

    def _out_of_time(self) -> bool:
        left = self.left()
        return self.stop_requested or (left is not None and left <= 0)

    def _next(self, pending: List[Job], ready: Set[str], outcomes) -> Optional[Job]:
        """The first pending job whose encoder is ready and that fits in the time left; jobs that
        cannot fit are refused (the time left only shrinks)."""
        for job in list(pending):
            if job.needs is not None and job.needs not in ready:
                continue
            left = self.left()
            if left is None or job.estimate is None or job.estimate <= left:
                return job
            if self.start_partial and job.resumable and left >= self.min_partial:
                return job
            pending.remove(job)
            outcomes[job.id] = Outcome(
                "refused",
                f"estimated {job.estimate / 60:.1f} min, {max(left, 0) / 60:.1f} min left",
            )
            self.echo(f"[not started] {job.id}: {outcomes[job.id].detail}")
        return None

    def _block_orphans(self, pending: List[Job], running: List[Job], ready, outcomes) -> None:
        """A job whose encoder is neither ready nor waiting to run (it failed, stopped or was not
        started) cannot start in this call."""
        waiting = {j.id for j in pending} | {j.id for j in running}
        for job in list(pending):
            if job.needs is None or job.needs in ready or job.needs in waiting:
                continue
            pending.remove(job)
            encoder = outcomes.get(job.needs)
            why = f"was {encoder.status}" if encoder else "has no finished run folder"
            outcomes[job.id] = Outcome("blocked", f"its encoder {job.needs} {why}")
            self.echo(f"[not started] {job.id}: {outcomes[job.id].detail}")

    # ---- processes --------------------------------------------------------------------------------
    def _launch(self, job: Job) -> Job:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        with open(job.log, "ab") as log:
            log.write(f"$ {shlex.join(job.command)}\n".encode())
            log.flush()
            job.proc = subprocess.Popen(
                job.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=job.env,
                start_new_session=True,  # Ctrl-C reaches this process only; it stops the rows cleanly
            )
        job.started = time.monotonic()
        estimate = "" if job.estimate is None else f", estimated {job.estimate / 60:.1f} min"
        self.echo(f"[start] {job.id}{estimate}; log {job.log}")
        return job

    def _finish(self, job: Job, finish) -> Outcome:
        job.ended = time.monotonic()
        code = job.proc.returncode
        try:
            outcome = finish(job, code)
        except Exception as error:  # a record that cannot be packed must not stop the other rows
            outcome = Outcome("failed", f"its record could not be written: {error}")
        took = f"{job.ended - job.started:.0f} s"
        if outcome.status == "recorded":
            self.echo(f"[done] {job.id} in {took}: {outcome.detail}")
        elif outcome.status == "stopped":
            self.echo(f"[stopped] {job.id} after {took}: {outcome.detail}")
        else:
            self.echo(
                f"[FAILED] {job.id} (exit {code}) after {took}: {outcome.detail}; log {job.log}"
            )
        return outcome

    def _stop(self, running: List[Job]) -> None:
        """SIGTERM to every running job, SIGKILL to those still running ``grace`` seconds later."""
        for job in running:
            if job.proc.poll() is None:
                self.echo(f"[stopping] {job.id}: SIGTERM (it saves a checkpoint)")
                job.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while any(j.proc.poll() is None for j in running) and time.monotonic() < deadline:
            time.sleep(self.poll)
        for job in running:
            if job.proc.poll() is None:
                self.echo(f"[stopping] {job.id}: still running after {self.grace:.0f} s, SIGKILL")
                os.killpg(job.proc.pid, signal.SIGKILL)
                job.proc.wait()

    def _trap_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def request_stop(signum, frame):
            self.stop_requested = True

        return {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}

    @staticmethod
    def _restore_signals(previous) -> None:
        for signum, handler in (previous or {}).items():
            signal.signal(signum, handler)
