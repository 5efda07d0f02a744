"""ltzoo's module import graph, read from the source: no cycles, and imports run one way
(interface -> engine -> zoo/heads/losses/data/evaluation/hub -> registry/errors), as DESIGN.md says.

Every ``import ltzoo.x`` / ``from ltzoo.x import y`` counts, at module level or inside a function:
an import hidden in a function to dodge a cycle is still a cycle. ``from ltzoo.x import y`` is an
edge to ``ltzoo.x.y`` when that is a module, else to ``ltzoo.x``; a package's ``__init__`` is the
module ``ltzoo.x`` and its re-exports are edges too.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]

LOWER = (
    "ltzoo.models",
    "ltzoo.heads",
    "ltzoo.losses",
    "ltzoo.data",
    "ltzoo.evaluation",
    "ltzoo.hub",
    "ltzoo.model_card",
    "ltzoo.registry",
    "ltzoo.errors",
    "ltzoo.atomic",
    "ltzoo.run_folder",
    "ltzoo.methods",
    "ltzoo.factory",
    "ltzoo.inference",
    "ltzoo.model_table",
    "ltzoo.release",
    "ltzoo.version",
)
# `python -m ltzoo.train` / `accelerate launch -m ltzoo.train` (ltzoo.train.__main__) is a command-line
# entry point: an interface module, in the engine's folder so that its documented name works.
INTERFACE = (
    "ltzoo.tuning",
    "ltzoo.reporting",
    "ltzoo.cli",
    "ltzoo.cli_types",
    "ltzoo.release_cli",
    "ltzoo.__main__",
    "ltzoo.train.__main__",
)
ENGINE = ("ltzoo.train",)


def module_files(root: Path = ROOT) -> Dict[str, Path]:
    """``{dotted module name: file}`` of every module of the ``ltzoo`` package (packages by ``__init__``)."""
    modules = {}
    for path in sorted((root / "ltzoo").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph(root: Path = ROOT) -> Dict[str, Set[str]]:
    """``{module: the ltzoo modules it imports}`` from every import statement in the source."""
    modules = module_files(root)

    def known(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {known(a.name) for a in node.names if a.name.split(".")[0] == "ltzoo"}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                if base.split(".")[0] != "ltzoo":
                    continue
                targets |= {
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else known(base)
                    for a in node.names
                }
        graph[name] = targets - {name}
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_graph_reader_sees_imports_inside_functions_and_relative_ones(tmp_path):
    pkg = tmp_path / "ltzoo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from ltzoo.sub import b\n    return b\n")
    (pkg / "sub" / "b.py").write_text("import ltzoo.sub.a.missing\nfrom ltzoo import errors\n")
    (pkg / "errors.py").write_text("")
    graph = import_graph(tmp_path)
    assert graph["ltzoo.sub"] == {"ltzoo.sub.a"}
    assert graph["ltzoo.sub.a"] == {"ltzoo.sub.b"}
    assert graph["ltzoo.sub.b"] == {"ltzoo.sub.a", "ltzoo.errors"}
    assert cycles(graph) == [["ltzoo.sub.a", "ltzoo.sub.b"]]


def test_no_import_cycles_among_ltzoo_modules():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize(
    "lower, upper",
    [(LOWER, ENGINE + INTERFACE), (ENGINE, INTERFACE)],
    ids=["zoo-and-data-below-engine-and-interface", "engine-below-interface"],
)
def test_imports_run_one_way(lower, upper):
    graph = import_graph()
    upward = sorted(
        f"{m} -> {t}"
        for m, targets in graph.items()
        if within(m, lower) and not within(m, upper)  # an upper module in a lower one's folder
        for t in targets
        if within(t, upper)
    )
    assert not upward, "upward imports: " + ", ".join(upward)


def test_every_module_has_a_layer():
    """Each module of ltzoo is in exactly one layer (the package's ``__init__``, which re-exports the
    public names, is the one exception), so the one-way test above sees all of them."""
    layers = {"lower": LOWER, "engine": ENGINE, "interface": INTERFACE}
    unplaced, doubled = [], []
    for module in import_graph():
        if module == "ltzoo":
            continue
        placed = [n for n, prefixes in layers.items() if within(module, prefixes)]
        if module.startswith("ltzoo.train.__main__"):
            placed = ["interface"]  # the entry point in the engine's folder, declared above
        if not placed:
            unplaced.append(module)
        elif len(placed) > 1:
            doubled.append(f"{module}: {placed}")
    assert not unplaced, f"modules in no layer: {unplaced}"
    assert not doubled, f"modules in two layers: {doubled}"
