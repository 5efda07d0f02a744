"""The methods registry: one file per method, read by the zoo without the training engine."""

import subprocess
import sys

import pytest

import ltzoo
from ltzoo.errors import ConfigError
from ltzoo.methods import stage2_methods, zoo_methods
from ltzoo.registry import METHODS
from ltzoo.train.config import TRAINING_KEYS, Stage2Config
from ltzoo.train.stage2 import resolve


def test_the_zoo_imports_without_the_training_engine():
    code = (
        "import sys, ltzoo; ltzoo.create_model('resnet32_crt', num_classes=10);"
        "print(sorted(m for m in sys.modules if m.startswith('ltzoo.train')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_registry_holds_stage1_and_stage2_methods():
    assert set(ltzoo.list_methods()) == set(stage2_methods()) | {"ce"}
    assert "experts" in stage2_methods() and "experts" not in zoo_methods()
    for name in ltzoo.list_methods():
        spec = METHODS.get(name)
        assert spec.name == name and spec.paper and spec.head
        assert set(spec.defaults) | set(spec.defining) <= set(TRAINING_KEYS) | {"retrain"}


def test_ce_is_not_a_stage2_method():
    with pytest.raises(ConfigError, match="unknown stage-2 method 'ce'.*crt"):
        resolve("ce", Stage2Config(methods=["ce"]))
