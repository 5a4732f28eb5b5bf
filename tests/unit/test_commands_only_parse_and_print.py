"""The command modules only parse and print: none leans on another, none holds the policy."""

from __future__ import annotations

from benchmarks.module_graph import graph

#: What a command module may import of ``stravasync.cli``: the shared context only.
_SHARED = {"stravasync.cli.context"}


def _command_modules(edges: dict[str, set[str]]) -> list[str]:
    return sorted(m for m in edges if m.startswith("stravasync.cli.") and m.endswith("_cmd"))


def test_no_command_module_imports_another() -> None:
    """Each ``cli/*_cmd.py`` imports no other command module (what they share lives below)."""
    edges = graph()
    leaning = {module: sorted(dep for dep in edges[module]
                              if dep.startswith("stravasync.cli") and dep not in _SHARED)
               for module in _command_modules(edges)}
    assert {} == {module: deps for module, deps in leaning.items() if deps}


def test_retry_has_a_command_module_of_its_own() -> None:
    """``stravasync retry`` is defined in ``cli/retry_cmd.py``, not inside another command's module."""
    from stravasync.cli import cli

    callback = cli.commands["retry"].callback
    assert "stravasync.cli.retry_cmd" == getattr(callback, "__module__", None)


def test_the_run_once_and_upload_policy_lives_beside_the_daemon() -> None:
    """``run --once`` and ``upload`` do their work through ``stravasync.service`` modules."""
    edges = graph()
    assert {"stravasync.service.once"} <= edges["stravasync.cli.run_cmd"]
    assert {"stravasync.service.oneshot"} <= edges["stravasync.cli.upload_cmd"]
    assert set() == {dep for dep in edges["stravasync.cli.run_cmd"]
                     | edges["stravasync.cli.upload_cmd"]
                     if dep.startswith(("stravasync.upload", "stravasync.intake"))}
