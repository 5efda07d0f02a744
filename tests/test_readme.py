"""The README's promises: its first two commands, the generated model table, the default recipe."""

import re
import shlex

from ltzoo.cli import main
from ltzoo.model_table import model_table_markdown
from ltzoo.train.config import RunConfig, load_config, load_yaml, to_dict
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_readme_commands_train_the_default_recipe_and_run_what_ci_runs(capsys):
    """The README's first block: `ltzoo train` with no arguments is the embedded default recipe (the
    session's ``digits_run`` trains it), and the test command is the one `.ci/run` runs."""
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    commands = [shlex.split(line.split("&&")[-1]) for line in block]
    train = next(c for c in commands if c[0] == "ltzoo")
    assert main([*train[1:], "--print-config"]) == 0
    assert load_yaml(capsys.readouterr().out) == to_dict(RunConfig())
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    tests = [line for line in block if "pytest" in line]
    assert len(tests) == 1 and tests[0] in ci


def test_model_table_is_generated_from_the_registry():
    assert model_table_markdown() in README


def test_default_recipe_file_is_the_embedded_default():
    assert load_config(REPO_ROOT / "recipes" / "digits_lt" / "two_stage.yaml") == RunConfig()


def test_reproduction_tables_are_the_committed_ones():
    """The README's CIFAR-100-LT and CIFAR-10-LT ResNet-32 tables are the files
    benchmarks/reproduce.py drew from the records."""
    for dataset in ("cifar100_lt", "cifar10_lt"):
        table = (REPO_ROOT / "benchmarks" / "results" / dataset / "resnet32.md").read_text()
        assert table in README, dataset


def test_timm_backbone_snippet_prints_what_it_says(capsys):
    """The README's "ltzoo model as a timm backbone" snippet runs and prints its comments."""
    part = README.split("### An ltzoo model as a timm backbone", 1)[1]
    code = re.search(r"```python\n(.*?)```", part, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    expected = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    assert capsys.readouterr().out.splitlines() == expected
