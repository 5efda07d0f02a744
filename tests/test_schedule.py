"""Learning-rate schedules: values against hand computations, recipe checks, stage-1 use."""

import math

import pytest

from ltzoo.train.config import ConfigError, load_config
from ltzoo.train.schedule import Schedule, rates
from tests import fault_injection


def test_cosine_is_half_the_rate_half_way_and_zero_at_the_end():
    r = rates(Schedule("cosine", epochs=4), steps_per_epoch=5, base_lr=0.1)
    assert len(r) == 20 and r[0] == pytest.approx(0.1)
    assert r[10] == pytest.approx(0.05)  # cos(pi/2) = 0
    assert r[5] == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))
    assert r[-1] == pytest.approx(0.05 * (1 + math.cos(math.pi * 19 / 20)))


def test_cosine_after_warm_up_starts_at_the_base_rate():
    r = rates(Schedule("cosine", epochs=10, warmup_epochs=2), steps_per_epoch=5, base_lr=0.2)
    assert r[:10] == pytest.approx([0.2 * i / 10 for i in range(10)])  # linear from 0
    assert r[10] == pytest.approx(0.2)
    assert r[30] == pytest.approx(0.1)  # half-way through the 40 cosine steps


def test_multistep_as_cao_et_al():
    """LDAM-DRW code: warm-up over 5 epochs, x0.01 at epoch 160, x0.01 again at 180."""
    sched = Schedule("multistep", epochs=200, warmup_epochs=5, milestones=[160, 180], gamma=0.01)
    r = rates(sched, steps_per_epoch=3, base_lr=0.1)
    assert r[0] == 0.0 and r[6] == pytest.approx(0.04)
    assert r[15] == r[160 * 3 - 1] == pytest.approx(0.1)
    assert r[160 * 3] == pytest.approx(1e-3) and r[180 * 3 - 1] == pytest.approx(1e-3)
    assert r[180 * 3] == pytest.approx(1e-5) and r[-1] == pytest.approx(1e-5)


def test_a_shortened_run_keeps_the_recipes_rates():
    """--set stage1.epochs=2 on a 200-epoch recipe: the first two epochs' rates, milestones not reached."""
    long = rates(
        Schedule("multistep", epochs=200, warmup_epochs=5, milestones=[160, 180], gamma=0.01),
        3,
        0.1,
    )
    short = rates(
        Schedule("multistep", epochs=2, warmup_epochs=5, milestones=[160, 180], gamma=0.01), 3, 0.1
    )
    assert short == pytest.approx(long[:6])


def test_constant_with_warm_up_from_a_start_rate():
    r = rates(
        Schedule("constant", epochs=3, warmup_epochs=1, warmup_start_lr=0.01),
        steps_per_epoch=4,
        base_lr=0.1,
    )
    assert r == pytest.approx([0.01, 0.0325, 0.055, 0.0775] + [0.1] * 8)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["stage1.schedule=step"],
            r"stage1.schedule='step' is not allowed: input should be 'cosine', 'multistep' or 'constant'",
        ),
        (
            ["stage1.schedule=multistep"],
            r"stage1.milestones=\[\] is not allowed with schedule=multistep",
        ),
        (
            ["stage1.schedule=multistep", "stage1.milestones=[50, 20]"],
            r"milestones=\[50.0, 20.0\] is not allowed",
        ),
        (
            ["stage1.schedule=multistep", "stage1.milestones=[5, 10]", "stage1.warmup_epochs=5"],
            r"after the warm-up \(5\)",
        ),
        (["stage1.milestones=[10]"], r"milestones=\[10.0\] is not allowed with schedule='cosine'"),
        (["stage1.warmup_epochs=-1"], r"stage1.warmup_epochs=-1 is not allowed"),
        (["stage1.nesterov=true", "stage1.momentum=0"], r"stage1.nesterov=True needs momentum > 0"),
        (
            ["stage2.schedule=multistep", "stage2.milestones=[]"],
            r"stage 2 method 'crt'.*milestones=\[\] is not allowed",
        ),
    ],
)
def test_bad_schedules_are_refused_naming_the_key(overrides, message):
    from ltzoo.train.stage2 import check_stage2_config

    with pytest.raises(ConfigError, match=message):
        check_stage2_config(load_config(overrides=overrides).stage2)


def test_recipe_schedule_reaches_stage1_optimizer(tmp_path):
    """A multistep recipe's rates, read back from the epoch log, are the schedule's."""
    import csv

    from ltzoo.train.run import run

    cfg = load_config(
        overrides=[
            f"output_dir={tmp_path}",
            "progress=false",
            "stage1.epochs=4",
            "stage1.lr=0.1",
            "stage1.schedule=multistep",
            "stage1.milestones=[2, 3]",
            "stage1.gamma=0.1",
            "stage1.nesterov=true",
            "stage2.methods=[]",
        ]
    )
    run(cfg)
    with open(tmp_path / "log.csv") as f:
        logged = [float(row["lr"]) for row in csv.DictReader(f)]
    assert logged == pytest.approx([0.1, 0.1, 0.01, 0.001])  # the rate of each epoch's last step


def test_multistep_run_killed_after_a_milestone_resumes_to_the_same_weights(tmp_path):
    """SIGKILL after the first decay, resume: the replayed scheduler gives the same rates and
    weights as a run never interrupted (a resume that restarted the schedule would train the
    rest of the run at the undecayed rate)."""
    import csv
    import signal
    import subprocess

    import safetensors.torch
    import torch

    from ltzoo.train.run import run

    overrides = [
        "progress=false",
        "stage1.epochs=3",
        "stage1.lr=0.1",
        "stage1.schedule=multistep",
        "stage1.milestones=[1, 2]",
        "stage1.gamma=0.1",
        "engine.checkpoint_every_steps=3",
        "stage2.methods=[]",
    ]
    killed = tmp_path / "killed"
    args = [a for o in overrides for a in ("--set", o)]
    # 7 steps/epoch: killed in epoch 1, step 3
    proc = subprocess.run(
        fault_injection.command(10, "train", "--output-dir", str(killed), *args),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run(load_config(overrides=[f"output_dir={killed}", "engine.resume=auto", *overrides]))
    whole = tmp_path / "whole"
    run(load_config(overrides=[f"output_dir={whole}", *overrides]))

    def rates(folder):
        with open(folder / "log.csv") as f:
            return [float(row["lr"]) for row in csv.DictReader(f)]

    assert rates(killed) == rates(whole) == pytest.approx([0.1, 0.01, 0.001])
    a, b = (safetensors.torch.load_file(str(d / "model.safetensors")) for d in (killed, whole))
    assert all(torch.equal(a[k], b[k]) for k in a)
