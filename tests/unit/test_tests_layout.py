"""The test folders keep their promise: unit tests start no process and open no socket.

``tests/unit`` holds what needs neither (``httpx.MockTransport`` stands in for
Strava); ``tests/integration`` holds the real daemon, the emulator on loopback,
subprocesses, mounts and other users. Helpers are shared through the rigs in
``tests/``, never by one test module importing another.
"""

from __future__ import annotations

import ast
import functools
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
#: Modules whose import means a process, a socket, a server or another user.
OUT_OF_PROCESS = {"subprocess", "socket", "socketserver", "multiprocessing", "http.server",
                  "daemon_rig", "nobody"}


def modules_in(folder: str) -> list[Path]:
    """The test modules of one folder, by name."""
    return sorted((TESTS / folder).glob("test_*.py"))


@functools.cache
def tree(path: Path) -> ast.Module:
    """``path`` parsed (once per run)."""
    return ast.parse(path.read_text(encoding="utf-8"))


def imported(path: Path) -> set[str]:
    """Every module name ``path`` imports (top-level and inside functions)."""
    names: set[str] = set()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def called(path: Path) -> set[str]:
    """The names of everything ``path`` calls (``Emulator(...)``, ``x.start()`` …)."""
    names: set[str] = set()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return names


def marks(path: Path) -> set[str]:
    """The ``pytest.mark.NAME`` names ``path`` uses."""
    return {node.attr for node in ast.walk(tree(path))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "mark"}


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in the rigs; a test module imports no other test module."""
    leaning = {
        f"{path.parent.name}/{path.name}": sorted(n for n in imported(path) if n.startswith("test_"))
        for folder in ("unit", "integration") for path in modules_in(folder)
    }
    assert {} == {name: found for name, found in leaning.items() if found}


def test_basenames_are_unique_across_unit_and_integration() -> None:
    """pytest's default import mode needs each test module's basename once across the folders."""
    names = Counter(p.name for folder in ("unit", "integration") for p in modules_in(folder))
    assert [] == sorted(name for name, count in names.items() if count > 1)


def test_unit_tests_start_no_process_and_open_no_socket() -> None:
    """No unit test imports what spawns processes or opens sockets, or starts an emulator server."""
    found = {
        path.name: sorted((imported(path) & OUT_OF_PROCESS) | (called(path) & {"Emulator"}))
        for path in modules_in("unit")
    }
    assert {} == {name: what for name, what in found.items() if what}


def test_unit_tests_are_not_marked_integration() -> None:
    """The ``integration`` marker belongs to tests/integration only."""
    marked = [p.name for p in modules_in("unit") if "integration" in marks(p)]
    assert [] == marked
