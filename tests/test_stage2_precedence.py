"""One precedence for stage-2 settings: method defaults < stage2.* < stage2.method_options.<m>."""

import pytest

from ltzoo.train.config import ConfigError, load_config
from ltzoo.train.stage2 import check_stage2_config, resolve


def _resolve(method, *overrides):
    return resolve(method, load_config(overrides=list(overrides)).stage2)


def test_method_defaults_when_stage2_leaves_a_key_unset():
    iwb, crt = _resolve("iwb").settings, _resolve("crt").settings
    assert (iwb.lr, iwb.sampler) == (0.005, "instance_balanced")
    assert (crt.lr, crt.sampler) == (0.05, "class_balanced")
    assert _resolve("experts").settings.grad_clip == 5.0


def test_stage2_key_overrides_every_methods_default():
    """A shared stage2.<key> beats a method's default (IWB's lr 0.005)."""
    assert _resolve("iwb", "stage2.lr=0.2").settings.lr == 0.2
    assert _resolve("iwb", "stage2.sampler=class_balanced").settings.sampler == "class_balanced"
    assert _resolve("wd_maxnorm", "stage2.sampler=square_root").settings.sampler == "square_root"
    assert _resolve("experts", "stage2.grad_clip=1.0").settings.grad_clip == 1.0


def test_a_shared_key_may_not_change_what_defines_a_method():
    """cRT and LWS are class-balanced by definition (Kang et al. ICLR'20): a shared sampler meant for
    IWB is refused for them, naming the method, key and value; under the method it runs."""
    for method in ("crt", "lws"):
        with pytest.raises(
            ConfigError,
            match=f"stage2.sampler='instance_balanced' would change method '{method}', whose sampler "
            f"is 'class_balanced'.*stage2.method_options.{method}.sampler",
        ):
            _resolve(method, "stage2.sampler=instance_balanced")
        variant = _resolve(
            method,
            "stage2.sampler=instance_balanced",
            f"stage2.method_options={{{method}: {{sampler: instance_balanced}}}}",
        )
        assert variant.settings.sampler == "instance_balanced"
        # the defining value itself, shared, is no change
        assert (
            _resolve(method, "stage2.sampler=class_balanced").settings.sampler == "class_balanced"
        )
    with pytest.raises(ConfigError, match="would change method 'crt'"):
        check_stage2_config(
            load_config(
                overrides=["stage2.methods=[iwb, crt]", "stage2.sampler=instance_balanced"]
            ).stage2
        )
    assert (
        _resolve("iwb", "stage2.sampler=instance_balanced").settings.sampler == "instance_balanced"
    )


def test_method_options_override_stage2():
    r = _resolve("iwb", "stage2.lr=0.2", "stage2.method_options={iwb: {lr: 0.001, lam: 0.3}}")
    assert r.settings.lr == 0.001 and r.options["lam"] == 0.3
    assert (
        _resolve("crt", "stage2.lr=0.2", "stage2.method_options={iwb: {lr: 0.001}}").settings.lr
        == 0.2
    )


def test_record_lists_every_effective_setting():
    record = _resolve("iwb", "stage2.epochs=3").record()
    assert record["training"]["epochs"] == 3 and record["training"]["lr"] == 0.005
    assert (
        record["loss"] == "iwb"
        and record["options"]["variant"] == "paper"
        and "lam" in record["options"]
    )
    assert _resolve("ncm").record() == {
        "training": None,
        "options": {"metric": "cosine"},
        "loss": None,
    }
    assert (
        _resolve("wd_maxnorm", "stage2.method_options={wd_maxnorm: {base: class_balanced}}").loss
        == "class_balanced (softmax)"
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["stage2.methods=[ncm]", "stage2.method_options={ncm: {lr: 0.1}}"],
            "stage2.method_options.ncm: lr not allowed; options of 'ncm': metric",
        ),
        (
            ["stage2.methods=[iwb]", "stage2.method_options={iwb: {variant: papers}}"],
            "stage2.method_options.iwb: .*variant",
        ),
        (
            ["stage2.methods=[wd_maxnorm]", "stage2.method_options={wd_maxnorm: {thresh: 2.0}}"],
            "stage2.method_options.wd_maxnorm: .*thresh=2.0",
        ),
        (
            ["stage2.methods=[crt]", "stage2.method_options={crt: {lr: -1}}"],
            r"stage 2 method 'crt'.*lr=-1 is not allowed",
        ),
    ],
)
def test_settings_a_method_cannot_use_fail_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_stage2_config(load_config(overrides=overrides).stage2)


def test_shared_setting_no_listed_method_uses_is_warned_about():
    with pytest.warns(
        UserWarning, match=r"stage2.lr not used: none of stage2.methods \(tau, ncm\) trains"
    ):
        check_stage2_config(
            load_config(overrides=["stage2.methods=[tau, ncm]", "stage2.lr=0.1"]).stage2
        )


def test_run_prints_and_stores_effective_settings(tmp_path, caplog):
    import json
    import logging

    from ltzoo.train.run import run

    cfg = load_config(
        overrides=[
            f"output_dir={tmp_path}",
            "progress=false",
            "stage1.epochs=1",
            "stage2.methods=[crt, iwb]",
            "stage2.epochs=1",
            "stage2.lr=0.02",
        ]
    )
    with caplog.at_level(logging.INFO, logger="ltzoo"):
        run(cfg)
    out = caplog.text
    assert (
        "iwb: 1 ep, batch 64, lr 0.02 cosine" in out
        and "crt: 1 ep, batch 64, lr 0.02 cosine" in out
    )
    settings = json.loads((tmp_path / "results.json").read_text())["settings"]
    assert settings["stage2"]["iwb"]["training"]["lr"] == 0.02
    assert settings["stage2"]["iwb"]["training"]["sampler"] == "instance_balanced"
    assert settings["stage1"]["epochs"] == 1
