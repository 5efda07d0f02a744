"""The main job end to end: `ltzoo train` on the embedded digits-LT data (the session's shared run,
``digits_run`` in conftest.py), then `ltzoo eval`."""

import json

import pytest

from ltzoo.cli import main


def test_run_folder_and_printed_table(digits_run):
    out, stdout = digits_run
    for name in (
        "model.safetensors",
        "config.json",
        "results.json",
        "config.yaml",
        "heads/heads.json",
        "heads/lws.safetensors",
    ):
        assert (out / name).is_file(), name
    deployable = [p for p in out.rglob("*") if p.is_file() and "checkpoints" not in p.parts]
    assert not [
        p for p in deployable if p.suffix in (".pt", ".pth", ".bin", ".pkl")
    ]  # weights: safetensors only
    for row in ("stage1", "crt", "lws", "tau", "ncm", "iwb"):
        assert any(line.startswith(row + " ") for line in stdout.splitlines()), row
    assert "Many" in stdout and "Few" in stdout and "Class" in stdout  # summary + per-class table
    results = json.loads((out / "results.json").read_text())
    assert (
        results["protocol"] == {"model": "last epoch", "tta": "none"} and "tta" not in results
    )  # eval.tta: none
    assert "test-time augmentation" not in stdout


def test_stage2_raises_few_accuracy(digits_run):
    results = json.loads((digits_run[0] / "results.json").read_text())
    methods = results["methods"]
    assert results["num_test"] == 300 and len(results["class_counts"]) == 10
    counts = results["class_counts"]
    assert counts == sorted(counts, reverse=True) and counts[0] / counts[-1] > 15  # long-tailed
    # the decoupled classifiers correct stage 1's bias towards the head classes
    assert methods["lws"]["few"] > methods["stage1"]["few"]
    assert (
        max(methods[m]["few"] for m in ("crt", "lws", "tau", "iwb"))
        > methods["stage1"]["few"] + 2.0
    )
    assert methods["stage1"]["top1"] > 80.0  # the encoder really learned the digits


def test_eval_reproduces_the_numbers(digits_run, capsys):
    out, stdout = digits_run
    assert main(["eval", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "results.json").read_text())["methods"]

    def summary(text):
        return text[text.index("Method    All") : text.index("#  Class")].strip()

    assert summary(printed) == summary(stdout)
    from ltzoo.train.reload import evaluate_run

    again, _ = evaluate_run(out)
    for method, metrics in saved.items():
        assert again[method]["per_class_accuracy"] == metrics["per_class_accuracy"], method


def test_deployed_model_loads_with_timm(digits_run):
    import timm
    import torch

    import ltzoo
    from ltzoo.data import create_dataset

    out = digits_run[0]
    model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    assert isinstance(model, ltzoo.models.LongTailClassifier) and model.num_classes == 10
    assert model.pretrained_cfg["input_size"] == (1, 8, 8)
    saved = json.loads((out / "results.json").read_text())
    test = create_dataset("digits_lt", split="test", imbalance=20)
    x = torch.stack([test[i][0] for i in range(4)])
    assert model(x).shape == (4, 10)
    assert (
        json.loads((out / "config.json").read_text())["ltzoo"]["deployed_method"] == saved["deploy"]
    )


def test_eval_missing_files_are_named(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "config.yaml").write_text("{}")
    assert main(["eval", str(tmp_path)]) == 2
    assert (
        "is missing config.json, model.safetensors, results.json, heads/heads.json"
        in capsys.readouterr().err
    )


def test_checkpoint_num_classes_mismatch_names_both(digits_run):
    from ltzoo.hub import load_pretrained

    with pytest.raises(ValueError, match="num_classes=5 does not match .* which has 10 classes"):
        load_pretrained(digits_run[0], num_classes=5)
