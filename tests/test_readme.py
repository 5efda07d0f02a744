"""The README's promises: its first two commands, the generated model table, the default recipe."""

import re

from ltzoo.model_table import model_table_markdown
from ltzoo.train.config import RunConfig, load_config
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert block[0].endswith("&& ltzoo train")
    assert "pytest" in block[1]
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert block[1] in ci


def test_model_table_is_generated_from_the_registry():
    assert model_table_markdown() in README


def test_default_recipe_file_is_the_embedded_default():
    assert load_config(REPO_ROOT / "recipes" / "digits_lt" / "two_stage.yaml") == RunConfig()


def test_reproduction_table_is_the_committed_one():
    """The README's CIFAR-100-LT ResNet-32 table is benchmarks/results/cifar100_lt/resnet32.md, as
    benchmarks/reproduce.py drew it from the records."""
    table = (REPO_ROOT / "benchmarks" / "results" / "cifar100_lt" / "resnet32.md").read_text()
    assert table in README
