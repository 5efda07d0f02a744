"""ltzoo tune, fast parts: search-space and objective parsing, recipe checks, the pruning hook,
best.yaml from a study (no training here)."""

import optuna  # noqa: E402
import pytest
import torch

from ltzoo.train.config import ConfigError, load_config  # noqa: E402
from ltzoo.tuning import EpochPruning, Objective, SearchSpace, parse_param, write_best  # noqa: E402


@pytest.mark.parametrize(
    "spec, kind, low, high, step",
    [
        ("stage1.weight_decay=loguniform:1e-5:1e-1", "loguniform", 1e-5, 0.1, None),
        ("stage2.method_options.iwb.lam=uniform:0.01:0.3", "uniform", 0.01, 0.3, None),
        ("stage1.lr=float:0.01:0.2:0.01", "uniform", 0.01, 0.2, 0.01),
        ("stage1.epochs=int:10:90:10", "int", 10, 90, 10),
        ("stage1.batch_size=logint:32:256", "logint", 32, 256, None),
    ],
)
def test_parse_ranges(spec, kind, low, high, step):
    p = parse_param(spec)
    assert (p.kind, p.low, p.high, p.step) == (kind, low, high, step)
    assert parse_param(p.spec()) == p  # the normalised text parses back to the same range


def test_parse_choice_reads_numbers_and_names():
    p = parse_param("stage1.sampler=choice:instance_balanced,square_root")
    assert p.choices == ("instance_balanced", "square_root")
    assert parse_param("stage1.weight_decay=choice:1e-5,5e-4").choices == (
        1e-5,
        5e-4,
    )  # not the strings PyYAML reads


@pytest.mark.parametrize(
    "spec, message",
    [
        ("stage1.lr", "expected KEY=KIND:ARGS"),
        (
            "stage1.lr=gauss:0:1",
            "kind 'gauss' is not allowed; allowed: uniform, loguniform, int, logint, choice",
        ),
        ("stage1.lr=uniform:0.2:0.1", "LOW=0.2 must be < HIGH=0.1"),
        ("stage1.weight_decay=loguniform:0:0.1", "needs LOW > 0"),
        ("stage1.lr=uniform:a:1", "'a' is not a number"),
        ("stage1.epochs=int:1.5:3", "expected a finite integer"),
    ],
)
def test_parse_errors_name_the_problem(spec, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_param(spec)


def test_space_checks_keys_and_values_against_the_recipe():
    SearchSpace.parse(
        [
            "stage1.weight_decay=loguniform:1e-5:1e-1",
            "stage2.method_options.iwb.lam=uniform:0.01:0.3",
        ]
    ).check()
    with pytest.raises(
        ConfigError,
        match="unknown config key 'stage1.wieght_decay'; did you mean 'stage1.weight_decay'",
    ):
        SearchSpace.parse(["stage1.wieght_decay=loguniform:1e-5:1e-1"]).check()
    with pytest.raises(
        ConfigError, match=r"stage1.epochs=1.0 is not allowed: input should be a valid integer"
    ):
        SearchSpace.parse(["stage1.epochs=uniform:1:3"]).check()
    with pytest.raises(
        ConfigError, match="stage2.method_options.iwb: lamda not allowed; options of 'iwb': .*lam"
    ):
        SearchSpace.parse(["stage2.method_options.iwb.lamda=uniform:0.01:0.3"]).check()
    with pytest.raises(ConfigError, match="given twice"):
        SearchSpace.parse(["stage1.lr=uniform:0.1:0.2", "stage1.lr=uniform:0.1:0.3"])


def test_overrides_round_trip_through_the_recipe():
    overrides = SearchSpace.overrides(
        {"stage1.weight_decay": 1e-05, "stage1.epochs": 3, "stage1.sampler": "square_root"}
    )
    cfg = load_config(None, overrides)
    assert (
        cfg.stage1.weight_decay == 1e-05
        and cfg.stage1.epochs == 3
        and cfg.stage1.sampler == "square_root"
    )


def test_objective_parsing_and_scoring():
    metrics = {"top1": 80.0, "few": 40.0, "mean_per_class": 70.0, "ece": 10.0}
    assert Objective.parse("few").score(metrics) == 40.0
    assert Objective.parse("0.5*few+0.5*overall").weights == {"few": 0.5, "top1": 0.5}
    assert Objective.parse("0.5*few + 0.5*overall").score(metrics) == 60.0
    assert Objective.parse("top1-0.5*ece").score(metrics) == 75.0
    assert Objective.parse("balanced").weights == {"mean_per_class": 1.0}
    with pytest.raises(
        ConfigError, match="metric 'fewest' is not allowed; allowed: top1, top5, mean_per_class"
    ):
        Objective.parse("fewest")
    with pytest.raises(ConfigError, match="is not understood"):
        Objective.parse("few 0.5")
    with pytest.raises(ValueError, match="metric 'few' is undefined on the validation split"):
        Objective.parse("few").score(
            {"few": None, "group_sizes": {"few": 0}, "thresholds": {"few": 20}}
        )


class _FakeTrial:
    def __init__(self, prune):
        self.prune, self.reported = prune, []

    def report(self, value, step):
        self.reported.append((step, value))

    def should_prune(self):
        return self.prune


@pytest.mark.parametrize("prune", [False, True])
def test_epoch_hook_reports_validation_and_prunes(prune):
    val = torch.utils.data.TensorDataset(torch.eye(4), torch.arange(4))
    model = torch.nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(4)[[0, 1, 2, 0]])  # class 3 is predicted as 0
    trial = _FakeTrial(prune)
    hook = EpochPruning(trial, val, class_counts=[50, 30, 10, 5], metric=Objective.parse("top1"))
    if prune:
        with pytest.raises(optuna.TrialPruned, match="pruned after epoch 2"):
            hook(2, {}, model)
    else:
        hook(2, {}, model)
    assert trial.reported == [(2, 75.0)]


def test_best_yaml_is_a_recipe_with_the_best_values(tmp_path):
    study = optuna.create_study(direction="maximize")
    dist = {"stage1.weight_decay": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)}
    for value, wd in ((50.0, 1e-4), (70.0, 3e-3), (60.0, 1e-2)):
        study.add_trial(
            optuna.trial.create_trial(
                params={"stage1.weight_decay": wd}, distributions=dist, value=value
            )
        )
    study.set_user_attr("objective", "few")
    study.set_user_attr("method", "lws")
    recipe = load_config(None, ["stage1.epochs=3"])
    from ltzoo.train.config import to_dict

    path = write_best(study, str(tmp_path), recipe=to_dict(recipe))
    cfg = load_config(path)
    assert cfg.stage1.weight_decay == 3e-3 and cfg.stage1.epochs == 3
    assert cfg.output_dir == str(tmp_path / "best")
    assert "few = 70.0000" in path.read_text().splitlines()[0]


def test_tune_refuses_before_any_trial(tmp_path):
    from ltzoo.tuning import tune

    common = dict(params=["stage1.lr=uniform:0.01:0.1"], output_dir=str(tmp_path / "study"))
    with pytest.raises(
        ConfigError, match="has no validation split; tuning needs one .* never uses the test split"
    ):
        tune(overrides=["data.val_fraction=0"], **common)
    with pytest.raises(
        ConfigError,
        match="--method 'ldam' is not allowed; the recipe's methods are stage1, crt, lws",
    ):
        tune(method="ldam", **common)
    with pytest.raises(ConfigError, match="nothing to tune"):
        tune(params=[], output_dir=str(tmp_path / "study"))
    assert not (tmp_path / "study").exists()
