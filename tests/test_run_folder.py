"""A run folder belongs to one run: refused when in use, --resume checks the settings, --overwrite starts clean."""

import csv
import json
import subprocess
import sys

import pytest

from ltzoo.cli import main
from ltzoo.errors import ConfigError
from ltzoo.run_folder import MANIFEST, OWNED, check_checkpoint, differences, trajectory_settings
from ltzoo.train.config import load_config, to_dict


def _train(out, *extra):
    return main(
        [
            "train",
            "--output-dir",
            str(out),
            "--set",
            "progress=false",
            "--set",
            "stage2.methods=[crt]",
            "--set",
            "stage2.epochs=1",
            *extra,
        ]
    )


def _epochs_logged(out):
    with open(out / "log.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_second_run_into_a_used_folder_is_refused_and_changes_nothing(digits_run_copy, capsys):
    before = _tree(digits_run_copy)
    assert _train(digits_run_copy, "--set", "stage1.epochs=1") == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.count("\n") == 0
        and "already holds files" in err
        and "--resume" in err
        and "--overwrite" in err
    )
    assert _tree(digits_run_copy) == before


def test_resume_with_other_trajectory_settings_names_the_keys(digits_run_copy, capsys):
    before = _tree(digits_run_copy)
    assert (
        _train(digits_run_copy, "--set", "stage1.epochs=1", "--set", "stage1.lr=0.1", "--resume")
        == 2
    )
    err = capsys.readouterr().err
    assert "stage1.epochs: 60 -> 1" in err and "stage1.lr: 0.05 -> 0.1" in err
    assert _tree(digits_run_copy) == before  # the refused resume rewrote nothing (config.yaml too)


def test_resume_with_other_stage2_settings_is_allowed(digits_run_copy):
    out = digits_run_copy
    assert _train(out, "--set", "stage2.lr=0.2", "--resume") == 0
    # stage 1 was complete: nothing re-trained, nothing logged twice
    assert _epochs_logged(out) == list(range(60))
    assert (
        json.loads((out / "results.json").read_text())["settings"]["stage2"]["crt"]["training"][
            "lr"
        ]
        == 0.2
    )


def test_overwrite_starts_clean_and_keeps_foreign_files(digits_run_copy):
    out = digits_run_copy
    (out / "notes.txt").write_text("mine")
    assert _train(out, "--set", "stage1.epochs=1", "--overwrite") == 0
    assert _epochs_logged(out) == [0]
    steps = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert steps == ["step_000000007"]  # the old run's later steps are gone, the new one is kept
    assert (out / "notes.txt").read_text() == "mine"


def test_checkpoint_of_another_run_is_refused(digits_run, tmp_path, capsys):
    other = sorted((digits_run[0] / "checkpoints").iterdir())[-1]
    assert _train(tmp_path / "new", "--set", "seed=1", "--set", f"engine.resume={other}") == 2
    assert "written by a run with other settings (seed: 0 -> 1)" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_trajectory_settings_ignore_how_the_run_is_run():
    a = to_dict(
        load_config(
            overrides=[
                "engine.channels_last=true",
                "output_dir=x",
                "stage2.lr=0.3",
                "eval.tta=flip",
            ]
        )
    )
    b = to_dict(load_config())
    assert differences(trajectory_settings(a), trajectory_settings(b)) == []
    c = to_dict(load_config(overrides=["stage1.weight_decay=5e-3"]))
    assert differences(trajectory_settings(b), trajectory_settings(c)) == [
        "stage1.weight_decay: 0.0005 -> 0.005"
    ]


def test_a_checkpoint_is_checked_on_the_settings_both_versions_count():
    config = to_dict(load_config())
    recorded = trajectory_settings(config)
    # written by an older ltzoo: it counted eval.tta, and lacked a key added since
    older = {**recorded, "eval.tta": "none"}
    del older["stage1.grad_clip"]
    check_checkpoint(older, config, "ckpt")
    with pytest.raises(ConfigError, match=r"other settings \(seed: 0 -> 3\)"):
        check_checkpoint(older, to_dict(load_config(overrides=["seed=3"])), "ckpt")


def test_resume_from_a_checkpoint_path_hashes_it_once(digits_run_copy, monkeypatch):
    """`--resume PATH` checks every file of the checkpoint against its SHA-256 before anything is
    written, then loads it without hashing it again."""
    import ltzoo.train.checkpoint as checkpoint

    hashed, real = [], checkpoint._digest
    monkeypatch.setattr(checkpoint, "_digest", lambda path: hashed.append(path.name) or real(path))
    folder = sorted((digits_run_copy / "checkpoints").iterdir())[-1]  # the last: nothing to train
    assert _train(digits_run_copy, "--resume", str(folder)) == 0
    files = [p.name for p in folder.iterdir() if p.name != checkpoint.MANIFEST]
    assert sorted(hashed) == sorted(files) and len(files) >= 3


def test_the_epoch_log_holds_every_epoch_and_its_seconds(digits_run):
    """One row per stage-1 epoch; their seconds add up to no more than the stage-1 time of
    results.json (the epochs are inside it) and to most of it (little happens outside them)."""
    run_dir, _ = digits_run
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    stage1 = json.loads((run_dir / "results.json").read_text())["seconds"]["stage1"]
    assert [row["epoch"] for row in rows] == list(range(60))
    assert all(row["epoch_seconds"] > 0 for row in rows)
    assert 0.5 * stage1 < sum(row["epoch_seconds"] for row in rows) <= stage1


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_overwrite_refuses_a_folder_ltzoo_did_not_make_and_deletes_nothing(tmp_path, capsys):
    """A user's project folder holding files with ltzoo's names (no run manifest) is not a run
    folder: --overwrite names it, lists what it holds and leaves every file as it was."""
    project = tmp_path / "proj"
    (project / "checkpoints").mkdir(parents=True)
    (project / "README.md").write_text("my notes")
    (project / "config.yaml").write_text("mine: 1\n")
    (project / "checkpoints" / "mine.pt").write_bytes(b"\x00weights")
    before = _tree(project)
    assert _train(project, "--set", "stage1.epochs=1", "--overwrite") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "proj" in err and "no run manifest" in err
    assert "README.md" in err and "checkpoints" in err and "config.yaml" in err
    assert _tree(project) == before


def test_overwrite_deletes_only_the_names_the_manifest_lists(digits_run_copy):
    """The manifest names ltzoo's files; an entry added by hand that is not one of ltzoo's names
    (here the user's notes) is never deleted, and the new run's manifest still lists ltzoo's."""
    out = digits_run_copy
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["owned"]) == set(OWNED) and "calibration.json" in manifest["owned"]
    manifest["owned"].append("notes.txt")
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "notes.txt").write_text("mine")
    assert _train(out, "--set", "stage1.epochs=1", "--overwrite") == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / MANIFEST).read_text())["owned"] == list(OWNED)


def test_resume_into_an_empty_folder_says_it_starts_fresh(tmp_path, caplog):
    out = tmp_path / "new"
    with caplog.at_level("WARNING", logger="ltzoo.run_folder"):
        assert _train(out, "--set", "stage1.epochs=1", "--resume") == 0
    assert any("holds no run to continue; starting fresh" in r.message for r in caplog.records)
    assert _epochs_logged(out) == [0] and (out / MANIFEST).is_file()


def test_resume_into_a_folder_without_a_recipe(tmp_path, capsys, caplog):
    """Other files only: a fresh start, said, that keeps them; a run's files without its recipe:
    refused, nothing changed."""
    out = tmp_path / "other"
    out.mkdir()
    (out / "train.log").write_text("a worker's log\n")
    with caplog.at_level("WARNING", logger="ltzoo.run_folder"):
        assert _train(out, "--set", "stage1.epochs=1", "--resume") == 0
    assert any("starting fresh (its train.log stay)" in r.message for r in caplog.records)
    assert (out / "train.log").read_text() == "a worker's log\n"
    assert "train.log" not in json.loads((out / MANIFEST).read_text())["owned"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{}")
    assert _train(broken, "--set", "stage1.epochs=1", "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds results.json but no config.yaml" in err
    assert sorted(p.name for p in broken.iterdir()) == ["results.json"]


def test_a_second_writer_is_refused_naming_the_holder_and_changes_nothing(
    digits_run_copy, holder, capsys
):
    out = digits_run_copy
    process = holder(out)
    before = _tree(out)
    assert _train(out, "--set", "stage1.epochs=1", "--overwrite") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "in use by another ltzoo command" in err
    assert f"pid {process.pid}" in err
    assert main(["calibrate", str(out)]) == 2
    assert f"pid {process.pid}" in capsys.readouterr().err
    assert _tree(out) == before
    # the operating system releases the lock of a process that dies, however it dies
    process.kill()
    process.wait()
    assert _train(out, "--set", "stage1.epochs=1", "--overwrite") == 0
    assert _epochs_logged(out) == [0]


def test_one_process_takes_its_own_lock_again_and_releases_it_after_each_command(tmp_path):
    out = tmp_path / "run"
    assert _train(out, "--set", "stage1.epochs=1") == 0
    assert _train(out, "--set", "stage1.epochs=1", "--resume") == 0  # the same process, later
    code = "import sys; from ltzoo.run_folder import hold; hold(sys.argv[1]); print('held')"
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "held"
