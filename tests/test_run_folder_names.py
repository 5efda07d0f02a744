"""The run folder's file names have one home: outside ``ltzoo/run_folder.py``, no module of ``ltzoo/``
spells one of them as a string literal in code; it imports the constant instead. Docstrings may name
the files (they are prose); every other string constant counts, by exact value, read with ``ast``."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path
from typing import List, Set, Tuple

from ltzoo import run_folder

ROOT = Path(__file__).resolve().parents[1]
CONSTANTS = (
    "CONFIG",
    "TIMM_CONFIG",
    "MODEL",
    "RESULTS",
    "HEADS_DIR",
    "HEADS_TABLE",
    "SHARED_ENCODER",
    "LOG_CSV",
    "LOG_JSONL",
    "CHECKPOINTS",
    "CALIBRATION",
    "MANIFEST",
)
HOME = ROOT / "ltzoo" / "run_folder.py"


def run_folder_names() -> Set[str]:
    """Every name of :data:`CONSTANTS` and each part of one that is a path (``heads/heads.json``
    also counts as ``heads.json``)."""
    names = set()
    for constant in CONSTANTS:
        value = getattr(run_folder, constant)
        names |= {value, *value.split("/")}
    return names


def docstrings(tree: ast.AST) -> Set[int]:
    """``id`` of each docstring node: the leading string statement of a module, class or function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def spelled_names(source: str, filename: str, names: Set[str]) -> List[Tuple[str, int, str]]:
    """``(filename, line, name)`` of every string constant in ``source``'s code equal to one of
    ``names`` (docstrings left out)."""
    tree = ast.parse(source, filename)
    skip = docstrings(tree)
    return sorted(
        (filename, node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in names
        and id(node) not in skip
    )


def test_no_module_but_run_folder_spells_a_run_folder_file_name():
    names = run_folder_names()
    found = []
    for path in sorted((ROOT / "ltzoo").rglob("*.py")):
        if path != HOME:
            found += spelled_names(path.read_text(), str(path.relative_to(ROOT)), names)
    assert not found, (
        "run-folder file names spelled outside ltzoo/run_folder.py (import its constant):\n"
        + "\n".join(f"  {filename}:{line}: {name!r}" for filename, line, name in found)
    )


def test_a_spelled_name_is_found_and_a_docstring_is_not():
    source = textwrap.dedent(
        '''
        """Reads config.yaml."""


        class Reader:
            """Reads results.json."""

            def read(self, run_dir):
                """Reads heads.json."""
                table = run_dir / "heads" / "heads.json"
                return run_dir / "results.json", table, f"{run_dir} has no log.csv"


        NOTE = "config.yaml"
        "log.jsonl"
        '''
    )
    assert spelled_names(source, "synthetic.py", run_folder_names()) == [
        ("synthetic.py", 10, "heads"),
        ("synthetic.py", 10, "heads.json"),
        ("synthetic.py", 11, "results.json"),
        ("synthetic.py", 14, "config.yaml"),
        ("synthetic.py", 15, "log.jsonl"),
    ]


def test_the_names_are_the_run_folders():
    names = run_folder_names()
    assert {"config.yaml", "config.json", "model.safetensors", "results.json"} <= names
    assert {"heads", "heads.json", "calibration.json", "log.jsonl", "ltzoo_run.json"} <= names
