"""Every option of every subcommand, walked through its bad values: numbers at 0, negative, nan, inf
and huge; strings empty; a folder where a file is read; a file where a folder is; an input named as
an output. Each is refused before any work starts: exit status 2, one line on stderr naming the
option, and every file under the test's folder byte-identical (nothing created, nothing removed).

The options are read from ltzoo's own argument parser, so an option added later is walked too:
``test_every_option_has_a_kind`` fails until it is given one in ``KINDS``. Values an option
legitimately takes (``--tau 0`` turns tau-normalisation off) are listed in ``ALLOWED`` with the
reason, and are not probed.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from PIL import Image

from ltzoo.cli import build_parser, main
from tests.conftest import snapshot as _snapshot
from tests.test_hub_local import make_run_dir

# ---- the bases: a command line that passes every check, per subcommand --------------------------
# "@dest:PLACE" is a positional argument (probed under its dest); PLACE names a path of PLACES.
PLACES = {
    "RUN": "run",  # a run folder (ltzoo's own save_run, digits-shaped)
    "IMG": "x.png",
    "OUT": "out",  # not there yet
    "OUT.jsonl": "out.jsonl",
    "STORE": "store",  # an empty release store
    "BUILT": "built",  # an empty folder of built releases
    "TXT": "notes.txt",  # a text file that is no recipe, image or folder
    "DIR": "folder",  # an empty folder
    "MISSING": "missing",
}
BASES: Dict[str, List[str]] = {
    "train": ["train", "--output-dir", "OUT", "--set", "stage1.epochs=1"],
    "eval": ["eval", "@run_dir:RUN"],
    "calibrate": ["calibrate", "@run_dir:RUN"],
    "data describe": ["data", "describe", "@name:digits_lt"],
    "data check": ["data", "check", "@name:imagenet_lt", "--root", "DIR"],
    "models": ["models", "@pattern:*"],
    "push": ["push", "@run_dir:RUN", "--repo-id", "org/name", "--save-dir", "OUT"],
    "predict": ["predict", "@model:RUN", "@images:IMG", "--json", "OUT.jsonl"],
    "tune": ["tune", "@run_dir:", "--param", "stage1.lr=loguniform:1e-3:0.1"]
    + ["--output-dir", "OUT", "--trials", "1"],
    "report": ["report", "@run_dirs:RUN", "--output-dir", "OUT"],
    "release add": ["release", "add", "@run_dirs:RUN", "--store", "STORE"],
    "release build": ["release", "build", "@out_dir:OUT", "--store", "STORE"],
    "release push": ["release", "push", "@out_dir:BUILT", "--org", "ltzoo-tests"],
    "release list": ["release", "list", "--store", "STORE"],
}

# What each value-taking option is, which decides the bad values it meets.
NUMBER, TEXT, IN_FILE, IN_DIR, OUT_FILE, OUT_DIR, CHOICE, OVERRIDE = (
    "number",
    "text",
    "input file",
    "input folder",
    "output file",
    "output folder",
    "choice",
    "recipe override",
)
KINDS: Dict[str, str] = {
    "train --config": IN_FILE,
    "train --set": OVERRIDE,
    "train --output-dir": OUT_DIR,
    "train --resume": IN_FILE,
    "eval run_dir": IN_DIR,
    "eval --data-root": IN_DIR,
    "eval --tta": CHOICE,
    "calibrate run_dir": IN_DIR,
    "calibrate --target-prior": TEXT,
    "calibrate --tau": NUMBER,
    "calibrate --data-root": IN_DIR,
    "data describe name": TEXT,
    "data describe --root": IN_DIR,
    "data describe --imb": NUMBER,
    "data describe --profile": CHOICE,
    "data describe --plot": OUT_FILE,
    "data check name": TEXT,
    "data check --root": IN_DIR,
    "data check --split-dir": IN_DIR,
    "models pattern": TEXT,
    "push run_dir": IN_DIR,
    "push --repo-id": TEXT,
    "push --revision": TEXT,
    "push --commit-message": TEXT,
    "push --save-dir": OUT_DIR,
    "predict model": IN_DIR,
    "predict images": IN_FILE,
    "predict --checkpoint": IN_FILE,
    "predict --topk": NUMBER,
    "predict --json": OUT_FILE,
    "predict --batch-size": NUMBER,
    "predict --device": TEXT,
    "predict --input-size": NUMBER,
    "predict --mean": NUMBER,
    "predict --std": NUMBER,
    "predict --crop-pct": NUMBER,
    "predict --interpolation": TEXT,
    "tune run_dir": IN_DIR,
    "tune --config": IN_FILE,
    "tune --set": OVERRIDE,
    "tune --param": TEXT,
    "tune --objective": TEXT,
    "tune --method": TEXT,
    "tune --trials": NUMBER,
    "tune --storage": TEXT,
    "tune --study-name": TEXT,
    "tune --output-dir": OUT_DIR,
    "tune --pruner": CHOICE,
    "tune --prune-on": TEXT,
    "tune --prune-warmup": NUMBER,
    "tune --prune-startup": NUMBER,
    "tune --startup-trials": NUMBER,
    "tune --seed": NUMBER,
    "tune --timeout": NUMBER,
    "tune --heartbeat": NUMBER,
    "tune --posthoc": TEXT,
    "tune --data-root": IN_DIR,
    "report run_dirs": IN_DIR,
    "report --output-dir": OUT_DIR,
    "report --labels": TEXT,
    "report --methods": TEXT,
    "report --study": TEXT,
    "report --study-name": TEXT,
    "report --data-root": IN_DIR,
    "report --title": TEXT,
    "release add run_dirs": IN_DIR,
    "release add --tag": TEXT,
    "release add --record": IN_FILE,
    "release add --description": TEXT,
    "release add --data-root": IN_DIR,
    "release add --target-prior": CHOICE,
    "release add --store": OUT_DIR,
    "release build out_dir": OUT_DIR,
    "release build --pattern": TEXT,
    "release build --org": TEXT,
    "release build --store": IN_DIR,
    "release push out_dir": IN_DIR,
    "release push --org": TEXT,
    "release push --pattern": TEXT,
    "release list --store": IN_DIR,
}

PROBES = {
    NUMBER: ["0", "-1", "nan", "inf", "1e30"],
    TEXT: [""],
    CHOICE: ["", "bogus"],
    IN_FILE: ["", "DIR", "MISSING"],
    IN_DIR: ["", "TXT", "MISSING"],
    OUT_FILE: ["", "DIR", "IMG"],
    OUT_DIR: ["", "TXT", "RUN"],
}

# Bad values for a recipe field through --set, on every numeric field of the default recipe.
OVERRIDE_PROBES = ["nan", "inf", "-inf", "1e400"]


def _numeric_fields() -> List[str]:
    """The dotted keys of the default recipe whose value is a number (``stage1.lr``, ...)."""
    from ltzoo.train.config import load_config, to_dict

    keys = []

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, prefix + [str(key)])
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            keys.append(".".join(prefix))

    walk(to_dict(load_config(None, [])), [])
    return keys


# (option, value): a value the option legitimately takes, with why; it is not probed.
ALLOWED: Dict[Tuple[str, str], str] = {
    ("calibrate --tau", "0"): "tau 0 leaves the classifier's norms as they are (Kang et al.)",
    ("models pattern", ""): "an empty pattern lists every model, as '*' does",
    ("tune --seed", "0"): "seed 0 is a seed",
    ("tune --prune-warmup", "0"): "prune from the first epoch",
    ("tune --prune-startup", "0"): "prune from the first trial",
    ("tune --startup-trials", "0"): "no random start-up trials",
    ("tune --heartbeat", "0"): "no heartbeat (the documented way to turn it off)",
    ("predict --mean", "0"): "a mean of 0 is a mean",
    (
        "predict images",
        "MISSING",
    ): "named on stderr and skipped with exit status 1, as cp and cat do",
    ("data describe --plot", "IMG"): "a plot replaces the picture of that name (no input there)",
    ("report --title", ""): "no title",
    (
        "release build out_dir",
        "RUN",
    ): "build writes only <arch>.<tag> folders into OUT; OUT is no input",
}


def _options() -> List[Tuple[str, argparse.Action]]:
    """(``"cmd --opt"`` or ``"cmd dest"``, action) for every value-taking option of the CLI."""
    found = []

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, prefix + [name])
            elif action.nargs != 0 and prefix:
                name = action.option_strings[-1] if action.option_strings else action.dest
                found.append((" ".join(prefix + [name]), action))

    walk(build_parser(), [])
    return found


OPTIONS = _options()


def test_every_option_has_a_kind():
    """A new option is walked only once it says what it is."""
    assert sorted(name for name, _ in OPTIONS) == sorted(KINDS)
    assert {" ".join(name.split()[:-1]) for name in KINDS} <= set(BASES)


def _cases():
    cases = []
    for name, action in OPTIONS:
        kind = KINDS.get(name)
        if kind == OVERRIDE:
            for key in _numeric_fields():
                for bad in OVERRIDE_PROBES:
                    value = f"{key}={bad}"
                    cases.append(pytest.param(name, value, id=f"{name} {value}"))
            continue
        for value in PROBES.get(kind, []):
            if (name, value) not in ALLOWED:
                cases.append(pytest.param(name, value, id=f"{name}={value or 'EMPTY'}"))
    return cases


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("space")
    make_run_dir(root / "run")
    Image.new("L", (8, 8), 128).save(root / "x.png")
    (root / "notes.txt").write_text("not a recipe, an image or a folder\n")
    for folder in ("folder", "store", "built"):
        (root / folder).mkdir()
    return root


def _argv(name: str, value: str, work: Path) -> List[str]:
    """The base command line of ``name``'s subcommand with ``value`` in ``name``'s place."""
    words = name.split()
    command, option = " ".join(words[:-1]), words[-1]
    places = {key: str(work / path) for key, path in PLACES.items()}
    value = places.get(value, value)
    action = dict(OPTIONS)[name]
    argv = []
    for word in BASES[command]:
        slot, _, given = word[1:].partition(":") if word.startswith("@") else (None, "", word)
        if slot == option:
            argv.append(value)
        elif given or not slot:  # "@run_dir:" gives no such positional in the base
            argv.append(places.get(given, given))
    if not action.option_strings:
        return argv
    width = action.nargs if isinstance(action.nargs, int) else 1
    if option in argv:  # the base gives it: replace its value
        at = argv.index(option)
        return argv[: at + 1] + [value] * width + argv[at + 1 + width :]
    return argv + [option] + [value] * width


@pytest.mark.parametrize("name, value", _cases())
def test_bad_value_is_refused_in_one_line_and_nothing_changes(
    name, value, world, tmp_path, capsys, monkeypatch
):
    work = Path(shutil.copytree(world, tmp_path / "w"))
    monkeypatch.chdir(work)
    argv = _argv(name, value, work)
    before = _snapshot(work)
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    option = name.split()[-1]
    names = {option, option.replace("-", "_"), option.lstrip("-").replace("-", "_")}
    if KINDS[name] == OVERRIDE:  # the recipe field is named, not --set
        names = {value.partition("=")[0]}
    elif not option.startswith("-"):  # a positional: its value may name it
        names.add(repr(argv[argv.index(_value(value, work))]))
    assert any(n in err for n in names), (argv, err)
    assert _snapshot(work) == before, argv


def _value(value: str, work: Path) -> str:
    return str(work / PLACES[value]) if value in PLACES else value
