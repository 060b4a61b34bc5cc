"""The import structure: the import-linter contracts hold, no module takes part in an import cycle
(function-level imports included), and the lazy top-level package stays cheap and complete."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Mapping, Set
from pathlib import Path
from types import ModuleType

import grimp
import pytest

import steerlens

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "src" / "steerlens" / "__init__.pyi"


def strongly_connected(edges: Mapping[str, Set[str]]) -> list[list[str]]:
    """Components of more than one node of a directed graph (Tarjan, iterative): its cycles.

    Examples
    --------
    >>> strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}})
    [['a', 'b']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return sorted(found)


def runtime_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Every module's run-time imports, plus the packages those imports initialise on the way
    (``import a.b.c`` runs ``a/b/__init__.py`` unless the importer already sits inside ``a.b``)."""

    def packages(module: str) -> set[str]:
        parts = module.split(".")
        return {".".join(parts[:i]) for i in range(2, len(parts))}

    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        out: set[str] = set()
        for imported in graph.find_modules_directly_imported_by(module):
            out |= {imported} | (packages(imported) - packages(module) - {module})
        edges[module] = out
    return edges


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # TYPE_CHECKING imports (render/ naming MorphResult in annotations) never run: excluded, as
    # in pyproject.toml's [tool.importlinter]
    return grimp.build_graph("steerlens", cache_dir=None, exclude_type_checking_imports=True)


def test_cycle_finder_finds_cycles_and_only_cycles():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e", "d"}, "f": {"g"}}
    assert strongly_connected(edges) == [["a", "b", "c"]]
    assert strongly_connected({"x": {"y"}, "y": {"z"}}) == []


def test_no_import_cycles_function_level_imports_included(graph):
    # the graph holds imports made inside functions (MorphResult.save imports render when called)
    assert graph.direct_import_exists(importer="steerlens.result", imported="steerlens.render")
    assert strongly_connected(runtime_edges(graph)) == []


def test_import_linter_contracts_pass():
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in out.stdout


def test_modules_take_only_the_version_from_the_top_level_package(graph):
    """The lazy package imports nothing the contracts can see, so a module reaching the API through
    ``steerlens.morph`` would hide an arrow: inside the package, import from the defining module."""
    lines = {
        (importer, detail["line_contents"])
        for importer in graph.find_modules_that_directly_import("steerlens")
        for detail in graph.get_import_details(importer=importer, imported="steerlens")
    }
    assert {line for _, line in lines} <= {"from steerlens import __version__"}, sorted(lines)


def test_import_steerlens_loads_no_submodule_and_no_torch():
    """Only the stdlib-only CPU sampler (the thread policy's first reading) comes with it."""
    code = ("import sys, steerlens; print(' '.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('steerlens', 'torch', 'numpy'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=True)
    assert out.stdout.split() == ["steerlens", "steerlens.cpu_load"]


def test_public_names_come_from_the_stub_and_resolve_to_functions_and_classes():
    tree = ast.parse(STUB.read_text())
    stub_all = next(ast.literal_eval(node.value) for node in tree.body
                    if isinstance(node, ast.Assign) and node.targets[0].id == "__all__")
    assert sorted(steerlens.__all__) == sorted(stub_all)
    assert set(stub_all) <= set(dir(steerlens))
    for name in stub_all:
        value = getattr(steerlens, name)
        assert not isinstance(value, ModuleType), name
        assert name == "__version__" or callable(value), name
    from steerlens import MorphConfig, morph

    assert morph is steerlens.morph and morph.__module__ == "steerlens.api"
    assert MorphConfig is steerlens.MorphConfig
    with pytest.raises(AttributeError):
        steerlens.no_such_name  # noqa: B018
