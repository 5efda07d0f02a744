"""The README's install commands, run as written in a fresh virtual environment on a fresh clone:
the first block's two (the package with the tested torch pair, then the test tools), the editable
install, and the install from a git URL (the repository's URL replaced by the clone's ``file://``
URL, since tests have no network). Each leaves
an ``ltzoo`` that imports from where it was installed and whose command line lists the zoo."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
GIT_URL = re.compile(r"git\+https://github\.com/<owner>/ltzoo")


def pip_commands() -> list:
    """Every ``pip install`` of the README's first block and of its Install section."""
    first = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    install = re.search(r"## Install\n\n```text\n(.*?)```", README, re.S).group(1)
    commands = []
    for line in (first + install).splitlines():
        command = line.split("#")[0].split("&&")[0].strip()
        if command.startswith("pip install"):
            commands.append(command)
    return commands


def run(args, cwd: Path) -> str:
    # the new environment sees only what it installed (and the system's packages), never a
    # PYTHONPATH pointing at a source tree
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("install") / "ltzoo"
    run(["git", "clone", "--quiet", str(REPO_ROOT), str(where)], cwd=where.parent)
    return where


def test_readme_lists_the_four_installs():
    """The first block's two (the package, then the test tools), a clone's and a git URL's."""
    commands = pip_commands()
    assert len(commands) == 4
    assert sum(c.endswith(" -e .") for c in commands) == 2
    assert sum(c.endswith(' -e ".[dev]"') for c in commands) == 1
    assert sum(bool(GIT_URL.search(c)) for c in commands) == 1


@pytest.mark.slow
@pytest.mark.parametrize("index", range(4))
def test_readme_install_command_gives_a_working_ltzoo(clone, tmp_path, index):
    command = pip_commands()[index]
    from_git = bool(GIT_URL.search(command))
    # pip's requirement parser wants a host in a git+file URL
    command = GIT_URL.sub(f"git+file://localhost{clone}", command)
    # the environment sees the packages already installed (torch, timm, ...), as a user's does
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
    python, ltzoo = venv / "bin" / "python", venv / "bin" / "ltzoo"
    run([str(python), "-m", *shlex.split(command)], cwd=clone)
    where = Path(
        run([str(python), "-c", "import ltzoo; print(ltzoo.__file__)"], cwd=tmp_path).strip()
    )
    expected = venv if from_git else clone
    assert expected in where.parents, (
        f"{command!r} installed ltzoo at {where}, not under {expected}"
    )
    listed = run([str(ltzoo), "models"], cwd=tmp_path)
    assert "resnet32_iwb" in listed and "resnet32_ce" in listed
