"""A class name means one thing across the package, and module names say their difference."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import stravasync
from benchmarks.module_graph import parsed

PACKAGE = Path(stravasync.__file__).parent


def classes_by_name() -> dict[str, list[str]]:
    """Every class name defined in the package, with the modules that define it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.ClassDef):
                found[node.name].append(module)
    return found


def test_no_two_modules_define_a_class_of_one_name() -> None:
    """Two classes for different things never share a name (``Usage``, ``Outcome``, ``Upload`` did)."""
    assert {} == {name: modules for name, modules in classes_by_name().items()
                  if len(modules) > 1}


def test_validate_has_no_times_beside_timing() -> None:
    """The module of single timestamps and the one of a track's point times have names that differ in meaning, not by a suffix."""
    modules = {path.stem for path in (PACKAGE / "validate").glob("*.py")}
    assert set() == modules & {"times", "timing"}
    assert {"timestamps", "track_times"} <= modules
