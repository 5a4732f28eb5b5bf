"""Print stravasync's internal import graph, the largest module and the largest function.

Counts every import of a ``stravasync`` module, at module level, inside functions and
under ``if TYPE_CHECKING:`` alike (the layering test in tests/unit/test_layering.py holds
the same view). Run: ``python -m benchmarks.module_graph [--dot]``.
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "stravasync"


@functools.cache
def parsed(path: Path) -> ast.Module:
    """The syntax tree of a source file, parsed once per process (the layout tests share it)."""
    return ast.parse(path.read_text(encoding="utf-8"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    tree = parsed(path)
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("stravasync"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if not mod.startswith("stravasync"):
                continue
            folder = ROOT.parent / mod.replace(".", "/")
            submodules = {a.name for a in node.names
                          if (folder / f"{a.name}.py").exists()
                          or (folder / a.name / "__init__.py").exists()}
            # `from stravasync.emulator import api` imports the submodule `api`; the
            # package itself counts only where a name of its own is taken from it.
            found.update(f"{mod}.{name}" for name in submodules)
            if len(submodules) < len(node.names):
                found.add(mod)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(ROOT.rglob("*.py"))}


def largest_function() -> tuple[str, int]:
    best = ("", 0)
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > best[1]:
                    best = (f"{module_name(path)}.{node.name}", size)
    return best


def main() -> None:
    g = graph()
    if "--dot" in sys.argv:
        print("digraph stravasync {")
        for mod, deps in g.items():
            for dep in sorted(deps):
                print(f'  "{mod}" -> "{dep}";')
        print("}")
        return
    for mod, deps in g.items():
        short = sorted(d.removeprefix("stravasync.") for d in deps)
        print(f"{mod.removeprefix('stravasync.') or 'stravasync'}: {', '.join(short)}")
    sizes = {module_name(p): len(p.read_text(encoding="utf-8").splitlines())
             for p in ROOT.rglob("*.py")}
    top = max(sizes, key=sizes.__getitem__)
    func, lines = largest_function()
    print(f"\nlargest module: {top} ({sizes[top]} lines)")
    print(f"largest function: {func} ({lines} lines)")


if __name__ == "__main__":
    main()
