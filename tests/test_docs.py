"""The documentation site: it builds with warnings as errors, and its reference pages are generated
from the code (every setting, command and recipe appears, so none can be left out or drift)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ltzoo.cli import build_parser
from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "docs"))
import reference  # noqa: E402  (docs/reference.py: the generated pages)


def test_settings_reference_lists_every_setting_with_type_default_and_choices():
    from ltzoo.train.config import RunConfig

    page = reference.settings_reference()
    keys = [key for key, _ in reference.settings_fields()]
    assert len(keys) == len(set(keys)) > 60
    sections = page.split("### ")
    for key in keys:
        section, _, name = key.rpartition(".")
        heading = f"`{section}.*`" if section else "Top level"
        block = next(s for s in sections if s.startswith(heading))
        assert f"| `{name}` |" in block, key
        assert not block.split(f"| `{name}` |", 1)[1].split("\n", 1)[0].endswith("|  |"), key
    # a choice field lists what the validator allows; a bounded number its bounds
    assert "| `val_source` | choice | `fraction` | `fraction`, `leftover` |" in page
    assert "| `val_per_class` | int | `20` | >= 1 |" in page
    assert RunConfig.model_fields["data"].annotation.model_fields["val_per_class"].default == 20


def test_cli_reference_lists_every_command_and_argument():
    page = reference.cli_reference()
    for name, _, sub in reference._subcommands(build_parser()):
        assert f"### `ltzoo {name}`" in page, name
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in page, (name, option)
    assert "#### `ltzoo release build`" in page and "#### `ltzoo data describe`" in page


def test_recipes_reference_holds_every_recipe():
    page = reference.recipes_reference()
    recipes = sorted((REPO_ROOT / "recipes").rglob("*.yaml"))
    assert recipes
    for path in recipes:
        assert (
            f"#### `{path.name}`" in page and f"### `{path.parent.relative_to(REPO_ROOT)}/`" in page
        )


@pytest.mark.slow
def test_site_builds_with_warnings_as_errors(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    settings = (site / "reference" / "settings" / "index.html").read_text()
    assert "val_per_class" in settings and "data.*" in settings and "<!-- ltzoo:" not in settings
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "create_model" in api and "tau_norm" in api.lower()
    # docstrings' Sphinx roles show as the name alone, never as raw ":func:" text
    assert "<code>confidence_bins</code>" in api and "<code>UnreadableImageError</code>" in api
    assert not re.search(r":(class|func|meth|mod|data):", api)
    assert "resnet32_iwb" in (site / "reference" / "models" / "index.html").read_text()
