"""ltzoo report: every figure is written and non-empty, the HTML page is self-contained, errors
name what is wrong."""

import struct

import optuna  # noqa: E402
import pytest
import torch

from ltzoo.cli import main  # noqa: E402
from ltzoo.reporting import RUN_FIGURES, make_report, reliability_bins  # noqa: E402


@pytest.fixture
def run_dir(digits_run):
    return digits_run[0]  # the session's trained run (read-only)


@pytest.fixture(scope="module")
def study_url(tmp_path_factory):
    """A small study as ``ltzoo tune`` writes it (no training: trials added directly)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('study') / 'study.db'}"
    study = optuna.create_study(storage=url, study_name="wd", direction="maximize")
    study.set_user_attr("objective", "few")
    study.set_user_attr("method", "lws")
    dists = {
        "stage1.weight_decay": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
        "stage1.sampler": optuna.distributions.CategoricalDistribution(
            ["instance_balanced", "square_root"]
        ),
    }
    for i, (wd, sampler, value) in enumerate(
        [
            (1e-4, "square_root", 40.0),
            (3e-3, "instance_balanced", 55.0),
            (2e-2, "square_root", 61.0),
            (7e-5, "instance_balanced", 35.0),
        ]
    ):
        study.add_trial(
            optuna.trial.create_trial(
                params={"stage1.weight_decay": wd, "stage1.sampler": sampler},
                distributions=dists,
                value=value,
            )
        )
    study.add_trial(
        optuna.trial.create_trial(
            params={"stage1.weight_decay": 0.09, "stage1.sampler": "square_root"},
            distributions=dists,
            state=optuna.trial.TrialState.PRUNED,
            intermediate_values={0: 10.0},
        )
    )
    return url


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])  # width, height from the IHDR chunk


def test_every_figure_and_the_page(run_dir, study_url, tmp_path):
    out = make_report(
        [run_dir, run_dir], tmp_path, labels=["first", "second"], study=study_url, study_name="wd"
    )
    expected = set(RUN_FIGURES) | {"study_history", "study_params"}
    assert set(out["figures"]) == expected and not out["notes"]
    for name, path in out["figures"].items():
        assert path.stat().st_size > 10_000, name
        width, height = _png_size(path)
        assert 300 < width < 3000 and 200 < height < 3000, (name, width, height)
    page = out["html"].read_text()
    assert (
        page.count("data:image/png;base64,") == len(expected) and '<img src="' not in page
    )  # self-contained
    assert "first" in page and "second" in page and "Balanced" in page and "Study" in page
    markdown = out["markdown"].read_text()
    for name in expected:
        assert f"]({name}.png)" in markdown
    assert "| stage1 |" in markdown and "Best: trial 2, 61.00" in markdown


def test_cli_selected_methods_without_reliability(run_dir, tmp_path, capsys):
    assert (
        main(
            [
                "report",
                str(run_dir),
                "--methods",
                "stage1,lws,iwb",
                "--no-reliability",
                "--output-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "report:" in printed and "reliability" in printed
    )  # the note says why the diagram is missing
    assert (
        not (tmp_path / "reliability.png").exists()
        and (tmp_path / "weight_norms.png").stat().st_size > 10_000
    )
    assert "| crt |" not in (tmp_path / "report.md").read_text()


def test_reliability_bins_agree_with_the_ece():
    from ltzoo.evaluation import expected_calibration_error

    logits, targets = torch.randn(500, 7) * 3, torch.randint(0, 7, (500,))
    bins = reliability_bins(logits, targets)
    assert sum(bins["count"]) == 500 and len(bins["edges"]) == 16
    assert bins["ece"] == pytest.approx(expected_calibration_error(logits, targets))


def test_report_errors_name_the_problem(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output folder is relative
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "is not a run folder: it has no results.json" in capsys.readouterr().err
    assert (
        main(["report", str(run_dir), "--methods", "lws,bogus", "--output-dir", str(tmp_path)]) == 2
    )
    assert "--methods bogus not in run" in capsys.readouterr().err
    assert main(["report", "--study", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report"]) == 2
    assert "nothing to report" in capsys.readouterr().err
    assert not (tmp_path / "study-report").exists() and not (tmp_path / "nowhere-report").exists()
