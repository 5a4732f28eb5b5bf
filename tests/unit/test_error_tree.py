"""The error tree drawn in ``errors.py`` is the real one, and foreign errors stop at their boundary."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import stravasync
from benchmarks.module_graph import parsed
from stravasync import errors

PACKAGE = Path(stravasync.__file__).parent


def drawn_tree(doc: str) -> dict[str, str | None]:
    """Each class the docstring's tree draws, with the class drawn as its parent."""
    block = doc.split("The tree::", 1)[1].split("\n\n", 2)[1]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        text = line.lstrip(" │├└─")
        name = text.split(" ", 1)[0]
        if not re.fullmatch(r"[A-Z]\w*", name):
            continue  # a continuation of the words beside a class
        depth = len(line) - len(text)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
    return parents


def defined_errors() -> dict[str, str | None]:
    """Each exception class defined in ``errors.py``, with its base (None for the root)."""
    found: dict[str, str | None] = {}
    for name, value in vars(errors).items():
        if inspect.isclass(value) and issubclass(value, Exception) and (
            value.__module__ == errors.__name__
        ):
            base = value.__bases__[0]
            found[name] = None if base is Exception else base.__name__
    return found


def test_the_drawn_tree_is_every_error_with_its_parent() -> None:
    """Every error class in errors.py appears in the drawn tree under its real base, and nothing else does."""
    assert defined_errors() == drawn_tree(errors.__doc__ or "")


def test_every_error_of_ours_is_defined_in_errors_py() -> None:
    """No module but errors.py defines a StravaSyncError subclass, so the tree holds them all."""
    ours = set(defined_errors())
    elsewhere = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "errors.py":
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id in ours for base in node.bases
            ):
                elsewhere.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert [] == elsewhere


def test_only_the_state_store_touches_sqlite3() -> None:
    """``sqlite3`` is imported in ``stravasync/state/`` only: the store turns its errors into StateErrors."""
    importers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = parsed(path)
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        names |= {node.module or "" for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom)}
        if "sqlite3" in names and path.parent.name != "state":
            importers.append(str(path.relative_to(PACKAGE)))
    assert [] == importers
