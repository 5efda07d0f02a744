"""Publishing without a network: the repository folder, ``local-dir:`` round trips, the model card,
refusing pickles, naming mismatched keys, and loading from a pre-built offline Hub cache."""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

import ltzoo
from ltzoo.cli import main
from ltzoo.hub import export_for_hub, load_pretrained, safe_weights_overlay
from tests.conftest import REPO_ROOT
from tests.hub_cache import cache_repo

FAKE_TOKEN = "hf_FakeTokenForLtzooTests0123456789abcd"
COUNTS = [115, 82, 59, 42, 30, 22, 15, 11, 8, 6]
METRICS = {"top1": 61.0, "many": 95.0, "medium": 60.5, "few": 30.25}
REPO_FILES = {
    "README.md",
    "config.json",
    "config.yaml",
    "model.safetensors",
    "per_class_accuracy.png",
    "results.json",
}


def make_run_dir(path: Path) -> Path:
    """A run folder written by ltzoo's own ``save_run`` for a digits-shaped model whose deployed
    LWS head and calibration are non-trivial (no training: seconds matter on 2 cores)."""
    from ltzoo.heads import create_head
    from ltzoo.train.config import load_config, save_config
    from ltzoo.train.run import save_run

    torch.manual_seed(1)
    cfg = load_config(None, [f"output_dir={path}", "progress=false"])
    model = ltzoo.create_model("resnet32_ce", num_classes=10, in_chans=1).eval()
    lws = create_head("lws", model.num_features, 10)
    lws.load_linear(model.head.fc.weight, model.head.fc.bias)
    with torch.no_grad():
        lws.scales.copy_(torch.rand(10) + 0.5)
    model.calibration.set(temperature=1.7, bias=torch.randn(10))
    per_class = [90.0, 100.0, 70.0, 60.0, 55.0, 57.0, 40.0, 20.5, 10.0, 9.0]
    results = {
        "dataset": "digits_lt",
        "class_names": [str(i) for i in range(10)],
        "class_counts": COUNTS,
        "deploy": "lws",
        "methods": {
            "stage1": dict(METRICS, top1=50.0, per_class_accuracy=per_class),
            "lws": dict(METRICS, per_class_accuracy=per_class),
        },
    }
    path.mkdir(parents=True, exist_ok=True)
    save_config(cfg, path / "config.yaml")
    save_run(
        cfg,
        model,
        {"stage1": model.head, "lws": lws},
        results,
        {"input_size": (1, 8, 8), "mean": (0.3,), "std": (0.37,)},
    )
    return path


def cifar_model():
    """A calibrated 100-class ``resnet32_iwb``: what the tag ``resnet32_iwb.cifar100_lt_r100`` would hold."""
    torch.manual_seed(2)
    model = ltzoo.create_model("resnet32_iwb", num_classes=100).eval()
    model.calibration.set(temperature=0.8, bias=torch.randn(100))
    return model


def reference_logits(folder: Path, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return load_pretrained(folder).eval()(x)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("run"))


def test_run_folder_round_trip_through_local_dir(run_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    out = export_for_hub(run_dir, tmp_path / "repo", repo_id="org/digits")
    assert {p.name for p in out.iterdir()} == REPO_FILES
    pushed = load_pretrained(run_dir).eval()
    x = torch.randn(3, 1, 8, 8)
    for load in (ltzoo.create_model, timm.create_model):
        model = load(f"local-dir:{out}", pretrained=True).eval()
        assert model.head_name == "lws" and torch.equal(model.head.scales, pushed.head.scales)
        assert float(model.calibration.temperature) == pytest.approx(1.7)
        assert (
            torch.equal(model.calibration.bias, pushed.calibration.bias)
            and model.calibration.bias.any()
        )
        assert torch.equal(model(x), pushed(x))
    config = json.loads((out / "config.json").read_text())
    assert (
        config["architecture"] == "resnet32_lws"
        and config["num_classes"] == 10
        and config["num_features"] == 64
    )
    assert (
        config["label_names"] == [str(i) for i in range(10)]
        and config["ltzoo"]["class_counts"] == COUNTS
    )
    assert config["pretrained_cfg"]["input_size"] == [1, 8, 8] and config["pretrained_cfg"][
        "mean"
    ] == [0.3]
    assert (out / "config.yaml").read_text() == (run_dir / "config.yaml").read_text()
    assert set(load_file(str(out / "model.safetensors"))) == set(pushed.state_dict())
    assert not any(FAKE_TOKEN.encode() in p.read_bytes() for p in out.iterdir())


def test_model_card_parses_with_model_index(run_dir, tmp_path):
    from huggingface_hub import ModelCard

    card = ModelCard.load(export_for_hub(run_dir, tmp_path, repo_id="org/digits") / "README.md")
    assert card.data.library_name == "timm" and {"long-tailed", "digits_lt"} <= set(card.data.tags)
    results = card.data.eval_results
    assert {r.metric_name: r.metric_value for r in results} == {
        "Top-1 All": 61.0,
        "Top-1 Many": 95.0,
        "Top-1 Medium": 60.5,
        "Top-1 Few": 30.25,
    }
    assert {r.dataset_name for r in results} == {"digits_lt"}
    assert (
        "![per-class accuracy](per_class_accuracy.png)" in card.text
        and "`head.scales`" in card.text
    )
    assert "`calibration.temperature`: 1.7" in card.text and "0: 115, 1: 82" in card.text


def test_card_plot_from_report_or_omitted(run_dir, tmp_path, monkeypatch):
    run = shutil.copytree(run_dir, tmp_path / "run")
    (tmp_path / "run-report").mkdir()
    png = b"\x89PNG\r\n\x1a\nnot-a-real-image"
    (tmp_path / "run-report" / "accuracy_vs_count.png").write_bytes(
        png
    )  # what `ltzoo report RUN` writes
    assert (export_for_hub(run, tmp_path / "a") / "per_class_accuracy.png").read_bytes() == png
    shutil.rmtree(tmp_path / "run-report")
    monkeypatch.setitem(
        sys.modules, "matplotlib", None
    )  # no matplotlib and no PNG: the card omits the plot
    out = export_for_hub(run, tmp_path / "b")
    assert (
        not (out / "per_class_accuracy.png").exists()
        and "per-class accuracy" not in (out / "README.md").read_text()
    )


def test_push_source_can_be_a_model_with_results_and_recipe(tmp_path):
    model = ltzoo.create_model(
        "lt_classifier", backbone="resnet20", head="ncm", num_classes=10
    ).eval()
    with torch.no_grad():
        model.head.class_means.normal_()
    results = {
        "dataset": "toy_lt",
        "class_names": list("abcdefghij"),
        "class_counts": COUNTS,
        "deploy": "ncm",
        "methods": {"ncm": dict(METRICS)},
    }
    out = export_for_hub(
        model, tmp_path / "repo", repo_id="org/toy", results=results, recipe={"seed": 3}
    )
    assert {p.name for p in out.iterdir()} == REPO_FILES - {
        "per_class_accuracy.png"
    }  # no per-class numbers: no plot
    x = torch.randn(2, 3, 32, 32)
    again = ltzoo.create_model(f"local-dir:{out}", pretrained=True).eval()
    assert torch.equal(again(x), model(x)) and again.pretrained_cfg["label_names"][0] == "a"
    assert json.loads((out / "config.json").read_text())["ltzoo"]["class_counts"] == COUNTS
    assert "seed: 3" in (out / "config.yaml").read_text()
    bare = export_for_hub(
        model, tmp_path / "bare"
    )  # no results: a card without model-index or plot
    assert "model-index" not in (bare / "README.md").read_text()


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickled_weights_are_refused(run_dir, tmp_path):
    folder, marker = tmp_path / "pickled", tmp_path / "pwned"
    folder.mkdir()
    (folder / "config.json").write_bytes((run_dir / "config.json").read_bytes())
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"x": _Exploit(marker)}))
    with pytest.raises(
        FileNotFoundError,
        match="has no model.safetensors; refusing to load the pickled pytorch_model.bin",
    ):
        ltzoo.create_model(f"local-dir:{folder}", pretrained=True)
    with pytest.raises(
        ValueError, match="hf_hub_filename='pytorch_model.bin' is not a .safetensors file"
    ):
        ltzoo.create_model(
            "resnet32_iwb",
            pretrained=True,
            pretrained_cfg_overlay=dict(hf_hub_id="org/x", hf_hub_filename="pytorch_model.bin"),
        )
    assert not marker.exists()
    # a Hub source is pinned to model.safetensors, so timm never falls back to pytorch_model.bin
    assert (
        safe_weights_overlay("resnet32_iwb", None, {"hf_hub_id": "org/x"})["hf_hub_filename"]
        == "model.safetensors"
    )


def test_weights_that_do_not_fit_fail_naming_the_keys(run_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_bytes((run_dir / "config.json").read_bytes())
    state = load_file(str(run_dir / "model.safetensors"))
    state["backbone.extra.weight"] = state.pop("backbone.conv1.weight")
    save_file(state, str(bad / "model.safetensors"))
    with pytest.raises(
        RuntimeError,
        match=r"(?s)Missing key\(s\).*backbone\.conv1\.weight.*Unexpected key\(s\).*backbone\.extra\.weight",
    ):
        ltzoo.create_model(f"local-dir:{bad}", pretrained=True)
    with pytest.raises(RuntimeError, match="backbone.extra.weight"):
        export_for_hub(bad, tmp_path / "never")  # checked before any upload


def test_cli_push_errors_and_save_dir(run_dir, tmp_path, capsys):
    assert main(["push", str(tmp_path / "nope"), "--repo-id", "org/x"]) == 2
    assert "nope' does not exist; it must be a folder" in capsys.readouterr().err
    assert main(["push", str(run_dir), "--repo-id", "not-a-repo-id"]) == 2
    assert "is not an 'org/name' repository id" in capsys.readouterr().err
    assert (
        main(["push", str(run_dir), "--repo-id", "org/x", "--save-dir", str(tmp_path / "out")]) == 0
    )
    assert {p.name for p in (tmp_path / "out").iterdir()} == REPO_FILES
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert (
        main(["push", str(run_dir), "--repo-id", "org/x", "--save-dir", str(tmp_path / "out")]) == 2
    )
    err = capsys.readouterr().err
    assert "--save-dir" in err and "is not empty" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_an_export_that_fails_part_way_leaves_no_folder(run_dir, tmp_path):
    """The repository folder appears complete or not at all: weights of another model fail when
    the folder is loaded back, after the files are written, and nothing is left behind."""
    import safetensors.torch

    from ltzoo.hub import export_for_hub

    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    weights = safetensors.torch.load_file(str(run / "model.safetensors"))
    safetensors.torch.save_file(
        {k: v[:-1] if k.startswith("head.") else v for k, v in weights.items()},
        str(run / "model.safetensors"),
    )
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "new", tmp_path / "empty"):
        with pytest.raises(RuntimeError):
            export_for_hub(run, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "run"]
    assert not any((tmp_path / "empty").iterdir())
    good = export_for_hub(run_dir, tmp_path / "empty")
    assert {p.name for p in good.iterdir()} == REPO_FILES
    (tmp_path / "made").mkdir()  # the mode a new folder gets here, not mkdtemp's private 0700
    assert good.stat().st_mode & 0o777 == (tmp_path / "made").stat().st_mode & 0o777


def publish_tag(monkeypatch, tag: str, repo_id: str, weights: Path) -> None:
    """Register ``tag`` -> ``repo_id`` in timm's registry and the published-weights table with the
    SHA-256 of ``weights``, as a release of that file would."""
    from dataclasses import replace

    from timm.models import _registry

    from ltzoo.models import published

    entry = {"sha256": published.sha256_file(weights)}
    table = {"org": "org", "weights": dict(published.published(), **{tag: entry})}
    monkeypatch.setattr(published, "_table", lambda: table)

    arch = tag.split(".")[0]
    for name in (arch, tag):  # the default tag is also filed under the bare architecture name
        monkeypatch.setitem(
            _registry._model_pretrained_cfgs,
            name,
            replace(_registry._model_pretrained_cfgs[name], hf_hub_id=repo_id),
        )
    monkeypatch.setattr(
        _registry, "_model_has_pretrained", _registry._model_has_pretrained | {arch, tag}
    )


def test_offline_hub_cache(run_dir, tmp_path, monkeypatch):
    """HF_HUB_OFFLINE=1 and a pre-built HF_HUB_CACHE: hf-hub names, a registered tag and torch.hub
    all load from the cache (huggingface_hub reads both variables into ``constants`` at import,
    hence the two setattr; any HTTP request would raise OfflineModeIsEnabled)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = tmp_path / "cache"
    cache_repo(
        cache,
        "org/digits",
        export_for_hub(run_dir, tmp_path / "digits", repo_id="org/digits"),
        "a" * 40,
    )
    model = cifar_model()
    cifar_folder = export_for_hub(model, tmp_path / "cifar", repo_id="org/cifar")
    cache_repo(cache, "org/cifar", cifar_folder, "b" * 40)
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_HUB_CACHE", str(cache))):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    publish_tag(
        monkeypatch,
        "resnet32_iwb.cifar100_lt_r100",
        "org/cifar",
        cifar_folder / "model.safetensors",
    )
    x_digits, x_cifar = torch.randn(2, 1, 8, 8), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        digits, cifar = reference_logits(run_dir, x_digits), model(x_cifar)
        for load in (ltzoo.create_model, timm.create_model):
            assert torch.equal(load("hf-hub:org/digits", pretrained=True).eval()(x_digits), digits)
        assert "resnet32_iwb.cifar100_lt_r100" in ltzoo.list_models(pretrained=True)
        tagged = timm.create_model("resnet32_iwb.cifar100_lt_r100", pretrained=True).eval()
        assert torch.equal(tagged(x_cifar), cifar)
        hub = torch.hub.load(str(REPO_ROOT), "resnet32_iwb", source="local", pretrained=True).eval()
        assert torch.equal(hub(x_cifar), cifar)
    with pytest.raises(LocalEntryNotFoundError):  # not in the cache, and no request goes out
        ltzoo.create_model("hf-hub:org/missing", pretrained=True)
