"""`ltzoo calibrate`: temperature on validation, prior adjustment, stored in the model, reloaded bitwise."""

import json

import pytest
import timm
import torch

from ltzoo.cli import main
from ltzoo.evaluation import fit_temperature, logit_adjustment_bias
from ltzoo.hub import load_pretrained
from ltzoo.train.assemble import build_datasets
from ltzoo.train.calibrate import calibrate_run, parse_target_prior
from ltzoo.train.config import load_config
from ltzoo.train.features import predict_logits


@pytest.fixture
def run_dir(digits_run_copy):
    return digits_run_copy  # the session's trained run, copied: calibration writes into it


def test_calibration_is_fitted_on_validation_stored_and_reloaded_bitwise(run_dir):
    cfg = load_config(run_dir / "config.yaml")
    raw = load_pretrained(run_dir).eval()
    splits = build_datasets(cfg)
    val_logits, val_targets = predict_logits(raw, splits["val"])
    counts = json.loads((run_dir / "results.json").read_text())["class_counts"]

    report = calibrate_run(run_dir, target_prior="uniform")
    c = report["calibration"]
    assert c["temperature"] == pytest.approx(fit_temperature(val_logits, val_targets), rel=1e-6)
    assert torch.allclose(torch.tensor(c["bias"]), logit_adjustment_bias(counts))

    x = torch.stack([splits["test"][i][0] for i in range(16)])
    reloaded = load_pretrained(run_dir).eval()
    with torch.no_grad():
        expected = raw(x) / torch.tensor(c["temperature"]) + torch.tensor(c["bias"])
        assert torch.allclose(reloaded(x), expected, atol=1e-5)
        via_timm = timm.create_model(f"local-dir:{run_dir}", pretrained=True).eval()
        assert torch.equal(reloaded(x), via_timm(x))  # the calibration travels with the weights
    config = json.loads((run_dir / "config.json").read_text())
    assert config["ltzoo"]["calibration"]["target_prior"] == "uniform"
    assert config["ltzoo"]["deployed_method"] == "iwb" and config["label_names"] == [
        str(i) for i in range(10)
    ]
    test = report["test"]
    assert (
        test["temperature"]["top1"] == test["before"]["top1"]
    )  # a temperature never changes the argmax
    assert set(test) == {"before", "temperature", "temperature+prior"}
    assert json.loads((run_dir / "calibration.json").read_text()) == json.loads(json.dumps(report))


def test_the_saved_model_predicts_exactly_what_the_calibrated_model_does(run_dir):
    calibrate_run(run_dir, target_prior="uniform")
    model = load_pretrained(run_dir).eval()
    x = torch.randn(8, 1, 8, 8)
    with torch.no_grad():
        before = model(x)
    from ltzoo.hub import save_pretrained

    save_pretrained(model, run_dir / "again")
    with torch.no_grad():
        assert torch.equal(load_pretrained(run_dir / "again").eval()(x), before)


def test_calibrating_twice_starts_from_the_raw_logits(run_dir):
    first = calibrate_run(run_dir, target_prior="train")
    second = calibrate_run(run_dir, target_prior="train")
    assert first["calibration"]["temperature"] == second["calibration"]["temperature"]
    assert first["calibration"]["bias"] == [0.0] * 10


def test_target_prior_spellings(tmp_path):
    names = ["a", "b", "c"]
    assert (
        parse_target_prior(None, names) == "uniform"
        and parse_target_prior(["train"], names) == "train"
    )
    assert parse_target_prior(["1", "2", "3"], names) == [1.0, 2.0, 3.0]
    (tmp_path / "list.json").write_text("[5, 3, 1]")
    (tmp_path / "map.json").write_text('{"c": 1, "a": 5, "b": 3}')
    assert parse_target_prior([str(tmp_path / "list.json")], names) == [5.0, 3.0, 1.0]
    assert parse_target_prior(str(tmp_path / "map.json"), names) == [5.0, 3.0, 1.0]
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="classes missing \\['b', 'c'\\]"):
        parse_target_prior([str(tmp_path / "bad.json")], names)
    with pytest.raises(ValueError, match="has 2 values; the run has 3 classes"):
        parse_target_prior(["1", "2"], names)
    with pytest.raises(ValueError, match=">= 0 with a positive sum"):
        parse_target_prior(["1", "-2", "3"], names)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        parse_target_prior(["nowhere.json"], names)


def test_cli_prints_before_and_after(run_dir, capsys):
    assert main(["calibrate", str(run_dir), "--target-prior", *["1"] * 10, "--tau", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "before" in out and "temperature+prior" in out and "ECE" in out and "NLL" in out
    assert main(["calibrate", str(run_dir), "--target-prior", "1", "2"]) == 2
    assert "has 2 values; the run has 10 classes" in capsys.readouterr().err


def test_a_run_without_validation_split_is_refused(run_dir):
    config = (run_dir / "config.yaml").read_text().replace("val_fraction: 0.2", "val_fraction: 0.0")
    (run_dir / "config.yaml").write_text(config)
    with pytest.raises(ValueError, match="no validation split"):
        calibrate_run(run_dir)


def test_a_run_on_the_leftover_validation_split_picks_tau_and_calibrates_on_it(tmp_path):
    from ltzoo.data import create_dataset

    out = tmp_path / "run"
    overrides = [
        f"output_dir={out}",
        "progress=false",
        "data.val_fraction=0",
        "data.val_source=leftover",
        "stage1.epochs=2",
        "stage2.methods=[tau]",
    ]
    assert main(["train", *[a for o in overrides for a in ("--set", o)]]) == 0
    results = json.loads((out / "results.json").read_text())
    validation = results["data"]["validation"]
    plain = create_dataset("digits_lt", imbalance=20)  # the same profile without a validation split
    moved = (plain.class_counts - results["class_counts"]).tolist()
    assert validation["source"] == "leftover" and validation["images"] == 10 * 20
    assert validation["moved_total"] == sum(moved) and all(n >= 0 for n in moved)
    assert results["methods"]["tau"]["selection"]["split"] == "val"
    report = calibrate_run(out, target_prior="train")
    assert report["calibration"]["fitted_on"] == "validation split (200 images)"
