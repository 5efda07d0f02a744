import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch
from filelock import FileLock

# The suite runs as 2 pytest-xdist workers on 2 cores: one thread each (and in every training
# subprocess they start), or torch's thread pools oversubscribe the cores and stall.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CIFAR100 = REPO_ROOT.parent / "shared" / "data" / "cifar100"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---- one trained digits run for the whole session ----------------------------------------------
def _digest(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _train_default_run(out: Path) -> str:
    """``ltzoo train`` with the embedded default recipe, in this process; returns what it printed."""
    from ltzoo.cli import main

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            assert main(["train", "--output-dir", str(out), "--set", "progress=false"]) == 0
    finally:  # the CLI's log handler writes to the buffer above: drop it
        logger = logging.getLogger("ltzoo")
        for handler in [h for h in logger.handlers if getattr(h, "ltzoo_cli", False)]:
            logger.removeHandler(handler)
    return printed.getvalue()


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """``(run_dir, stdout)`` of the main job, ``ltzoo train`` with the default recipe (digits-LT,
    60 + 10 epochs, every stage-2 method), trained once per test session and READ-ONLY: a test that
    writes into a run folder takes ``digits_run_copy``. Under pytest-xdist the workers share it: the
    first one to ask trains it under a file lock, the others wait for it (the run takes ~20 s, and
    two workers would otherwise each train the same run). A test that changed it fails the session."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the folder above every worker's own
    out, record = root / "digits_run", root / "digits_run.json"
    with FileLock(str(root / "digits_run.lock")):
        if not record.is_file():  # none yet, or a worker died while training: train from scratch
            shutil.rmtree(out, ignore_errors=True)
            stdout = _train_default_run(out)
            record.write_text(json.dumps({"stdout": stdout, "files": _digest(out)}))
    saved = json.loads(record.read_text())
    yield out, saved["stdout"]
    changed = sorted({name for name, _ in set(saved["files"].items()) ^ set(_digest(out).items())})
    assert not changed, f"a test changed the shared run {out} (use digits_run_copy): {changed}"


@pytest.fixture
def digits_run_copy(digits_run, tmp_path):
    """A copy of the shared run folder, in the test's ``tmp_path``, for a test that changes it."""
    return Path(shutil.copytree(digits_run[0], tmp_path / "digits_run"))
