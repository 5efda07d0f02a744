"""``stage2.deploy: best_val``: the deployed head is the method with the highest validation top-1,
a data-chosen value recorded with the split it came from; without a validation split it is
refused before any training."""

import json

import safetensors.torch

from ltzoo.cli import main
from ltzoo.model_card import build_model_card
from ltzoo.train.config import Stage2Config
from ltzoo.train.stage2 import deployed_method


def test_best_val_takes_the_highest_validation_top1_first_on_a_tie():
    cfg = Stage2Config(methods=["crt", "lws", "tau"], deploy="best_val")
    val = {"stage1": {"top1": 40.0}, "crt": {"top1": 51.0}, "lws": {"top1": 52.5},
           "tau": {"top1": 52.5}}  # fmt: skip
    assert deployed_method(cfg, val) == "lws"
    val["stage1"]["top1"] = 60.0
    assert deployed_method(cfg, val) == "stage1"
    assert deployed_method(Stage2Config(methods=["crt", "lws"])) == "lws"
    assert deployed_method(Stage2Config(methods=[])) == "stage1"


def test_a_run_deploys_the_best_method_on_validation(digits_run, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--output-dir", str(out), "--set", f"stage1.from_run={digits_run[0]}",
            "--set", "stage2.methods=[crt,lws,tau,ncm]", "--set", "stage2.deploy=best_val",
            "--set", "progress=false"]  # fmt: skip
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    val = {m: v["top1"] for m, v in results["validation"].items()}
    best = max(val.values())
    assert results["deploy"] in val and val[results["deploy"]] == best
    assert results["deploy_choice"]["split"] == "validation"
    assert results["deploy_choice"]["validation_top1"] == val
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"].endswith("_" + results["deploy"])
    state = safetensors.torch.load_file(str(out / "model.safetensors"))
    card = str(build_model_card(config, state, "org/model", results=results))
    assert f"| {results['deploy']} (deployed, the best top-1 on validation) |" in card


def test_best_val_without_a_validation_split_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--output-dir", str(out), "--set", "data.val_fraction=0",
            "--set", "stage2.deploy=best_val", "--set", "progress=false"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "stage2.deploy=best_val" in err and "no" in err and "val_source=leftover" in err
    assert not (out / "checkpoints").exists() and not (out / "model.safetensors").exists()


def test_an_unknown_deploy_lists_best_val(tmp_path, capsys):
    args = ["train", "--output-dir", str(tmp_path / "run"), "--set", "stage2.methods=[lws]",
            "--set", "stage2.deploy=crt"]  # fmt: skip
    assert main(args) == 2
    assert "allowed: stage1, lws, best_val" in capsys.readouterr().err


def test_a_release_lists_the_deployed_method_among_the_values_chosen_on_validation():
    from ltzoo.train.release_models import _chosen_on_validation

    results = {"methods": {"tau": {"selection": {"split": "val", "tau": 0.6}}}}
    assert _chosen_on_validation(results, "tau") == ["tau", "temperature"]
    results["deploy_choice"] = {"split": "validation"}
    assert _chosen_on_validation(results, "tau") == ["deployed method", "tau", "temperature"]
