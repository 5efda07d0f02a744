"""ltzoo tune end to end on the digits main job (2 + 1 epochs): trials, pruning, SQLite study,
resume, two worker processes on one database, a killed worker's trial retried from its checkpoint."""

import json
import os
import subprocess
import sys
import time

import optuna  # noqa: E402
import pytest

from ltzoo.train.config import load_config  # noqa: E402
from ltzoo.tuning import Objective, tune  # noqa: E402
from tests import fault_injection

FAST = ["stage1.epochs=2", "stage2.epochs=1", "stage2.methods=[lws]"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _cli(*args, kill_at=None):
    """``ltzoo tune *args`` in a fresh interpreter; SIGKILLed after stage-1 step ``kill_at`` if given."""
    if kill_at is None:
        argv = [sys.executable, "-m", "ltzoo.cli", "tune", *args]
    else:
        argv = fault_injection.command(kill_at, "tune", *args)
    return subprocess.Popen(
        argv,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_tune_prunes_records_resumes_and_writes_best(tmp_path):
    out, url = tmp_path / "study", f"sqlite:///{tmp_path / 'study' / 'study.db'}"
    (tmp_path / "study").mkdir()
    # a good learning rate, then one that cannot learn: the second is pruned after its first epoch
    seeded = optuna.create_study(storage=url, study_name="lr", direction="maximize")
    seeded.enqueue_trial({"stage1.lr": 0.05})
    seeded.enqueue_trial({"stage1.lr": 1e-5})
    kwargs = dict(
        params=["stage1.lr=loguniform:1e-5:0.1"],
        overrides=FAST,
        objective="0.5*mean_per_class+0.5*overall",
        method="lws",
        storage=url,
        study_name="lr",
        output_dir=str(out),
        prune_on="top1",
        prune_startup=1,
        prune_warmup=0,
        seed=0,
    )
    best = tune(trials=2, **kwargs)

    study = optuna.load_study(study_name="lr", storage=url)
    first, second = study.trials
    assert first.state.name == "COMPLETE" and second.state.name == "PRUNED"
    assert second.intermediate_values[0] < first.intermediate_values[0]
    # the objective is the VALIDATION score of the chosen method, read back from the run folder
    results = json.loads((out / "trial_0000" / "results.json").read_text())
    assert first.value == pytest.approx(
        Objective.parse("0.5*mpc+0.5*top1").score(results["validation"]["lws"])
    )
    assert first.value != pytest.approx(
        Objective.parse("0.5*mpc+0.5*top1").score(results["methods"]["lws"])
    )
    assert first.user_attrs["run_dir"] == str(out / "trial_0000")
    assert (
        not (out / "trial_0000" / "checkpoints").exists()
        and not (out / "trial_0001" / "results.json").exists()
    )

    # resume: the same command with a larger target runs only the missing trial
    best = tune(trials=3, **kwargs)
    study = optuna.load_study(study_name="lr", storage=url)
    assert [t.number for t in study.trials] == [0, 1, 2] and (
        out / "trial_0002" / "config.yaml"
    ).is_file()

    # best.yaml is a recipe `ltzoo train --config` accepts, holding the best value
    cfg = load_config(best["best_recipe"])
    assert cfg.stage1.lr == study.best_params["stage1.lr"] == best["params"]["stage1.lr"]
    assert (
        cfg.stage1.epochs == 2
        and cfg.stage2.methods == ["lws"]
        and cfg.output_dir == str(out / "best")
    )
    assert json.loads((out / "best.json").read_text())["trial"] == study.best_trial.number

    # a worker with another objective may not join the study
    with pytest.raises(ValueError, match="study 'lr' was started with objective="):
        tune(trials=3, **dict(kwargs, objective="few"))


def _wait_for_a_trial(url, name, worker, timeout=120):
    """Until the worker process has started a trial of study ``name`` (so both workers really share it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        try:
            if optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False):
                return
        except Exception:  # noqa: BLE001 - the database or the study does not exist yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"the worker started no trial: {worker.communicate()[1][-3000:]}")


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    params = [
        "stage1.weight_decay=loguniform:1e-5:1e-1",
        "stage2.method_options.lws.lr=loguniform:1e-3:0.5",
    ]
    overrides = FAST + ["stage1.epochs=1"]
    common = dict(
        objective="few",
        method="lws",
        trials=4,
        storage=url,
        study_name="shared",
        output_dir=str(tmp_path),
        pruner="none",
    )
    # worker 1: a separate process on the command line; worker 2: this process, through the API
    args = [
        *sum((["--param", p] for p in params), []),
        *sum((["--set", s] for s in overrides), []),
        *sum(([f"--{k.replace('_', '-')}", str(v)] for k, v in common.items()), []),
    ]
    child = _cli(*args)
    _wait_for_a_trial(url, "shared", child)
    tune(params=params, overrides=overrides, **common)
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode == 0, stderr[-3000:]

    study = optuna.load_study(study_name="shared", storage=url)
    # exactly the study's total between them; a trial both asked for at one moment is refused
    trials = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(trials) == 4
    assert all(t.user_attrs.get("surplus") for t in study.trials if t.state.name != "COMPLETE")
    assert len({t.number for t in trials}) == len(trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(
        trials
    )  # distinct suggestions
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers ran trials
    for t in trials:
        assert (tmp_path / f"trial_{t.number:04d}" / "results.json").is_file()
    assert (
        load_config(tmp_path / "best.yaml").stage1.weight_decay
        == study.best_params["stage1.weight_decay"]
    )


@pytest.mark.slow
def test_a_killed_workers_trial_is_retried_from_its_checkpoint(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    param = "stage1.weight_decay=loguniform:1e-5:1e-1"
    # 7 steps per epoch: the worker is SIGKILLed in epoch 2, after epoch 1's checkpoint
    crashed = _cli(
        "--param",
        param,
        *sum((["--set", s] for s in FAST), []),
        "--trials",
        "1",
        "--storage",
        url,
        "--study-name",
        "crash",
        "--output-dir",
        str(tmp_path),
        "--heartbeat",
        "1",
        kill_at=10,
    )
    crashed.communicate(timeout=300)
    assert crashed.returncode == -9
    study = optuna.load_study(study_name="crash", storage=url)
    assert [t.state.name for t in study.trials] == ["RUNNING"]
    time.sleep(
        4.0
    )  # no heartbeat for > 2 x 1 s (the grace period): stale, with margin for a loaded machine
    tune(
        params=[param],
        overrides=FAST,
        trials=1,
        storage=url,
        study_name="crash",
        output_dir=str(tmp_path),
        heartbeat=1,
    )
    study = optuna.load_study(study_name="crash", storage=url)
    failed, retried = study.trials
    assert failed.state.name == "FAIL" and retried.state.name == "COMPLETE"
    assert retried.params == failed.params and retried.user_attrs["run_dir"] == str(
        tmp_path / "trial_0000"
    )
    assert "resumed from" in (tmp_path / "trial_0000" / "train.log").read_text()
    assert not (tmp_path / "trial_0001").exists()


def test_a_worker_with_nothing_to_start_waits_for_the_running_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    kwargs = dict(
        params=["stage1.lr=loguniform:1e-3:0.1"],
        overrides=FAST,
        trials=1,
        storage=url,
        study_name="busy",
        output_dir=str(tmp_path),
    )
    # another worker's trial is running and fills the study's one trial
    other = optuna.create_study(storage=url, study_name="busy", direction="maximize").ask()
    # without heartbeats a dead worker's trial could never be noticed: no waiting
    assert tune(heartbeat=None, **kwargs)["value"] is None
    # with heartbeats: waits for it (here until --timeout), and starts no trial of its own
    start = time.monotonic()
    assert tune(heartbeat=1, timeout=2.0, **kwargs)["value"] is None
    assert time.monotonic() - start >= 2.0
    study = optuna.load_study(study_name="busy", storage=url)
    assert [t.state.name for t in study.trials] == ["RUNNING"]
    assert not list(tmp_path.glob("trial_*"))
    # once it finishes, the waiting worker reports it as the best
    study.tell(other, 42.5)
    best = tune(heartbeat=1, **kwargs)
    assert (best["trial"], best["value"]) == (0, 42.5) and len(study.trials) == 1
