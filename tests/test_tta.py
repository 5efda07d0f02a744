"""Flip test-time augmentation: the mean of the logits of an image and of its horizontal mirror,
an option of `ltzoo eval` and of a run's final evaluation, stored beside the headline numbers."""

import json

import pytest
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

from ltzoo.cli import main
from ltzoo.train.config import ConfigError, load_config
from ltzoo.train.features import FeatureSet, head_logits, predict_logits


def _dataset(images):
    return TensorDataset(images, torch.zeros(len(images), dtype=torch.long))


def test_flip_of_a_position_sensitive_model_is_the_mean_of_two_logits():
    # logits = the two pixels of a 1x1x2 image: [a, b] -> [a, b]; its mirror [b, a] -> [b, a]
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
    model[1].weight.data = torch.eye(2)
    images = torch.tensor([[[[1.0, 3.0]]], [[[-2.0, 6.0]]]])
    plain, _ = predict_logits(model, _dataset(images))
    flip, _ = predict_logits(model, _dataset(images), tta="flip")
    assert plain.tolist() == [[1.0, 3.0], [-2.0, 6.0]]
    assert flip.tolist() == [
        [2.0, 2.0],
        [2.0, 2.0],
    ]  # ([1, 3] + [3, 1]) / 2, ([-2, 6] + [6, -2]) / 2
    # a weight that is not symmetric: [[1, 2], [0, -1]] @ [1, 3] = [7, -3]; @ [3, 1] = [5, -1]
    model[1].weight.data = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    flip, _ = predict_logits(model, _dataset(images[:1]), tta="flip")
    assert flip.tolist() == [[6.0, -2.0]]


def test_flip_of_a_mirror_symmetric_model_changes_nothing():
    # global average pooling then a linear layer: the mirror has the same logits
    model = nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    )
    images = torch.randn(5, 1, 6, 6)
    plain, _ = predict_logits(model, _dataset(images))
    flip, _ = predict_logits(model, _dataset(images), tta="flip")
    torch.testing.assert_close(flip, plain)
    with pytest.raises(ValueError, match="tta='mirror' is not allowed; allowed: none, flip"):
        predict_logits(model, _dataset(images), tta="mirror")


def test_head_logits_over_mirrored_features_average_the_two():
    head = nn.Linear(2, 2)
    head.weight.data = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    head.bias.data = torch.tensor([0.5, -0.5])
    plain = FeatureSet(torch.tensor([[1.0, 1.0]]), torch.tensor([0]))
    mirrored = FeatureSet(torch.tensor([[3.0, -1.0]]), torch.tensor([0]))
    # [1.5, 1.5] and [3.5, -2.5] -> [2.5, -0.5]
    assert head_logits(head, plain, mirrored=mirrored).tolist() == [[2.5, -0.5]]


def test_eval_tta_is_a_checked_config_key():
    assert load_config(overrides=["eval.tta=flip"]).eval.tta == "flip"
    with pytest.raises(
        ConfigError, match="eval.tta='mirror' is not allowed: input should be 'none' or 'flip'"
    ):
        load_config(overrides=["eval.tta=mirror"])


@pytest.fixture(scope="module")
def flip_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("flip_run")
    argv = [
        "train",
        "--output-dir",
        str(out),
        "--set",
        "progress=false",
        "--set",
        "stage1.epochs=2",
        "--set",
        "stage2.epochs=2",
        "--set",
        "stage2.methods=[crt,tau]",
        "--set",
        "eval.tta=flip",
    ]
    assert main(argv) == 0
    return out


def test_run_stores_flip_numbers_beside_the_headline(flip_run):
    results = json.loads((flip_run / "results.json").read_text())
    assert results["protocol"] == {"model": "last epoch", "tta": "none"}
    flip = results["tta"]["flip"]
    assert flip["protocol"]["tta"] == "flip" and "mirror" in flip["protocol"]["logits"]
    assert set(flip["methods"]) == set(results["methods"]) == {"stage1", "crt", "tau"}
    # digits are not mirror-symmetric: the flip-averaged logits are other numbers
    assert all(flip["methods"][m]["nll"] != results["methods"][m]["nll"] for m in flip["methods"])

    _deployed_model_scores_the_stored_numbers(flip_run)


def _deployed_model_scores_the_stored_numbers(run_dir):
    """The deployed model, reloaded with timm, gives the stored headline and flip numbers image by image."""
    import timm

    from ltzoo.evaluation import evaluate_logits
    from ltzoo.train.assemble import build_datasets

    results = json.loads((run_dir / "results.json").read_text())
    model = timm.create_model(f"local-dir:{run_dir}", pretrained=True).eval()
    test = build_datasets(load_config(run_dir / "config.yaml"))[
        "test"
    ]  # with the run's eval transform
    for tta, stored in (("none", results["methods"]), ("flip", results["tta"]["flip"]["methods"])):
        logits, targets = predict_logits(model, test, tta=tta)
        expected = evaluate_logits(logits, targets, results["class_counts"])
        assert stored[results["deploy"]]["per_class_accuracy"] == expected["per_class_accuracy"], (
            tta
        )
        assert stored[results["deploy"]]["nll"] == pytest.approx(expected["nll"], rel=1e-5), tta


def test_flip_scores_a_method_with_its_own_encoder(tmp_path):
    """stage2.retrain=last_block: LWS deploys its own fine-tuned encoder; its flip numbers come from it."""
    argv = [
        "train",
        "--output-dir",
        str(tmp_path),
        "--set",
        "progress=false",
        "--set",
        "stage1.epochs=2",
        "--set",
        "stage2.epochs=1",
        "--set",
        "stage2.methods=[lws]",
        "--set",
        "stage2.retrain=last_block",
        "--set",
        "eval.tta=flip",
    ]
    assert main(argv) == 0
    assert (tmp_path / "heads" / "lws.encoder.safetensors").is_file()
    _deployed_model_scores_the_stored_numbers(tmp_path)


def test_ltzoo_eval_tta_flip_prints_and_stores_both(flip_run, capsys):
    saved = json.loads((flip_run / "results.json").read_text())
    (flip_run / "results.json").write_text(
        json.dumps({k: v for k, v in saved.items() if k != "tta"})
    )
    assert main(["eval", str(flip_run), "--tta", "flip"]) == 0
    printed = capsys.readouterr().out
    headline, flip = printed.split(
        "test-time augmentation flip (mean of the logits of the image and of its horizontal mirror)"
    )
    for text, methods in ((headline, saved["methods"]), (flip, saved["tta"]["flip"]["methods"])):
        row = next(line for line in text.splitlines() if line.startswith("crt "))
        assert f"{methods['crt']['top1']:.2f}" in row
    again = json.loads((flip_run / "results.json").read_text())
    assert again["methods"] == saved["methods"]  # the headline stays as it was
    for method, metrics in saved["tta"]["flip"]["methods"].items():
        assert (
            again["tta"]["flip"]["methods"][method]["per_class_accuracy"]
            == metrics["per_class_accuracy"]
        ), method
    assert again["tta"]["flip"]["protocol"] == saved["tta"]["flip"]["protocol"]
