"""``stage1.from_run``: stage-2 methods on an earlier run's stage-1 model, without training stage 1."""

import json

import pytest
import yaml

from ltzoo.train.config import ConfigError, load_config
from ltzoo.train.reload import evaluate_run
from ltzoo.train.run import run

BASE = ["progress=false", "stage1.epochs=3", "stage2.epochs=2"]


@pytest.fixture
def stage1_run(digits_run):
    """The session's trained run (read-only) and its results."""
    return digits_run[0], json.loads((digits_run[0] / "results.json").read_text())


def test_stage2_on_a_loaded_encoder_scores_stage1_exactly_as_the_source(stage1_run, tmp_path):
    source, source_results = stage1_run
    out = tmp_path / "crt_tau"
    # this recipe asks for 50 stage-1 epochs: they are not trained, the source's encoder is used
    results = run(
        load_config(
            overrides=[
                f"output_dir={out}",
                "progress=false",
                "stage1.epochs=50",
                "stage1.lr=0.3",
                "stage2.epochs=2",
                "stage2.methods=[crt, tau]",
                f"stage1.from_run={source}",
            ]
        )
    )
    assert (
        results["methods"]["stage1"]["per_class_accuracy"]
        == source_results["methods"]["stage1"]["per_class_accuracy"]
    )
    assert results["stage1_from_run"] == str(source)
    assert set(results["methods"]) == {"stage1", "crt", "tau"}
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert (
        saved["stage1"]["epochs"] == 60 and saved["stage1"]["lr"] == 0.05
    )  # how the encoder was really trained
    assert saved["stage1"]["from_run"] == str(source)
    assert not (out / "checkpoints").exists()
    again, _ = evaluate_run(out)  # `ltzoo eval` of the new run reproduces it
    for method in ("stage1", "crt", "tau"):
        assert (
            again[method]["per_class_accuracy"] == results["methods"][method]["per_class_accuracy"]
        ), method


def test_the_stage1_encoder_is_taken_when_the_source_deployed_a_retrained_one(tmp_path):
    source = tmp_path / "retrained"
    first = run(
        load_config(
            overrides=[
                f"output_dir={source}",
                *BASE,
                "stage2.retrain=last_block",
                "stage2.methods=[crt]",
                "stage2.deploy=crt",
            ]
        )
    )
    assert (source / "heads" / "shared.encoder.safetensors").is_file()
    second = run(
        load_config(
            overrides=[
                f"output_dir={tmp_path / 'again'}",
                *BASE,
                "stage2.methods=[ncm]",
                f"stage1.from_run={source}",
            ]
        )
    )
    # model.safetensors holds crt's re-trained backbone; stage 1's own gives stage 1's numbers
    assert (
        second["methods"]["stage1"]["per_class_accuracy"]
        == first["methods"]["stage1"]["per_class_accuracy"]
    )


def test_other_training_data_is_refused_before_anything_is_written(stage1_run, tmp_path):
    source, _ = stage1_run
    out = tmp_path / "other_if"
    with pytest.raises(ConfigError) as error:
        run(
            load_config(
                overrides=[
                    f"output_dir={out}",
                    *BASE,
                    "data.imbalance=10",
                    f"stage1.from_run={source}",
                ]
            )
        )
    assert "data.imbalance=10.0 (the run has 20.0)" in str(error.value)
    assert not out.exists()


def test_a_folder_that_is_not_a_run_is_named(tmp_path):
    with pytest.raises(ConfigError) as error:
        run(
            load_config(
                overrides=[
                    f"output_dir={tmp_path / 'x'}",
                    *BASE,
                    f"stage1.from_run={tmp_path / 'nope'}",
                ]
            )
        )
    assert f"stage1.from_run={str(tmp_path / 'nope')!r}" in str(
        error.value
    ) and "does not exist" in str(error.value)


def test_different_class_counts_are_refused(digits_run_copy, tmp_path):
    copy = digits_run_copy
    results = json.loads((copy / "results.json").read_text())
    results["class_counts"][0] += 1  # as if the source had read another copy of the data
    (copy / "results.json").write_text(json.dumps(results))
    with pytest.raises(ConfigError, match="training class counts"):
        run(
            load_config(
                overrides=[f"output_dir={tmp_path / 'y'}", *BASE, f"stage1.from_run={copy}"]
            )
        )
