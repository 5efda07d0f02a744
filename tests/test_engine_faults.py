"""Faults: SIGKILL/SIGTERM mid-epoch then resume, corrupt checkpoints, non-finite losses."""

import json
import signal
import subprocess
import sys
import time
import warnings

import pytest
import safetensors.torch
import torch

from ltzoo.cli import main
from ltzoo.train.checkpoint import CheckpointManager, seal, verify
from tests import fault_injection

ARGS = [
    "--set",
    "progress=false",
    "--set",
    "stage1.epochs=4",
    "--set",
    "engine.checkpoint_every_steps=3",
    "--set",
    "stage2.methods=[lws,tau]",
    "--set",
    "engine.keep_checkpoints=3",
]


def _train(out, *extra):
    """``ltzoo train`` with ``ARGS`` in this process; returns its exit status."""
    return main(["train", "--output-dir", str(out), *ARGS, *extra])


def _command(out, *extra):
    """The same ``ltzoo train`` for a fresh interpreter (where a signal is what is tested)."""
    return [sys.executable, "-m", "ltzoo.cli", "train", "--output-dir", str(out), *ARGS, *extra]


def _weights(out):
    return safetensors.torch.load_file(str(out / "model.safetensors"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    assert _train(out) == 0
    return out


def _assert_same_run(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ra, rb = (json.loads((d / "results.json").read_text())["methods"] for d in (a, b))
    assert {m: r["per_class_accuracy"] for m, r in ra.items()} == {
        m: r["per_class_accuracy"] for m, r in rb.items()
    }
    assert (a / "log.csv").read_text().splitlines()[1:] != []
    strip = lambda d: [
        ",".join(line.split(",")[:3]) for line in (d / "log.csv").read_text().splitlines()
    ]  # noqa: E731
    assert strip(a) == strip(b)  # per-epoch loss and accuracy identical, no duplicated epoch lines


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(reference, tmp_path, capsys):
    out = tmp_path / "killed"
    # 7 steps/epoch: mid epoch 2
    proc = subprocess.run(
        fault_injection.command(10, "train", "--output-dir", str(out), *ARGS),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not (out / "results.json").exists()
    steps = [
        json.loads((f / "ltzoo_checkpoint.json").read_text())["progress"]["global_step"]
        for f in CheckpointManager(out).folders()
    ]
    assert max(steps) == 9
    capsys.readouterr()
    assert _train(out, "--resume") == 0
    resumed = capsys.readouterr().out
    assert "resumed from" in resumed and "step_000000009" in resumed
    _assert_same_run(reference, out)
    # the run's stage-1 compute counts the killed call's finished epochs too: one row per epoch
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == list(range(len(rows)))
    seconds = json.loads((out / "results.json").read_text())["seconds"]
    assert seconds["stage1_epochs"] == pytest.approx(
        sum(r["epoch_seconds"] for r in rows), abs=0.01
    )


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_resume_completes(reference, tmp_path):
    out = tmp_path / "terminated"
    cmd = _command(out, "--set", "engine.checkpoint_every_steps=0")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "log.csv").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    assert "stopped by SIGTERM; checkpoint saved at" in stderr
    saved = CheckpointManager(out).latest_valid()
    assert saved is not None
    assert _train(out, "--resume", "--set", "engine.checkpoint_every_steps=0") == 0
    _assert_same_run(reference, out)


def test_corrupt_newest_checkpoint_is_skipped_with_a_warning(reference, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    folders = CheckpointManager(out).folders()
    assert len(folders) == 3
    newest = folders[-1]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    assert "truncated" in verify(newest)
    with pytest.warns(
        RuntimeWarning, match=f"skipping checkpoint {newest}.*model.safetensors has 100 bytes"
    ):
        assert CheckpointManager(out).latest_valid() == folders[-2]
    # a checkpoint that never got its manifest (killed while saving) is incomplete
    (folders[-2] / "ltzoo_checkpoint.json").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert CheckpointManager(out).latest_valid() == folders[-3]
    assert any("no ltzoo_checkpoint.json" in str(w.message) for w in caught)


def test_seal_and_verify_detect_a_flipped_byte(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abcdef")
    seal(tmp_path, {"global_step": 1})
    assert verify(tmp_path) is None
    (tmp_path / "a.bin").write_bytes(b"abcdeX")
    assert "does not match its SHA-256" in verify(tmp_path)


class _PoisonedDataset(torch.utils.data.Dataset):
    """digits-LT training split whose image ``bad`` is NaN."""

    def __init__(self, base, bad):
        self.base, self.bad = base, bad
        self.targets, self.class_counts, self.classes = (
            base.targets,
            base.class_counts,
            base.classes,
        )

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return (torch.full_like(x, float("nan")) if i == self.bad else x), y


def _poisoned_run(tmp_path, mode):
    import ltzoo
    from ltzoo.train.assemble import build_datasets
    from ltzoo.train.config import load_config
    from ltzoo.train.run import make_accelerator
    from ltzoo.train.stage1 import train_stage1

    cfg = load_config(
        overrides=[
            f"output_dir={tmp_path}",
            "progress=false",
            "stage1.epochs=2",
            "engine.checkpoint_every_steps=2",
            f"engine.on_nonfinite={mode}",
        ]
    )
    train = _PoisonedDataset(build_datasets(cfg)["train"], bad=0)
    model = ltzoo.create_model("resnet32_ce", num_classes=10, in_chans=1)
    return cfg, train_stage1(cfg, make_accelerator(cfg), model, train)


def test_nonfinite_loss_stops_naming_step_and_last_checkpoint(tmp_path):
    from ltzoo.train.stage1 import NonFiniteLossError

    with pytest.raises(
        NonFiniteLossError,
        match=r"loss is nan at epoch 0, step \d+ \(global step \d+\); last good checkpoint: ",
    ):
        _poisoned_run(tmp_path, "error")
    for folder in CheckpointManager(tmp_path).folders():  # nothing non-finite was ever written
        assert all(
            torch.isfinite(t).all()
            for t in safetensors.torch.load_file(str(folder / "model.safetensors")).values()
        )


def test_nonfinite_loss_skipped_when_asked(tmp_path):
    _, model = _poisoned_run(tmp_path, "skip")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["skipped_steps"] for line in lines] == [1, 2]  # the poisoned batch, once per epoch


def test_resume_from_a_bad_path_is_refused_before_training(tmp_path, capsys):
    assert _train(tmp_path / "x", "--resume", str(tmp_path / "nope")) == 2
    err = capsys.readouterr().err
    assert "engine.resume=" in err and "does not exist" in err
    assert not (tmp_path / "x").exists()


def test_tensorboard_tracker_gets_the_epoch_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    assert (
        _train(
            out,
            "--set",
            "stage1.epochs=2",
            "--set",
            "engine.checkpoint_every_steps=0",
            "--set",
            "engine.log_with=[tensorboard]",
        )
        == 0
    )
    events = EventAccumulator(str(out / "ltzoo"))
    events.Reload()
    losses = [e.value for e in events.Scalars("loss")]
    logged = [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert losses == pytest.approx(logged, rel=1e-6)


@pytest.mark.slow
def test_compiled_fused_run_saves_plain_weights(tmp_path):
    """engine.compile (torch.compile via Accelerate; reduce-overhead, the CUDA-graph mode, which
    PyTorch runs without graphs on the CPU) + engine.fused_optimizer: the run folder's weights carry
    the model's own key names, not the compile wrapper's."""
    out = tmp_path / "compiled"
    assert (
        _train(
            out,
            "--set",
            "stage1.epochs=1",
            "--set",
            "engine.checkpoint_every_steps=0",
            "--set",
            "engine.compile=true",
            "--set",
            "engine.compile_mode=reduce-overhead",
            "--set",
            "engine.fused_optimizer=true",
        )
        == 0
    )
    keys = list(_weights(out))
    assert "backbone.conv1.weight" in keys and not any(k.startswith("_orig_mod.") for k in keys)


def test_step_watch_names_the_first_nonfinite_step_when_it_reads_the_flags_later():
    from accelerate import Accelerator

    from ltzoo.train.stage1 import NonFiniteLossError, _StepWatch

    accelerator = Accelerator(cpu=True)
    watch = _StepWatch(accelerator, skip=False, steps_per_epoch=4)
    watch.start_epoch(4)  # resumed at the start of epoch 1
    for value in (1.0, 2.0, float("nan"), float("inf"), 3.0):  # global steps 5..9
        assert watch.record(torch.tensor(value), sigterm=False) is False  # error mode never skips
    assert [watch.due(step) for step in (15, 16, 32)] == [False, True, True]
    with pytest.raises(
        NonFiniteLossError,
        match=r"loss is nan at epoch 1, step 2 \(global step 7\); last good checkpoint: ck",
    ):
        watch.check(sigterm=False, last_good="ck")

    fine = _StepWatch(accelerator, skip=False, steps_per_epoch=4)
    fine.record(torch.tensor(1.0), sigterm=False)
    fine.check(sigterm=False, last_good=None)
    assert fine.stop is False
    fine.check(sigterm=True, last_good=None)
    assert fine.stop is True

    skip = _StepWatch(accelerator, skip=True, steps_per_epoch=4)
    assert [skip.record(torch.tensor(v), sigterm=False) for v in (1.0, float("nan"), 2.0)] == [
        False,
        True,
        False,
    ]
    assert skip.due(16) is False
    skip.record(torch.tensor(1.0), sigterm=True)
    assert skip.stop is True
