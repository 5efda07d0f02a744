"""No function or method in ``ltzoo/`` is longer than :data:`MAX_FUNCTION_LINES` lines, counted
from its ``def`` line to its last line (docstring and comments included), as ``ast`` reports them.
A longer one is split into helpers whose names say what they do."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 80


def long_functions(
    source: str, filename: str, limit: int = MAX_FUNCTION_LINES
) -> List[Tuple[str, str, int]]:
    """``(filename, qualified name, lines)`` of every function in ``source`` longer than ``limit``."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    length = child.end_lineno - child.lineno + 1
                    if length > limit:
                        found.append((filename, name, length))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source, filename), "")
    return found


def test_no_function_in_ltzoo_is_over_the_limit():
    found = []
    for path in sorted((ROOT / "ltzoo").rglob("*.py")):
        found += long_functions(path.read_text(), str(path.relative_to(ROOT)))
    assert not found, (
        f"functions over {MAX_FUNCTION_LINES} lines (split them into helpers):\n"
        + "\n".join(f"  {filename}: {name} ({length} lines)" for filename, name, length in found)
    )


def test_a_long_function_is_found_and_named():
    statements = [f"x{i} = {i}" for i in range(MAX_FUNCTION_LINES)]
    method = "\n".join(["def long_method(self):", *("    " + line for line in statements)])
    source = "def short():\n    return 1\n\n\nclass Holder:\n" + textwrap.indent(method, "    ")
    assert long_functions(source, "synthetic.py") == [
        ("synthetic.py", "Holder.long_method", MAX_FUNCTION_LINES + 1)
    ]
    inner = "\n".join(["def inner():", *("    " + line for line in statements)])
    nested = "def outer():\n" + textwrap.indent(inner, "    ") + "\n    return inner\n"
    assert long_functions(nested, "nested.py") == [
        ("nested.py", "outer", MAX_FUNCTION_LINES + 3),
        ("nested.py", "outer.inner", MAX_FUNCTION_LINES + 1),
    ]
    at_limit = "\n".join(["def at_limit():", *("    " + line for line in statements[1:])])
    assert long_functions(at_limit, "limit.py") == []
