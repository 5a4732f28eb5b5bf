"""The architecture guard: imports flow one way, down the layers, and never in a cycle.

Every import of a stravasync module counts, at module level, inside a function and
under ``if TYPE_CHECKING:`` alike. A new module must be placed in :data:`LAYERS`
before the suite passes, so the order cannot slide back silently.
"""

from __future__ import annotations

import pytest

from benchmarks.module_graph import graph

#: Lowest first. A module may import only modules of lower layers; inside a package
#: (``state.*``, ``validate.*``, ``cli.*``, ``emulator.*``) its modules may import
#: each other, as long as no cycle forms.
LAYERS: list[set[str]] = [
    # leaves: values, errors, pure policy, and the emulator (it stands alone)
    {"stravasync", "errors", "models", "fsutil", "logs", "owners", "samples", "polling",
     "emulator", "rules", "places", "tomlschema", "ratewindows"},
    {"notify", "service", "dedupe", "tokens", "ratelimit", "validate", "config", "batch",
     "folders", "notices", "runlock"},
    {"state", "completeness", "wire", "gates", "watches"},
    {"oauth", "strava", "ingest", "watcher", "archive", "attention"},
    {"outcomes", "ports"},
    {"auth", "transfer", "follow"},
    {"engine"},
    {"stack"},
    {"status", "daemon"},
    {"demo"},
    {"cli"},
    {"__main__"},
]


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
    assert [] == violations(graph())


def test_no_import_cycles() -> None:
    """No chain of imports comes back to where it started, inside packages too."""
    assert [] == cycles(graph())


@pytest.mark.parametrize(("module", "upward"), [
    ("stravasync.state.store", "stravasync.engine"),
    ("stravasync.strava", "stravasync.oauth"),
    ("stravasync.demo", "stravasync.cli.status_cmd"),
])
def test_an_upward_import_is_caught(module: str, upward: str) -> None:
    """A deliberately added upward or sideways import is reported by name."""
    edges = graph()
    edges[module] = {*edges[module], upward}
    assert [f"{module} imports {upward}, which is not below it"] == [
        v for v in violations(edges) if upward in v]


def test_a_cycle_inside_a_package_is_caught() -> None:
    """Two modules of one package importing each other form a reported cycle."""
    edges = graph()
    edges["stravasync.state.model"] = {*edges["stravasync.state.model"],
                                       "stravasync.state.store"}
    assert any("stravasync.state.model" in c and "stravasync.state.store" in c
               for c in cycles(edges))
