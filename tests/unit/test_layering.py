"""The architecture guard: imports flow one way, down the layers, and never in a cycle.

Every import of a stravasync module counts, at module level, inside a function and
under ``if TYPE_CHECKING:`` alike. A new module must be placed in :data:`LAYERS`
before the suite passes, so the order cannot slide back silently.
"""

from __future__ import annotations

import functools
import re

import pytest

from benchmarks.module_graph import graph

#: Lowest first, one set per layer, named by top-level unit below ``stravasync``. A
#: module may import only units of lower layers; inside a package its modules may import
#: each other, as long as no cycle forms. The package docstring draws the same list
#: (``test_the_docstring_draws_these_layers`` holds the two together).
LAYERS: list[set[str]] = [
    {"stravasync", "errors", "models", "fsutil", "logs", "emulator"},
    {"config", "validate"},
    {"state"},
    {"strava", "intake"},
    {"intervals"},
    {"upload"},
    {"stack"},
    {"household"},
    {"owner"},
    {"service"},
    {"demo"},
    {"cli"},
    {"__main__"},
]


@functools.cache
def _parsed() -> dict[str, frozenset[str]]:
    """The package's import graph, parsed once per run (each parse reads every module)."""
    return {module: frozenset(deps) for module, deps in graph().items()}


def current_graph() -> dict[str, set[str]]:
    """A copy of the package's import graph that a test may change."""
    return {module: set(deps) for module, deps in _parsed().items()}


def _unit(module: str) -> str:
    """The layer unit of a module: its top-level name below ``stravasync``."""
    if module == "stravasync":
        return module
    return module.removeprefix("stravasync.").split(".")[0]


def _rank(module: str) -> int:
    unit = _unit(module)
    for rank, layer in enumerate(LAYERS):
        if unit in layer:
            return rank
    raise KeyError(unit)


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Every import that points sideways or up, and every module in no layer."""
    found: list[str] = []
    for module, deps in edges.items():
        try:
            rank = _rank(module)
        except KeyError:
            found.append(f"{module} is in no layer: add it to LAYERS")
            continue
        for dep in sorted(deps):
            if _unit(dep) == _unit(module):
                continue  # inside one package: the cycle check covers it
            try:
                if _rank(dep) >= rank:
                    found.append(f"{module} imports {dep}, which is not below it")
            except KeyError:
                found.append(f"{dep} is in no layer: add it to LAYERS")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (each as a path that comes back to its start)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                found.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_imports_flow_down_the_layers() -> None:
    """No module imports one of its own layer or a higher one."""
    assert [] == violations(current_graph())


def test_no_import_cycles() -> None:
    """No chain of imports comes back to where it started, inside packages too."""
    assert [] == cycles(current_graph())


@pytest.mark.parametrize(("module", "upward"), [
    ("stravasync.state.store", "stravasync.upload.engine"),
    ("stravasync.strava.client", "stravasync.intake.ingest"),
    ("stravasync.demo.pipeline", "stravasync.cli.status_cmd"),
    ("stravasync.owner.status", "stravasync.service.daemon"),
])
def test_an_upward_import_is_caught(module: str, upward: str) -> None:
    """A deliberately added upward or sideways import is reported by name."""
    edges = current_graph()
    edges[module] = {*edges[module], upward}
    assert [f"{module} imports {upward}, which is not below it"] == [
        v for v in violations(edges) if upward in v]


def test_a_cycle_inside_a_package_is_caught() -> None:
    """Two modules of one package importing each other form a reported cycle."""
    edges = current_graph()
    edges["stravasync.state.model"] = {*edges["stravasync.state.model"],
                                       "stravasync.state.store"}
    assert any("stravasync.state.model" in c and "stravasync.state.store" in c
               for c in cycles(edges))


def drawn_layers(doc: str) -> list[set[str]]:
    """The layers the package docstring draws: one line each, units before the ``:``."""
    block = doc.split("::", 1)[1].split("\n\n", 2)[1]
    return [{unit.strip() for unit in line.split(":", 1)[0].split(",")}
            for line in block.splitlines() if line.strip()]


def test_the_docstring_draws_these_layers() -> None:
    """The layer list a reader sees in ``stravasync/__init__.py`` is the one enforced here."""
    import stravasync

    assert LAYERS == drawn_layers(stravasync.__doc__ or "")


def test_every_package_says_what_it_owns() -> None:
    """Each layer package (not a leaf module) opens its docstring with "Owns", so its job reads from its name."""
    import importlib

    units = {unit for layer in LAYERS for unit in layer} - {"stravasync", "__main__"}
    packages = [m for m in (importlib.import_module(f"stravasync.{u}") for u in sorted(units))
                if hasattr(m, "__path__")]
    silent = [m.__name__ for m in packages if not (m.__doc__ or "").startswith("Owns")]
    assert [] == silent


def test_every_package_lists_its_modules() -> None:
    """Each layer package's docstring names every module in it, and no module that is gone."""
    import importlib
    import pkgutil

    drift: dict[str, tuple[set[str], set[str]]] = {}
    for unit in sorted({u for layer in LAYERS for u in layer} - {"stravasync", "__main__"}):
        module = importlib.import_module(f"stravasync.{unit}")
        if not hasattr(module, "__path__") or unit in {"cli", "emulator", "state", "validate"}:
            continue  # the four older packages describe themselves in prose
        present = {m.name for m in pkgutil.iter_modules(module.__path__)}
        listed = set(re.findall(r"^- ``(\w+)``:", module.__doc__ or "", re.M))
        if present != listed:
            drift[unit] = (present - listed, listed - present)
    assert {} == drift


def test_no_module_is_over_600_lines() -> None:
    """Modules are split before 600 lines (STYLE.md), so each stays readable in one sitting."""
    from benchmarks.module_graph import ROOT

    long = {str(p.relative_to(ROOT)): n for p in sorted(ROOT.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert {} == long
