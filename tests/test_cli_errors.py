"""Bad input through the real CLI: exit status 2, one line on stderr naming the input, no
traceback, nothing written. Any other exception is a bug and keeps its traceback."""

import pytest

from ltzoo.cli import main


def _snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


BAD_INPUTS = [
    (["train", "--set", "stage1.lr=-1"], "stage1.lr=-1 is not allowed"),
    (["train", "--set", "stage1.weight_decay=-5e-4"], "stage1.weight_decay=-0.0005 is not allowed"),
    (["train", "--set", "stage1.epochs=-2"], "stage1.epochs=-2 is not allowed"),
    (["train", "--set", "stage2.lr=0"], "stage2.lr=0 is not allowed"),
    (["train", "--set", "stage1.loss=ldam", "--set", "stage1.loss_kwargs={max_m: -1}"], "stage1.loss_kwargs="),
    (["train", "--set", "stage1.schedule=multistep"], "stage1.milestones=[] is not allowed"),
    (["train", "--set", "data.imbalance=0"], "data.imbalance=0 is not allowed"),
    (["train", "--set", "stage2.method_options={iwb: {lam: -1}}"], "stage2.method_options.iwb"),
    (["train", "--set", "stage1.lr=[0.1"], "--set 'stage1.lr=[0.1': the value is not valid YAML"),
]


@pytest.mark.parametrize("argv, names", BAD_INPUTS, ids=[" ".join(a[1:]) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_nothing_written(argv, names, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*argv, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and names in err, err
    assert _snapshot(out) == {}


def test_bad_yaml_recipe_names_file_and_line(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("stage1:\n  epochs: 2\n lr: 0.1\n")
    assert main(["train", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml' is not valid YAML at line 3" in err and err.count("\n") == 1


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    import ltzoo.train.run

    def broken(cfg, **kwargs):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(ltzoo.train.run, "run", broken)
    with pytest.raises(ValueError, match="an internal inconsistency"):
        main(["train", "--output-dir", str(tmp_path / "run")])
