"""`ltzoo predict` and `ltzoo.predict` on the session's trained digits-LT run (``digits_run``): PNG
files of the test split get the predictions the evaluation code computes, calibration included; bad
files are named and skipped."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ltzoo
from ltzoo.cli import main


@pytest.fixture
def run_dir(digits_run):
    return digits_run[0]  # the session's trained run (read-only)


@pytest.fixture(scope="module")
def test_pngs(tmp_path_factory):
    """The 300 digits-LT test images as PNG files, ``<label>/<index>.png`` (lossless, 8x8 grey)."""
    from ltzoo.data import create_dataset

    folder = tmp_path_factory.mktemp("pngs")
    test = create_dataset("digits_lt", split="test", imbalance=20)
    paths = []
    for i, (image, label) in enumerate(zip(test.data, test.targets)):
        path = folder / str(label) / f"{i:03d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(image[..., 0]).save(path)
        paths.append(str(path))
    return folder, paths, test.targets


def eval_probabilities(run):
    """What the evaluation code feeds the deployed model: the test split with the run's eval transform."""
    from ltzoo.hub import load_pretrained
    from ltzoo.train.assemble import build_datasets
    from ltzoo.train.config import load_config
    from ltzoo.train.features import predict_logits

    test = build_datasets(load_config(run / "config.yaml"))["test"]
    logits, targets = predict_logits(load_pretrained(run).eval(), test)
    return logits.softmax(dim=1), targets


def test_stored_data_config_reproduces_eval_preprocessing(run_dir, test_pngs):
    from ltzoo.data import create_dataset
    from ltzoo.data.transforms import create_transform
    from ltzoo.inference import load_for_inference, preprocessing

    cfg = json.loads((run_dir / "config.json").read_text())["pretrained_cfg"]
    assert (
        cfg["input_size"] == [1, 8, 8] and cfg["crop_pct"] == 1.0 and cfg["crop_mode"] == "center"
    )
    transform, config = preprocessing(load_for_inference(run_dir))
    assert config["input_size"] == (1, 8, 8) and tuple(config["mean"]) == (0.3053,)
    test = create_dataset(
        "digits_lt",
        split="test",
        imbalance=20,
        transform=create_transform("digits", train=False, mean=(0.3053,), std=(0.3759,)),
    )
    for i in (0, 17, 299):
        x = transform(Image.open(test_pngs[1][i]).convert("L"))
        assert x.shape == (1, 8, 8) and torch.allclose(x, test[i][0], atol=1e-6)


def test_predictions_equal_evaluation(run_dir, test_pngs):
    folder, paths, labels = test_pngs
    records = ltzoo.predict(run_dir, [folder], topk=10, batch_size=64)
    assert [r["image"] for r in records] == sorted(
        paths
    )  # the folder, walked recursively, in sorted order
    probs, targets = eval_probabilities(run_dir)
    by_path = {r["image"]: r for r in records}
    got = torch.tensor(
        [
            [t["probability"] for t in sorted(by_path[p]["topk"], key=lambda t: t["index"])]
            for p in paths
        ]
    )
    assert torch.allclose(got, probs, atol=1e-6)
    assert [by_path[p]["index"] for p in paths] == probs.argmax(dim=1).tolist()
    results = json.loads((run_dir / "results.json").read_text())
    top1 = 100.0 * np.mean([by_path[p]["label"] == str(y) for p, y in zip(paths, labels)])
    assert top1 == pytest.approx(results["methods"][results["deploy"]]["top1"])


def test_calibration_is_in_the_probabilities(digits_run_copy, test_pngs):
    from safetensors.torch import load_file

    from ltzoo.train.assemble import build_datasets
    from ltzoo.train.calibrate import calibrate_run
    from ltzoo.train.config import load_config
    from ltzoo.train.features import extract_features, head_logits
    from ltzoo.train.reload import load_heads

    run = digits_run_copy
    calibrate_run(run, target_prior="uniform")
    state = load_file(str(run / "model.safetensors"))
    temperature, bias = state["calibration.temperature"], state["calibration.bias"]
    assert float(temperature) != 1.0 and bias.abs().sum() > 0.5
    results = json.loads((run / "results.json").read_text())
    model = ltzoo.load_for_inference(run)
    head = load_heads(run, model.num_features)[results["deploy"]]
    raw = head_logits(
        head, extract_features(model, build_datasets(load_config(run / "config.yaml"))["test"])
    )
    expected = (raw / temperature + bias).softmax(dim=1)
    records = ltzoo.predict(model, test_pngs[1], topk=1)
    assert torch.allclose(
        torch.tensor([r["probability"] for r in records]), expected.max(dim=1).values, atol=1e-6
    )
    assert [r["index"] for r in records] == expected.argmax(dim=1).tolist()
    assert [r["index"] for r in records] != raw.argmax(
        dim=1
    ).tolist()  # the prior shift moved some predictions


def test_cli_text_json_and_unreadable_files(run_dir, test_pngs, tmp_path, capsys):
    folder, paths, labels = test_pngs
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    missing = tmp_path / "missing.png"
    out = tmp_path / "predictions.jsonl"
    assert (
        main(
            [
                "predict",
                str(run_dir),
                paths[0],
                str(bad),
                str(missing),
                paths[1],
                "--topk",
                "3",
                "--json",
                str(out),
                "--batch-size",
                "2",
            ]
        )
        == 1
    )
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert (
        len(err) == 2
        and str(bad) in err[0]
        and "cannot identify image file" in err[0]
        and str(missing) in err[1]
    )
    lines = captured.out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [paths[0], paths[1]]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["image"] for r in records] == [paths[0], paths[1]] and all(
        len(r["topk"]) == 3 for r in records
    )
    probs, _ = eval_probabilities(run_dir)
    assert records[1]["probability"] == pytest.approx(float(probs[1].max()), abs=1e-6)
    assert lines[0] == f"{paths[0]}: " + ", ".join(
        f"{t['label']} {t['probability']:.4f}" for t in records[0]["topk"]
    )
    assert main(["predict", str(run_dir), paths[0], "--json", "-", "--topk", "2"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record == records[0] | {"topk": records[0]["topk"][:2]}


def test_local_dir_and_registered_name_with_checkpoint(run_dir, test_pngs, capsys):
    paths = test_pngs[1][:20]
    reference = ltzoo.predict(run_dir, paths, topk=3)
    assert ltzoo.predict(f"local-dir:{run_dir}", paths, topk=3) == reference
    arch = json.loads((run_dir / "config.json").read_text())["architecture"]
    model = ltzoo.load_for_inference(arch, checkpoint=run_dir / "model.safetensors")
    assert model.num_classes == 10 and model.pretrained_cfg["input_size"][0] == 1
    # a registered name carries its tag's data config: the digits statistics come from the command line
    got = ltzoo.predict(model, paths, topk=3, input_size=(1, 8, 8), mean=(0.3053,), std=(0.3759,))
    assert [r["index"] for r in got] == [r["index"] for r in reference]
    assert np.allclose(
        [r["probability"] for r in got], [r["probability"] for r in reference], atol=1e-6
    )
    assert (
        main(
            [
                "predict",
                arch,
                paths[0],
                "--checkpoint",
                str(run_dir / "model.safetensors"),
                "--input-size",
                "1",
                "8",
                "8",
                "--mean",
                "0.3053",
                "--std",
                "0.3759",
                "--json",
                "-",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["index"] == reference[0]["index"]


def test_hf_hub_offline_cache(run_dir, test_pngs, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    from ltzoo.hub import export_for_hub
    from tests.hub_cache import cache_repo

    cache = tmp_path / "cache"
    cache_repo(
        cache,
        "org/digits",
        export_for_hub(run_dir, tmp_path / "repo", repo_id="org/digits"),
        "c" * 40,
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    paths = test_pngs[1][:5]
    assert main(["predict", "hf-hub:org/digits", *paths, "--json", "-"]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert got == ltzoo.predict(run_dir, paths)


def test_bad_arguments_fail_in_one_line(run_dir, test_pngs, tmp_path, capsys):
    png = test_pngs[1][0]
    pth = tmp_path / "w.pth"  # a pickle is never loaded, even when it is there
    pth.write_bytes(b"not read")
    cases = [
        (
            ["predict", "not_a_model", png],
            "model 'not_a_model' is not allowed: expected a run folder",
        ),
        (
            ["predict", "resnet32_iwb", png, "--checkpoint", str(pth)],
            "is not allowed: ltzoo loads weights from .safetensors files only",
        ),
        (
            ["predict", "resnet32_lws", png, "--checkpoint", str(run_dir / "model.safetensors")],
            "does not fit the model 'resnet32_lws'",
        ),
        (
            ["predict", str(run_dir), png, "--topk", "0"],
            "argument --topk: '0' is not allowed; it must be an integer >= 1",
        ),
        (["predict", str(run_dir), str(tmp_path)], "holds no image files"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    from ltzoo.data import UnreadableImageError

    with pytest.raises(UnreadableImageError, match="missing.png"):
        ltzoo.predict(run_dir, [tmp_path / "missing.png"])


def test_run_records_its_data(run_dir, tmp_path):
    from ltzoo.data.longtail import SUBSET_RULES
    from ltzoo.hub import export_for_hub

    data = json.loads((run_dir / "results.json").read_text())["data"]
    validation = data.pop("validation")
    assert validation["source"] == "fraction" and validation["fraction"] == 0.2
    digest = data.pop("digest")  # ltzoo.data.identity: what eval and calibrate compare
    assert len(digest["sha256"]) == 64 and "sorted" in digest["scheme"]
    assert data == {
        "dataset": "digits_lt",
        "subset_rule": {
            "name": "per_class_permutation",
            "description": SUBSET_RULES["per_class_permutation"],
        },
    }
    card = (export_for_hub(run_dir, tmp_path / "repo") / "README.md").read_text()
    assert (
        "## Training data" in card
        and "- subset rule: `per_class_permutation`: ltzoo's default: class c keeps" in card
    )
