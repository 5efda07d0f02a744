"""`data.loader: device` (uint8 set on the device, augmentation there) trains as well as the
PIL/DataLoader path and resumes exactly."""

import json
import signal
import subprocess

import pytest
import safetensors.torch
import torch

from ltzoo.cli import main
from tests import fault_injection


def _args(out, *extra):
    return ["train", "--output-dir", str(out), "--set", "progress=false", *extra]


def _train(out, *extra):
    """``ltzoo train`` in this process (stage 2: LWS only)."""
    assert main(_args(out, "--set", "stage2.methods=[lws]", *extra)) == 0


def _train_killed(out, *extra, step):
    """``ltzoo train`` in a fresh interpreter that SIGKILLs itself after global step ``step``."""
    return subprocess.run(
        fault_injection.command(step, *_args(out, "--set", "stage2.methods=[lws]", *extra)),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_device_path_matches_dataloader_path_accuracy(tmp_path):
    """Same recipe, both loaders, seeds 0 and 1: test top-1 of stage 1 within noise of each other.

    Stage 1 only, 12 epochs, on the thinnest CIFAR ResNet (ResNet-20: the loader, not the network,
    is compared). A seed fixes the initial weights and the sampler's order on both paths; only the
    augmentation draws differ. Over seeds 0-5 the two paths scored 81.0 / 85.7 / 87.0 / 81.7 / 85.0
    / 80.0 (DataLoader) and 79.7 / 83.3 / 89.3 / 81.0 / 87.0 / 81.7 (device): per-seed differences
    with a standard deviation of about 2 points, so the mean difference over two seeds has one of
    about 1.4, and 4 points is ~3 of them. A device path that feeds other pixels fails by far more:
    normalising with the wrong scale gave 10 %, a 2-pixel instead of 1-pixel crop 30-38 %."""
    top1 = {"torch": [], "device": []}
    for loader in top1:
        for seed in (0, 1):
            out = tmp_path / f"{loader}{seed}"
            _train(
                out,
                *("--set", f"data.loader={loader}", "--set", f"seed={seed}"),
                *("--set", "stage1.epochs=12", "--set", "stage2.methods=[]"),
                *("--set", "model.name=lt_classifier", "--set", "model.backbone=resnet20"),
            )
            results = json.loads((out / "results.json").read_text())
            top1[loader].append(results["methods"]["stage1"]["top1"])
    assert min(top1["torch"] + top1["device"]) > 70, top1
    assert abs(sum(top1["torch"]) / 2 - sum(top1["device"]) / 2) < 4, top1


@pytest.mark.slow
def test_device_path_resumes_exactly_after_sigkill(tmp_path, capsys):
    args = [
        "--set",
        "data.loader=device",
        "--set",
        "stage1.epochs=3",
        "--set",
        "engine.checkpoint_every_steps=4",
    ]
    _train(tmp_path / "a", *args)
    killed = _train_killed(tmp_path / "b", *args, step=10)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    capsys.readouterr()
    _train(tmp_path / "b", *args, "--resume")
    assert "step_000000008" in capsys.readouterr().out
    a = safetensors.torch.load_file(str(tmp_path / "a" / "model.safetensors"))
    b = safetensors.torch.load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_device_path_refuses_file_datasets(tmp_path, capsys):
    from PIL import Image

    for split in ("train", "test"):
        for label in ("cat", "dog"):
            (tmp_path / "tree" / split / label).mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(
                    tmp_path / "tree" / split / label / f"{i}.png"
                )
    argv = _args(
        tmp_path / "x",
        *("--set", "data.loader=device", "--set", "data.dataset=folder_lt"),
        *("--set", f"data.root={tmp_path / 'tree'}", "--set", "data.profile=none"),
        *("--set", "data.transform=cifar"),
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "data.loader=device needs an in-memory dataset (digits_lt" in err
    assert "folder_lt is read from files: use data.loader=torch" in err


def test_jpeg_loader_trains_a_folder_dataset(tmp_path):
    """data.loader=jpeg: a folder of JPEGs decoded in batches (on the CPU here, nvjpeg on CUDA),
    at 32x32 (the imagenet preset's img_size option) to keep the network's work small."""
    from PIL import Image

    rng = __import__("numpy").random.default_rng(0)
    for split, n in (("train", 8), ("test", 3)):
        for label, colour in (("red", 0), ("green", 1)):
            (tmp_path / "tree" / split / label).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 60, (40, 48, 3), dtype="uint8")
                pixels[..., colour] += 180
                Image.fromarray(pixels).save(
                    tmp_path / "tree" / split / label / f"{i}.jpg", quality=90
                )
    out = tmp_path / "run"
    _train(
        out,
        *("--set", "data.loader=jpeg", "--set", "data.dataset=folder_lt"),
        *("--set", f"data.root={tmp_path / 'tree'}", "--set", "data.profile=none"),
        *("--set", "data.transform=imagenet", "--set", "data.transform_kwargs={img_size: 32}"),
        *("--set", "data.val_fraction=0.0", "--set", "stage1.epochs=2"),
        *("--set", "stage1.batch_size=8", "--set", "stage2.methods=[ncm]"),
    )
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [line["global_step"] for line in log] == [2, 4]  # 16 images, global batch 8
    results = json.loads((out / "results.json").read_text())
    assert results["methods"]["ncm"]["num_samples"] == 6
    config = json.loads((out / "config.json").read_text())
    assert config["pretrained_cfg"]["input_size"] == [3, 32, 32]


def test_transform_kwargs_reach_both_loaders_and_wrong_ones_are_named(tmp_path):
    from ltzoo.train.assemble import build_datasets
    from ltzoo.train.config import ConfigError, load_config
    from ltzoo.train.run import check_names
    from ltzoo.train.stage1 import build_device_loader

    class OneProcess:
        num_processes, process_index, device = 1, 0, torch.device("cpu")

    cfg = load_config(
        overrides=[
            f"output_dir={tmp_path}",
            "data.loader=device",
            "data.transform_kwargs={pad_crop: 1}",
        ]
    )
    check_names(cfg)
    splits = build_datasets(cfg)
    assert build_device_loader(cfg, splits["train"], OneProcess()).pad == 1
    # the DataLoader path: the digits preset's random crop with 1-pixel padding moves the image
    image = splits["train"].data[0]
    crops = {tuple(splits["train"][0][0].flatten().tolist()) for _ in range(30)}
    assert len(crops) > 1 and image.shape == (8, 8, 1)
    assert (
        len({tuple(splits["train_plain"][0][0].flatten().tolist()) for _ in range(5)}) == 1
    )  # eval: no crop
    bad = load_config(
        overrides=[f"output_dir={tmp_path}", "data.transform_kwargs={autoaugment: true}"]
    )
    with pytest.raises(
        ConfigError
    ) as error:  # autoaugment is an option of the cifar preset, not of digits
        check_names(bad)
    assert "data.transform_kwargs={'autoaugment': True} is not allowed" in str(error.value)
    assert "its options are: pad_crop" in str(error.value)
