"""make_accelerator: each run gets the precision, accumulation and torch.compile settings its
config asks for, even after another run in the same process asked for others."""

import pytest

from ltzoo.train.config import ConfigError, load_config
from ltzoo.train.run import make_accelerator


def test_a_second_run_in_one_process_gets_its_own_settings(tmp_path):
    first = make_accelerator(load_config(overrides=[f"output_dir={tmp_path / 'a'}"]))
    assert (
        first.mixed_precision,
        first.gradient_accumulation_steps,
        first.state.dynamo_plugin.backend.value,
    ) == ("no", 1, "NO")
    second = make_accelerator(
        load_config(
            overrides=[
                f"output_dir={tmp_path / 'b'}",
                "mixed_precision=bf16",
                "engine.grad_accumulation=2",
                "engine.compile=true",
                "engine.compile_mode=reduce-overhead",
            ]
        )
    )
    assert (
        second.mixed_precision,
        second.gradient_accumulation_steps,
        second.gradient_state.num_steps,
    ) == ("bf16", 2, 2)
    assert (second.state.dynamo_plugin.backend.value, second.state.dynamo_plugin.mode) == (
        "INDUCTOR",
        "reduce-overhead",
    )
    third = make_accelerator(load_config(overrides=[f"output_dir={tmp_path / 'c'}"]))
    assert (
        third.mixed_precision,
        third.gradient_state.num_steps,
        third.state.dynamo_plugin.backend.value,
    ) == ("no", 1, "NO")


def test_compile_mode_needs_compile(tmp_path):
    cfg = load_config(overrides=[f"output_dir={tmp_path}", "engine.compile_mode=reduce-overhead"])
    with pytest.raises(
        ConfigError,
        match=r"engine.compile_mode='reduce-overhead' is not allowed with engine.compile=false",
    ):
        make_accelerator(cfg)
    with pytest.raises(
        ConfigError,
        match=r"engine.compile_mode='cudagraphs' is not allowed: input should be 'default', 'reduce-overhead'",
    ):
        load_config(overrides=["engine.compile=true", "engine.compile_mode=cudagraphs"])


def test_bf16_on_a_cpu_without_native_bf16_warns(tmp_path, monkeypatch):
    import warnings

    from ltzoo.train import run

    (tmp_path / "with").write_text("flags\t\t: fpu sse2 avx512f avx512_bf16 avx512vl\n")
    (tmp_path / "amx").write_text("flags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    (tmp_path / "without").write_text("flags\t\t: fpu sse2 avx2 avx512f\n")
    assert run.cpu_computes_bf16(tmp_path / "with") and run.cpu_computes_bf16(tmp_path / "amx")
    assert not run.cpu_computes_bf16(tmp_path / "without")
    assert not run.cpu_computes_bf16(tmp_path / "missing")
    cfg = load_config(overrides=[f"output_dir={tmp_path}", "device=cpu", "mixed_precision=bf16"])
    monkeypatch.setattr(run, "cpu_computes_bf16", lambda: False)
    with pytest.warns(UserWarning, match=r"mixed_precision=bf16 on a CPU without native bf16"):
        make_accelerator(cfg)
    monkeypatch.setattr(run, "cpu_computes_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_accelerator(cfg)
    make_accelerator(load_config(overrides=[f"output_dir={tmp_path}"]))  # leave fp32 behind
