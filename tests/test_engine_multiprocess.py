"""Two CPU processes (gloo, MULTI_CPU) through `accelerate launch -m ltzoo.train`: training
completes, and the evaluation gathered over the processes equals a single-process one exactly."""

import json
import os
import shutil
import subprocess

import pytest

from ltzoo.train.config import ConfigError, load_config
from ltzoo.train.stage1 import per_process_batch_size
from tests.conftest import REPO_ROOT

ACCELERATE = shutil.which("accelerate")

LAUNCH = [
    ACCELERATE,
    "launch",
    "--config_file",
    str(REPO_ROOT / "recipes" / "accelerate" / "2cpu.yaml"),
]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    proc = subprocess.run(
        [
            *LAUNCH,
            "-m",
            "ltzoo.train",
            "--output-dir",
            str(out),
            "--set",
            "progress=false",
            "--set",
            "stage1.epochs=3",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


@pytest.mark.slow
def test_two_process_training_completes(two_process_run):
    out, stdout = two_process_run
    assert "ltzoo: 2 process(es) (MULTI_CPU)" in stdout
    assert stdout.count("Method    All") == 1  # printed by the main process only
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 3
    # 390 training images, global batch 64 -> 32 per process -> ceil(13 / 2) = 7 steps per epoch
    assert log[0]["global_step"] == 7
    # loss and accuracy are over both processes' batches: every training image counted (a rank-0-only
    # log would count at most 7 x 32 = 224), padding of the last uneven batch at most one batch
    assert all(390 <= row["images"] <= 390 + 64 for row in log), [row["images"] for row in log]
    results = json.loads((out / "results.json").read_text())
    assert results["methods"]["lws"]["num_samples"] == 300  # every test image once, none duplicated


def test_two_process_evaluation_equals_one_process(two_process_run):
    """The run's final evaluation ran in both processes, each on a shard of the test set, gathered
    with ``gather_for_metrics``; `ltzoo eval` in one process reproduces it exactly."""
    from accelerate import Accelerator

    from ltzoo.train.reload import evaluate_run

    out, _ = two_process_run
    two = json.loads((out / "results.json").read_text())["methods"]
    one, _ = evaluate_run(out)
    same_path, _ = evaluate_run(out, accelerator=Accelerator(cpu=True))  # one process, prepared
    assert set(one) == set(two) == set(same_path) == {"stage1", "crt", "lws", "tau", "ncm", "iwb"}
    for method in one:
        for key in ("top1", "many", "medium", "few", "per_class_accuracy", "num_samples"):
            assert two[method][key] == one[method][key] == same_path[method][key], (method, key)


def test_global_batch_is_split_over_processes():
    cfg = load_config(overrides=["stage1.batch_size=64", "engine.grad_accumulation=2"])
    assert per_process_batch_size(cfg, 1) == 32 and per_process_batch_size(cfg, 4) == 8
    with pytest.raises(
        ConfigError, match=r"stage1.batch_size=64 \(global\) is not divisible by .* 3 x 2"
    ):
        per_process_batch_size(cfg, 3)


def test_a_command_releases_the_process_group_it_ran_in(tmp_path, capsys):
    """`accelerate launch` opens a Gloo group; a command leaves it destroyed, because a group left to
    the interpreter's exit can abort a process whose work is already saved (SIGABRT)."""
    import torch.distributed as dist

    from ltzoo.cli import main

    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        assert main(["models"]) == 0
        assert "resnet32_iwb" in capsys.readouterr().out
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():  # the other tests of this process run without a group
            dist.destroy_process_group()
