"""Stage-1 batch mixing (mixup, CutMix through timm's ``Mixup``): what a mixed batch and its soft
targets are, the losses that take them, the recipe checks, and a mixed run that resumes exactly."""

import math
import signal
import subprocess

import numpy as np
import pytest
import safetensors.torch
import torch
import torch.nn.functional as F

from ltzoo.cli import main
from ltzoo.data.mixing import BatchMixer
from ltzoo.losses import create_loss
from ltzoo.run_folder import trajectory_settings
from ltzoo.train.config import RunConfig, to_dict
from tests import fault_injection


def _batch(n=6, classes=4):
    images = torch.arange(n * 3 * 2 * 2, dtype=torch.float32).view(n, 3, 2, 2)
    targets = torch.arange(n) % classes
    return images, targets


def test_mixup_batch_is_lam_times_image_plus_the_flipped_one_and_targets_say_so():
    images, targets = _batch()
    mixer = BatchMixer(4, mixup=1.0, seed=3)
    mixed, soft = mixer(images.clone(), targets, step=11)
    lam = soft[0, targets[0]].item()  # class 0 / class 1 pair (rows 0 and 5): no overlap
    assert 0 < lam < 1
    expected = lam * images + (1 - lam) * images.flip(0)
    assert torch.allclose(mixed, expected, atol=1e-5)
    for i in range(len(images)):
        j = len(images) - 1 - i
        hand = lam * F.one_hot(targets[i], 4) + (1 - lam) * F.one_hot(targets[j], 4)
        assert torch.allclose(soft[i], hand.float(), atol=1e-6)
    assert torch.allclose(soft.sum(1), torch.ones(len(images)))


def test_cutmix_pastes_a_box_and_the_targets_weigh_its_area():
    images, targets = _batch(n=4)
    images = torch.stack([torch.full((3, 8, 8), float(i)) for i in range(4)])
    mixer = BatchMixer(4, cutmix=1.0, seed=0)
    mixed, soft = mixer(images.clone(), targets, step=2)
    # image 0 is all 0 with a box of image 3 (all 3): the box's share of the pixels is 1 - lam
    pasted = (mixed[0, 0] == 3).float().mean().item()
    assert 0 < pasted < 1
    assert soft[0, targets[3]].item() == pytest.approx(pasted, abs=1e-6)
    assert soft[0, targets[0]].item() == pytest.approx(1 - pasted, abs=1e-6)


def test_odd_batch_keeps_its_last_image_and_label():
    images, targets = _batch(n=5)
    mixed, soft = BatchMixer(4, mixup=1.0)(images.clone(), targets, step=0)
    assert torch.equal(mixed[4], images[4])
    assert torch.equal(soft[4], F.one_hot(targets[4], 4).float())
    assert not torch.equal(mixed[0], images[0])


def test_mixing_is_a_function_of_seed_and_step_and_leaves_numpy_alone():
    images, targets = _batch()
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = BatchMixer(4, mixup=0.4, seed=1)(images.clone(), targets, step=5)[1]
    b = BatchMixer(4, mixup=0.4, seed=1)(images.clone(), targets, step=5)[1]
    c = BatchMixer(4, mixup=0.4, seed=1)(images.clone(), targets, step=6)[1]
    d = BatchMixer(4, mixup=0.4, seed=2)(images.clone(), targets, step=5)[1]
    assert torch.equal(a, b)
    assert not torch.equal(a, c) and not torch.equal(a, d)
    assert np.array_equal(np.random.get_state()[1], before)


def test_mixing_stops_at_the_off_epoch():
    images, targets = _batch()
    mixer = BatchMixer(4, mixup=1.0, off_epoch=2)
    mixer.set_epoch(1)
    assert not torch.equal(mixer(images.clone(), targets, step=0)[0], images)
    mixer.set_epoch(2)
    mixed, soft = mixer(images.clone(), targets, step=0)
    assert torch.equal(mixed, images)
    assert torch.equal(soft, F.one_hot(targets, 4).float())


@pytest.mark.parametrize("name", ["ce", "balanced_softmax", "logit_adjusted"])
def test_soft_target_loss_is_the_lam_weighted_sum_of_the_two_hard_losses(name):
    torch.manual_seed(0)
    counts = [50, 20, 5]
    loss = create_loss(name, class_counts=counts)
    assert loss.accepts_soft_targets
    logits = torch.randn(4, 3)
    ya, yb, lam = torch.tensor([0, 1, 2, 0]), torch.tensor([2, 2, 1, 1]), 0.3
    soft = lam * F.one_hot(ya, 3).float() + (1 - lam) * F.one_hot(yb, 3).float()
    expected = lam * loss(logits, ya) + (1 - lam) * loss(logits, yb)
    assert loss(logits, soft).item() == pytest.approx(expected.item(), rel=1e-6)
    if name == "balanced_softmax":  # by hand: CE on z + log n
        shifted = logits + torch.log(torch.tensor(counts, dtype=torch.float32))
        hand = -(soft * torch.log_softmax(shifted, 1)).sum(1).mean()
        assert loss(logits, soft).item() == pytest.approx(hand.item(), rel=1e-6)


def test_a_loss_without_soft_targets_refuses_them_and_mixing_with_it_is_refused(tmp_path, capsys):
    loss = create_loss("ldam", class_counts=[50, 20, 5])
    assert not loss.accepts_soft_targets
    out = tmp_path / "run"
    code = main(["train", "--output-dir", str(out), "--set", "stage1.mixup=0.2",
                 "--set", "stage1.loss=ldam"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "stage1.loss='ldam'" in err and "stage1.mixup=0.2" in err
    assert "balanced_softmax" in err and "logit_adjusted" in err
    assert not out.exists()


def test_mixup_off_epoch_past_the_epochs_is_refused():
    with pytest.raises(Exception, match=r"mixup_off_epoch=5 is past epochs=3"):
        RunConfig.model_validate({"stage1": {"epochs": 3, "mixup": 0.2, "mixup_off_epoch": 5}})


def test_mixing_settings_join_the_trajectory_only_when_mixing_is_on():
    plain = trajectory_settings(to_dict(RunConfig()))
    assert not any(k.startswith("stage1.mix") or k == "stage1.cutmix" for k in plain)
    mixed = trajectory_settings(to_dict(RunConfig.model_validate({"stage1": {"cutmix": 1.0}})))
    assert mixed["stage1.cutmix"] == 1.0 and mixed["stage1.mixup_mode"] == "batch"
    assert {k: v for k, v in mixed.items() if k in plain} == plain


def _args(out, *extra):
    return ["train", "--output-dir", str(out), "--set", "progress=false",
            "--set", "stage2.methods=[]", "--set", "data.loader=device",
            "--set", "stage1.epochs=3", "--set", "engine.checkpoint_every_steps=4", *extra]  # fmt: skip


@pytest.mark.slow
def test_a_mixed_run_trains_otherwise_and_resumes_exactly_after_sigkill(tmp_path, capsys):
    mix = ("--set", "stage1.mixup=0.4", "--set", "stage1.cutmix=1.0")
    assert main(_args(tmp_path / "plain")) == 0
    capsys.readouterr()
    assert main(_args(tmp_path / "a", *mix)) == 0
    assert "mixing: mixup 0.4 cutmix 1 prob 1 switch 0.5 mode batch" in capsys.readouterr().out
    killed = subprocess.run(
        fault_injection.command(10, *_args(tmp_path / "b", *mix)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    capsys.readouterr()
    assert main(_args(tmp_path / "b", *mix, "--resume")) == 0
    assert "step_000000008" in capsys.readouterr().out

    def weights(name):
        return safetensors.torch.load_file(str(tmp_path / name / "model.safetensors"))

    plain, a, b = weights("plain"), weights("a"), weights("b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], plain[k]) for k in a)
    assert all(math.isfinite(v.float().sum().item()) for v in a.values())
