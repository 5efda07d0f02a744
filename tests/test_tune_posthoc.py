"""ltzoo tune RUN_DIR --posthoc: tau / logit adjustment / temperature on cached validation features."""

import json

import pytest
import torch

from ltzoo.cli import main  # noqa: E402
from ltzoo.train.config import load_config  # noqa: E402
from ltzoo.tuning import tune_posthoc  # noqa: E402


@pytest.fixture
def run_dir(digits_run):
    return digits_run[0]  # the session's trained run (read-only)


def test_posthoc_tunes_on_validation_and_exports_a_calibrated_model(run_dir, tmp_path):
    import timm

    from ltzoo.train.assemble import build_datasets

    report = tune_posthoc(run_dir, trials=25, output_dir=str(tmp_path))
    values = report["values"]
    assert set(values) == {"tau", "logit_adjust", "temperature"} and report["method"] == "stage1"
    assert (
        0.0 <= values["tau"] <= 2.0
        and 0.0 <= values["logit_adjust"] <= 2.0
        and values["temperature"] > 0
    )
    val = report["validation"]
    # the untouched head is the first trial, so the search never ends below it on validation
    assert val["after"]["mean_per_class"] >= val["before"]["mean_per_class"]
    assert json.loads((tmp_path / "posthoc.json").read_text())["values"] == values

    # the exported model (tau_norm head + calibration buffers) predicts what the report measured on test
    model = timm.create_model(f"local-dir:{report['model_dir']}", pretrained=True).eval()
    assert model.head_name == "tau_norm" and float(model.calibration.temperature) == pytest.approx(
        values["temperature"]
    )
    test = build_datasets(load_config(run_dir / "config.yaml"))["test"]
    images, labels = map(torch.stack, zip(*[(x, torch.as_tensor(y)) for x, y in test]))
    with torch.no_grad():
        predicted = model(images).argmax(1)
    top1 = float((predicted == labels).float().mean() * 100)
    assert top1 == pytest.approx(report["test_for_reporting_only"]["after"]["top1"], abs=1e-4)

    # tau tuned on the stage-1 classifier is also a recipe for retraining with that tau
    cfg = load_config(report["best_recipe"])
    assert cfg.stage2.method_options["tau"]["tau_grid"] == [round(values["tau"], 6)]
    assert cfg.output_dir != str(run_dir)


def test_posthoc_cli_temperature_only_keeps_the_predictions(run_dir, tmp_path, capsys):
    assert (
        main(
            [
                "tune",
                str(run_dir),
                "--posthoc",
                "temperature",
                "--method",
                "lws",
                "--output-dir",
                str(tmp_path),
                "--no-export",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "post hoc on lws" in printed and "val after" in printed
    report = json.loads((tmp_path / "posthoc.json").read_text())
    assert set(report["values"]) == {"temperature"} and "model_dir" not in report
    for split in ("validation", "test_for_reporting_only"):
        assert (
            report[split]["after"]["top1"] == report[split]["before"]["top1"]
        )  # T changes no argmax
    assert report["validation"]["after"]["nll"] <= report["validation"]["before"]["nll"] + 1e-9


def test_posthoc_errors_name_what_is_allowed(run_dir, capsys):
    assert main(["tune", str(run_dir), "--posthoc", "tau", "--method", "ncm"]) == 2
    assert "needs a linear or tau_norm head; this method's head is 'ncm'" in capsys.readouterr().err
    assert main(["tune", str(run_dir), "--posthoc", "bias"]) == 2
    assert (
        "--posthoc 'bias' is not allowed; allowed: tau, logit_adjust, temperature"
        in capsys.readouterr().err
    )
    assert main(["tune", str(run_dir), "--posthoc", "tau", "--method", "experts"]) == 2
    assert (
        "--method 'experts' is not allowed; the run's methods are stage1, crt, lws, tau, ncm, iwb"
        in capsys.readouterr().err
    )
    assert (
        main(
            [
                "tune",
                str(run_dir),
                "--param",
                "tau=uniform:0:3",
                "--param",
                "stage1.lr=uniform:0.1:0.2",
            ]
        )
        == 2
    )
    assert "post-hoc ranges can be given for tau, logit_adjust" in capsys.readouterr().err
    assert main(["tune", str(run_dir), "--posthoc", "tau", "--storage", "bogus://host/db"]) == 2
    assert "--storage 'bogus://host/db': SQLAlchemy knows no database 'bogus'" in (
        capsys.readouterr().err
    )


def test_posthoc_and_calibrate_deploy_the_same_composition(run_dir, digits_run_copy, tmp_path):
    """Temperature + logit adjustment of strength 1 on the deployed head: `ltzoo tune --posthoc` and
    `ltzoo calibrate` deploy the same z / T + b (T fitted on the raw validation logits first)."""
    import timm

    from ltzoo.train.calibrate import calibrate_run

    report = tune_posthoc(
        run_dir,
        posthoc=["temperature", "logit_adjust"],
        trials=1,
        params=["logit_adjust=uniform:0.9999999:1"],
        output_dir=str(tmp_path / "posthoc"),
    )
    tuned = timm.create_model(f"local-dir:{report['model_dir']}", pretrained=True).eval()
    calibrated = calibrate_run(digits_run_copy, target_prior="uniform")["calibration"]
    assert float(tuned.calibration.temperature) == pytest.approx(
        calibrated["temperature"], rel=1e-4
    )
    assert torch.allclose(tuned.calibration.bias, torch.tensor(calibrated["bias"]), atol=1e-5)


def test_logit_calibration_compiles_without_graph_breaks():
    from ltzoo.models.calibration import LogitCalibration

    calibration = LogitCalibration(3)
    calibration.set(temperature=2.0, bias=torch.tensor([0.5, 0.0, -0.5]))
    compiled = torch.compile(calibration, fullgraph=True, backend="eager")
    z = torch.tensor([[2.0, 4.0, 6.0]])
    assert torch.allclose(compiled(z), torch.tensor([[1.5, 2.0, 2.5]]))  # z / T + b
