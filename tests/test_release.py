"""The release store, ``ltzoo release add|build|push|list``, and released tags loaded through a Hub
stand-in on the loopback interface (huggingface_hub's own client against ``FakeHub``)."""

from __future__ import annotations

import json

import pytest
import timm
import torch

import ltzoo
from ltzoo.cli import main
from ltzoo.errors import InputError
from ltzoo.hub import save_pretrained
from ltzoo.models.published import TABLE_PATH, published, sha256_file
from ltzoo.models.zoo import RECIPE_TAGS, known_tags
from ltzoo.release import ReleaseStore, build, default_store, push
from tests import test_hub_push
from tests.conftest import CIFAR100
from tests.test_hub_push import use_hub

hub = test_hub_push.hub  # the loopback Hub stand-in fixture


def _info(top1=50.0):
    scores = {
        "split": "test",
        "before": {"top1": top1, "ece": 9.0, "nll": 2.0},
        "after": {"top1": top1, "ece": 3.0, "nll": 1.8},
    }
    calibration = {"temperature": 1.5, "fitted_on": "validation split", "scores": scores}
    return {
        "description": "A test model.",
        "dataset": "cifar100_lt",
        "dataset_title": "CIFAR-100-LT",
        "metrics": {
            "top1": top1,
            "many": 70.0,
            "medium": 50.0,
            "few": 20.0,
            "ece": 9.0,
            "nll": 2.0,
        },
        "calibration": calibration,
        "validation": {"images": 2000, "per_class": 20, "moved_from_training": {"apple": 20}},
        "chosen_on_validation": ["temperature"],
        "protocol": "last epoch, no test-time augmentation",
        "record": None,
        "recipe": "recipes/cifar100_lt/ce.yaml",
        "command": "ltzoo train",
        "machine": "test",
    }


def _model_and_config(tmp_path, name, head_seed):
    torch.manual_seed(0)
    model = ltzoo.create_model(name, num_classes=100).eval()
    torch.manual_seed(head_seed)
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_()
    save_pretrained(model, tmp_path / name, label_names=[str(i) for i in range(100)])
    config = json.loads((tmp_path / name / "config.json").read_text())
    return model, config


def test_store_keeps_each_encoder_once_and_refuses_a_changed_file(tmp_path):
    store = ReleaseStore(tmp_path / "weights")
    ce, ce_config = _model_and_config(tmp_path, "resnet32_ce", 1)
    lws, lws_config = _model_and_config(tmp_path, "resnet32_lws", 2)
    store.add("resnet32_ce.cifar100_lt_r100", ce.state_dict(), ce_config, _info(40.0))
    store.add("resnet32_lws.cifar100_lt_r100", lws.state_dict(), lws_config, _info(42.0))
    store.save()
    files = sorted(store.index["files"])
    assert files == [
        "encoders/resnet32.cifar100_lt_r100.safetensors",
        "heads/resnet32_ce.cifar100_lt_r100.safetensors",
        "heads/resnet32_lws.cifar100_lt_r100.safetensors",
    ]
    # the encoder file holds only backbone tensors, each head only head / calibration tensors
    reopened = ReleaseStore(tmp_path / "weights")
    encoder = reopened.tensors(files[0])
    assert encoder and all(k.startswith("backbone.") for k in encoder)
    state, config = reopened.assemble("resnet32_lws.cifar100_lt_r100")
    assert config["architecture"] == "resnet32_lws"
    assert all(torch.equal(state[k], v) for k, v in lws.state_dict().items())
    # the two heads share the encoder: about 1.9 MB once, heads of a few KB each
    sizes = {f: reopened.index["files"][f]["bytes"] for f in files}
    assert sizes[files[0]] > 1_800_000 and max(sizes[files[1]], sizes[files[2]]) < 40_000
    # another encoder under the same tag is refused unless replaced
    other, other_config = _model_and_config(tmp_path, "resnet32_crt", 3)
    with torch.no_grad():
        next(other.backbone.parameters()).add_(1.0)
    with pytest.raises(InputError, match="already holds other weights"):
        reopened.add("resnet32_crt.cifar100_lt_r100", other.state_dict(), other_config, _info())
    # withdrawing a release deletes the files only it used: the shared encoder stays
    tau, tau_config = _model_and_config(tmp_path, "resnet32_tau", 4)  # the same encoder (seed 0)
    reopened.add("resnet32_tau.cifar100_lt_r100", tau.state_dict(), tau_config, _info())
    assert reopened.remove("resnet32_tau.cifar100_lt_r100") == [
        "heads/resnet32_tau.cifar100_lt_r100.safetensors"
    ]
    assert not (tmp_path / "weights" / "heads/resnet32_tau.cifar100_lt_r100.safetensors").exists()
    assert sorted(reopened.index["files"]) == files
    assert reopened.names() == ["resnet32_ce.cifar100_lt_r100", "resnet32_lws.cifar100_lt_r100"]
    # a changed byte in a stored file is refused by its SHA-256, naming the file
    head = tmp_path / "weights" / files[2]
    data = bytearray(head.read_bytes())
    data[-1] ^= 1
    head.write_bytes(bytes(data))
    with pytest.raises(
        InputError, match=r"resnet32_lws\.cifar100_lt_r100\.safetensors has SHA-256"
    ):
        ReleaseStore(tmp_path / "weights").assemble("resnet32_lws.cifar100_lt_r100")


def test_the_published_table_is_the_committed_store_s():
    store = ReleaseStore(default_store())
    assert json.loads(TABLE_PATH.read_text()) == store.published_table(org="ltzoo")
    assert store.size() < 40_000_000
    for name in store.names():
        state, config = store.assemble(name)  # every committed file matches its SHA-256
        arch, tag = name.split(".")
        assert tag in known_tags(arch)
        assert config["architecture"] == arch and config["num_classes"] == len(
            config["label_names"]
        )


@pytest.mark.slow
def test_release_add_build_push_twice_and_load_a_digits_run(
    digits_run_copy, tmp_path, hub, monkeypatch
):
    store_dir, out = tmp_path / "weights", tmp_path / "out"
    assert (
        main(
            [
                "release",
                "add",
                str(digits_run_copy),
                "--tag",
                "digits_lt_r20",
                "--store",
                str(store_dir),
            ]
        )
        == 0
    )
    store = ReleaseStore(store_dir)
    entry = store.entry("resnet32_iwb.digits_lt_r20")
    results = json.loads((digits_run_copy / "results.json").read_text())
    assert entry["metrics"]["top1"] == results["methods"]["iwb"]["top1"]
    calibration = entry["calibration"]
    # temperature scaling lowers the validation NLL's test counterpart or leaves it; never changes top-1
    assert calibration["scores"]["after"]["nll"] <= calibration["scores"]["before"]["nll"] + 1e-6
    assert calibration["scores"]["after"]["top1"] == calibration["scores"]["before"]["top1"]
    assert main(["release", "build", str(out), "--store", str(store_dir), "--org", "org"]) == 0
    folder = out / "resnet32_iwb.digits_lt_r20"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    assert float(model.calibration.temperature) == pytest.approx(calibration["temperature"])
    from huggingface_hub import ModelCard

    card = ModelCard.load(folder / "README.md")
    metrics = {
        m["name"]: m["value"]
        for m in card.data.to_dict()["model-index"][0]["results"][0]["metrics"]
    }
    assert metrics["Top-1 All"] == round(results["methods"]["iwb"]["top1"], 2)
    assert metrics["ECE % (calibrated)"] == round(calibration["scores"]["after"]["ece"], 2)

    use_hub(monkeypatch, hub.endpoint, tmp_path)
    lines = []
    first = push(out, "org", report=lines.append)
    assert first["landed"] == ["resnet32_iwb.digits_lt_r20"] and not first["failed"]
    commits = len(hub.repos["org/resnet32_iwb.digits_lt_r20"]["commits"])
    second = push(out, "org", report=lines.append)
    assert second == {"landed": [], "unchanged": ["resnet32_iwb.digits_lt_r20"], "failed": []}
    assert (
        len(hub.repos["org/resnet32_iwb.digits_lt_r20"]["commits"]) == commits
    )  # nothing uploaded
    got = ltzoo.create_model("hf-hub:org/resnet32_iwb.digits_lt_r20", pretrained=True).eval()
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(got(x), model(x))


def _cifar100_test_top1(model) -> float:
    from ltzoo.data import create_dataset, create_transform
    from ltzoo.train.features import predict_logits

    cfg = model.pretrained_cfg
    tf = create_transform("cifar", train=False, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]))
    test = create_dataset("cifar100_lt", "test", root=str(CIFAR100), transform=tf)
    logits, targets = predict_logits(model, test)
    return 100.0 * float((logits.argmax(1) == targets).float().mean())


@pytest.mark.slow
def test_every_released_tag_loads_through_the_loopback_hub_and_scores_its_record(
    tmp_path, hub, monkeypatch
):
    names = sorted(published())
    assert names, "no released tag in the published-weights table"
    out = tmp_path / "out"
    build(out, ReleaseStore(default_store()))
    use_hub(monkeypatch, hub.endpoint, tmp_path)
    outcome = push(out, "ltzoo", report=lambda line: None)
    assert sorted(outcome["landed"]) == names and not outcome["failed"]
    for name in names:
        model = timm.create_model(name, pretrained=True).eval()
        assert sha256_file(out / name / "model.safetensors") == published()[name]["sha256"]
        assert model.num_classes in (10, 100)
    evaluated = (
        "resnet32_iwb.cifar100_lt_r100" if "resnet32_iwb.cifar100_lt_r100" in names else names[0]
    )
    # a method tag and every recipe tag (the strongest recipe's model) score their record's top-1
    recipe_tags = [n for n in names if n.split(".")[1] in RECIPE_TAGS.get(n.split(".")[0], {})]
    for name in [evaluated, *recipe_tags]:
        if not (name.startswith("resnet32_") and "cifar100_lt_r" in name):
            continue
        if not (CIFAR100 / "test.npz").is_file():
            pytest.fail(f"the CIFAR-100 test set is needed to check {name}'s top-1 ({CIFAR100})")
        model = timm.create_model(name, pretrained=True).eval()
        assert _cifar100_test_top1(model) == pytest.approx(published()[name]["top1"], abs=0.05)
    # a weight file changed on the Hub is refused by its SHA-256
    repo = hub.repos[f"ltzoo/{evaluated}"]
    tree = repo["commits"][repo["refs"]["main"]]
    data = bytearray(tree["model.safetensors"])
    data[-1] ^= 1
    hub.commit(f"ltzoo/{evaluated}", {"model.safetensors": bytes(data)})
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "cache2"))
    with pytest.raises(InputError, match="SHA-256"):
        timm.create_model(evaluated, pretrained=True)
