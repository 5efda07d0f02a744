"""``ltzoo report`` owns its output folder while it writes: a second command holding the folder's
lock refuses it in one line naming the holder's pid, before anything is written; a run folder, an
input of the report, is never its output; what it writes lands under temporary names first."""

from __future__ import annotations

import json

import pytest

from ltzoo.cli import main
from tests.conftest import snapshot as _snapshot
from tests.test_hub_local import make_run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run folder (ltzoo's save_run) whose results hold what every figure draws."""
    run = make_run_dir(tmp_path_factory.mktemp("owned") / "run")
    results = json.loads((run / "results.json").read_text())
    for k, metrics in enumerate(results["methods"].values()):
        metrics.update(weight_norms=[1.0 + 0.1 * k + 0.05 * i for i in range(10)])
        metrics.update(mean_per_class=50.0, per_class_std=30.0)
    (run / "results.json").write_text(json.dumps(results))
    return run


def _one_line(err: str, *names: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("ltzoo report: error: "), err
    for name in names:
        assert name in err, (name, err)


def test_a_held_output_folder_is_refused_then_written_once_free(run, tmp_path, capsys, holder):
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("not the report's\n")
    argv = ["report", str(run), "--output-dir", str(out), "--no-reliability"]
    process = holder(out)
    before, run_before = _snapshot(tmp_path), _snapshot(run)
    assert main(argv) == 2
    _one_line(capsys.readouterr().err, "--output-dir", str(out), f"pid {process.pid}")
    assert _snapshot(tmp_path) == before and _snapshot(run) == run_before  # nothing written
    process.kill()  # the operating system releases the lock of a process that dies
    process.wait()

    assert main(argv) == 0  # the holder is gone: the same command writes the report
    names = {p.name for p in out.iterdir()}
    assert {"keep.txt", "report.html", "report.md", "class_counts.png"} <= names
    assert not [n for n in names if n.startswith(".")], names  # no temporary file is left
    assert (out / "keep.txt").read_text() == "not the report's\n"
    assert _snapshot(run) == run_before


@pytest.mark.parametrize("inside", ["", "report"], ids=["the run folder", "inside it"])
def test_a_run_folder_is_never_the_output(run, inside, capsys):
    target = run / inside if inside else run
    before = _snapshot(run)
    assert main(["report", str(run), "--output-dir", str(target), "--no-reliability"]) == 2
    _one_line(capsys.readouterr().err, f"--output-dir {str(target)!r} is not allowed", str(run))
    assert _snapshot(run) == before
