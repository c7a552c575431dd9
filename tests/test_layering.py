"""DESIGN.md §3: arrows point one way. channels → clarion; flows → channels, clarion; faces on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

FORBIDDEN = {
    "clarion": {"channels", "flows", "faces", "prefect"},
    "channels": {"flows", "faces", "prefect"},
    "flows": {"faces"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("from flows.incident import declare\nimport channels.email\n")
    assert imported_packages(sample) == {"flows", "channels"}


# ── no import cycles ───────────────────────────────────────────────────────────────────────────────

PACKAGES = ("clarion", "channels", "flows", "faces")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load_time_imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules ``path`` imports when it is loaded: module-level imports, in ``if`` and
    ``try`` blocks too, but not those under ``TYPE_CHECKING`` nor inside functions (those run later,
    which is how a module defers an import that would close a loop)."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body)
    return found & known


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                strong(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strong(node)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for package in packages for p in (root / package).rglob("*.py")}
    return {name: load_time_imports(path, set(paths)) for name, path in paths.items()}


def test_no_module_imports_itself_back_when_loaded() -> None:
    assert cycles(import_graph(ROOT, PACKAGES)) == []


def test_the_cycle_check_sees_a_loop_and_not_a_deferred_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("import pkg.c\nthing = 1\n")
    (package / "c.py").write_text("from pkg import a\n")
    (package / "d.py").write_text("def later():\n    from pkg import a\n")
    (package / "e.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n"
    )
    graph = import_graph(tmp_path, ("pkg",))
    graph["pkg.d"] |= {"pkg.e"}  # d -> e -> (d only for the type checker): no loop at load time
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
