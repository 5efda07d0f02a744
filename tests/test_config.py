"""Recipe loading: YAML + --set overrides, refused before any work starts."""

import pytest

from ltzoo.train.config import ConfigError, RunConfig, load_config, save_config
from ltzoo.train.stage2 import check_stage2_config


def test_defaults_are_the_embedded_digits_recipe():
    cfg = load_config()
    assert cfg.data.dataset == "digits_lt" and cfg.data.imbalance == 20.0
    assert cfg.stage2.methods == ["crt", "lws", "tau", "ncm", "iwb"]


def test_yaml_and_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("stage1:\n  epochs: 3\n  lr: 1\ndata:\n  imbalance: 0.01\n")
    cfg = load_config(
        recipe, ["stage1.epochs=5", "stage2.methods=[tau]", "model.kwargs={drop_rate: 0.1}"]
    )
    assert cfg.stage1.epochs == 5 and cfg.stage1.lr == 1.0 and isinstance(cfg.stage1.lr, float)
    assert (
        cfg.data.imbalance == 0.01
        and cfg.stage2.methods == ["tau"]
        and cfg.model.kwargs == {"drop_rate": 0.1}
    )
    save_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == cfg


@pytest.mark.parametrize(
    "override, message",
    [
        ("stage1.epoch=5", r"unknown config key 'stage1.epoch'; did you mean 'stage1.epochs'\?"),
        (
            "stage1.epochs=five",
            r"stage1.epochs='five' is not allowed: input should be a valid integer",
        ),
        ("stage1.lr=true", r"stage1.lr=True is not allowed: input should be a valid number"),
        ("stage1.lr=-1", r"stage1.lr=-1 is not allowed: input should be greater than 0"),
        (
            "stage1.batch_size=0",
            r"stage1.batch_size=0 is not allowed: input should be greater than or equal to 1",
        ),
        (
            "data.val_fraction=1.5",
            r"data.val_fraction=1.5 is not allowed: input should be less than 1",
        ),
        (
            "mixed_precision=fp8",
            r"mixed_precision='fp8' is not allowed: input should be 'no', 'bf16' or 'fp16'",
        ),
        (
            "stage2.methods=tau",
            r"stage2.methods='tau' is not allowed: input should be a valid list",
        ),
        ("nonsense", r"expected key=value"),
    ],
)
def test_bad_overrides_name_key_value_and_allowed(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_yaml_floats_in_exponent_form(tmp_path):
    """YAML 1.1 reads 5e-4 as a string; recipes and --set read it as the number users mean."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("stage1:\n  weight_decay: 5e-4\n  loss_kwargs: {beta: 1e-3}\n")
    cfg = load_config(recipe, ["stage2.lr=1e-3", "stage2.method_options={iwb: {lam: 2E-1}}"])
    assert cfg.stage1.weight_decay == 0.0005 and cfg.stage1.loss_kwargs == {"beta": 0.001}
    assert cfg.stage2.lr == 0.001 and cfg.stage2.method_options["iwb"]["lam"] == 0.2
    assert (
        load_config(overrides=["data.root=1e5x"]).data.root == "1e5x"
    )  # not a number: stays a string


def test_yaml_booleans_are_true_and_false_only():
    """YAML 1.1 reads no/yes/on/off as booleans; `--set mixed_precision=no` must stay the string."""
    cfg = load_config(
        overrides=["mixed_precision=no", "progress=false", "engine.compile=true", "data.root=off"]
    )
    assert cfg.mixed_precision == "no" and cfg.progress is False and cfg.engine.compile is True
    assert cfg.data.root == "off"


def test_every_problem_is_reported_in_one_pass():
    with pytest.raises(ConfigError) as error:
        load_config(overrides=["stage1.lr=0", "stage1.epoch=3", "engine.on_nonfinite=ignore"])
    message = str(error.value)
    assert "stage1.lr=0 is not allowed" in message and "'stage1.epoch'" in message
    assert "engine.on_nonfinite='ignore'" in message


def test_bad_yaml_names_file_and_line(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("stage1:\n  epochs: 3\n  lr: [0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml' is not valid YAML at line 4"):
        load_config(recipe)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_stage2_methods_and_options_checked_up_front():
    cfg = RunConfig()
    cfg.stage2.methods = ["lws", "tau_norm"]
    with pytest.raises(ValueError, match="unknown stage-2 method 'tau_norm'"):
        check_stage2_config(cfg.stage2)
    cfg.stage2.methods = ["iwb"]
    cfg.stage2.method_options = {"iwb": {"lam": 0.1, "lambda": 0.2}}
    with pytest.raises(
        ConfigError,
        match="stage2.method_options.iwb: lambda not allowed; options of 'iwb': base, batch_size",
    ):
        check_stage2_config(cfg.stage2)
    cfg.stage2.method_options = {}
    cfg.stage2.deploy = "lws"
    with pytest.raises(
        ConfigError, match="stage2.deploy='lws' is not allowed; allowed: stage1, iwb"
    ):
        check_stage2_config(cfg.stage2)


def test_experts_with_encoder_retraining_refused_before_training():
    cfg = RunConfig()
    cfg.stage2.methods = ["lws", "experts"]
    cfg.stage2.retrain = "last_block"
    with pytest.raises(
        ConfigError, match="stage2.retrain='last_block' is not allowed with the experts method"
    ):
        check_stage2_config(cfg.stage2)


@pytest.mark.parametrize(
    "override, message",
    [
        ("stage1.loss=ldamm", "unknown loss 'ldamm'; did you mean 'ldam'"),
        (
            "stage1.sampler=class_balance",
            "unknown sampler 'class_balance'; did you mean 'class_balanced'",
        ),
        ("data.dataset=cifar100", "unknown dataset 'cifar100'; did you mean 'cifar100_lt'"),
        ("model.name=resnet32_lwss", "unknown model 'resnet32_lwss'; did you mean 'resnet32_lws'"),
        ("data.transform=cifar10", "unknown transform preset 'cifar10'"),
    ],
)
def test_registry_names_checked_before_any_data_is_read(override, message, tmp_path):
    from ltzoo.train.run import run

    with pytest.raises(ValueError, match=message):
        run(load_config(overrides=[override, f"output_dir={tmp_path}"]))
    assert not (tmp_path / "config.yaml").exists()  # nothing was started


def test_stage2_takes_every_training_setting_optional_with_stage1s_ranges():
    """stage2.<key> for every TrainSettings key: null by default, and a value stage 1 refuses is
    refused with the same message."""
    from ltzoo.train.config import TRAINING_KEYS, Stage2Config, TrainSettings, from_dict

    refused = {
        "epochs": -1,
        "batch_size": 0,
        "lr": 0,
        "momentum": 1.0,
        "nesterov": "yes",
        "weight_decay": -1e-4,
        "schedule": "linear",
        "milestones": [3, -1],
        "gamma": 1.5,
        "warmup_epochs": -1,
        "warmup_start_lr": -0.1,
        "sampler": 3,
        "sampler_kwargs": [1],
        "grad_clip": 0,
    }
    assert set(refused) == set(TRAINING_KEYS)  # a new training setting gets a row here
    assert Stage2Config().explicit_training() == {}
    for key, value in refused.items():
        with pytest.raises(ConfigError) as stage1:
            from_dict(TrainSettings, {key: value})
        with pytest.raises(ConfigError) as stage2:
            from_dict(Stage2Config, {key: value})
        assert str(stage2.value) == str(stage1.value), key
        assert getattr(from_dict(Stage2Config, {key: None}), key) is None
