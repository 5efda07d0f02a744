import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from filelock import FileLock

# The suite runs as 2 pytest-xdist workers on 2 cores: one thread each (and in every training
# subprocess they start), or torch's thread pools oversubscribe the cores and stall.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]

# The one place the suite names the CIFAR-100 copy kept next to the clone: when it is there, every
# recipe root under data/ reads it (LTZOO_DATA_ROOT, ltzoo.data.roots), in this process and in the
# training processes the tests start. A LTZOO_DATA_ROOT set before the run wins.
_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
if (_SHARED_DATA / "cifar100" / "train.npz").is_file():
    os.environ.setdefault("LTZOO_DATA_ROOT", str(_SHARED_DATA))

from ltzoo.data.roots import resolve_root  # noqa: E402  (reads LTZOO_DATA_ROOT when called)

# where the recipes' data/cifar100 is read from in this run
CIFAR100 = REPO_ROOT / resolve_root("data/cifar100")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---- scheduling on pytest-xdist workers (setup.cfg: --dist loadgroup --no-loadscope-reorder) ------


def _shared_setup(item) -> str:
    """The group of tests that share ``item``'s expensive setup ('' for none): the session's trained
    digits run, or a fixture of its module built once for the module."""
    if "digits_run" in item.fixturenames:
        return "digits_run"
    for defs in item._fixtureinfo.name2fixturedefs.values():
        if defs[-1].scope == "module" and defs[-1].baseid == item.nodeid.split("::")[0]:
            return item.nodeid.split("::")[0]
    return ""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """Tests that share a fixture's setup run on one worker (one xdist_group each), so it is built
    once; and the longest work is queued first, so that on two workers it overlaps the rest: the
    groups holding a ``slow`` test (the session's digits run among them), then the other groups,
    then the rest."""
    groups = {item.nodeid: _shared_setup(item) for item in items}
    slow = {groups[i.nodeid] or i.nodeid for i in items if i.get_closest_marker("slow")}
    for item in items:
        if groups[item.nodeid]:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))

    def rank(item):
        group = groups[item.nodeid]
        if group == "digits_run" or (group or item.nodeid) in slow:  # the digits run trains too
            return 1
        return 2 if group else 3

    items.sort(key=rank)


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


@pytest.fixture
def holder():
    """Another process holding a folder's writer lock, as a running ltzoo command does: call it
    with the folder; the processes it started are killed after the test (or kill one earlier)."""
    started = []

    def start(folder):
        code = (
            "import sys, time; from ltzoo.run_folder import hold; hold(sys.argv[1]); "
            "print('held', flush=True); time.sleep(120)"
        )
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True
        )
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()
        process.stdout.close()


def snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with its bytes (``None`` for a folder): equal snapshots mean
    nothing was created, removed or changed."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }
