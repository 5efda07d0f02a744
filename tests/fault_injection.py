"""``python tests/fault_injection.py KILL_AT <ltzoo command arguments>``: the ``ltzoo`` command in
a fresh interpreter that SIGKILLs itself when stage 1's ``KILL_AT``-th training step returns
(the process's own count; pick a step that is not a checkpoint step, so that the kill lands between
two checkpoints). Tests start it as a subprocess to test what a killed run leaves behind."""

import os
import signal
import sys

import ltzoo.train.stage1
from ltzoo.cli import main


def kill_after_step(kill_at: int) -> None:
    """Patch ``ltzoo.train.stage1.train_step`` to SIGKILL this process after its ``kill_at``-th call."""
    real_step = ltzoo.train.stage1.train_step
    calls = [0]

    def step_then_kill(*args, **kwargs):
        skipped = real_step(*args, **kwargs)
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return skipped

    ltzoo.train.stage1.train_step = step_then_kill


def command(kill_at: int, *args: str) -> list:
    """The argv that runs ``ltzoo *args`` killed after step ``kill_at``."""
    return [sys.executable, os.path.abspath(__file__), str(kill_at), *args]


if __name__ == "__main__":
    kill_after_step(int(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
