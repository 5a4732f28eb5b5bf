"""Reason codes are named once, in ``stravasync.models``, and every module uses those names."""

from __future__ import annotations

import ast
from pathlib import Path

import stravasync
from benchmarks.module_graph import parsed
from stravasync.models import ReasonCode, State

PACKAGE = Path(stravasync.__file__).parent


def test_no_module_spells_a_reason_code_as_a_bare_string() -> None:
    """Outside ``models.py`` (and the emulator, which stands alone) no string literal is a reason code."""
    codes = {code.value for code in ReasonCode} - {state.value for state in State}
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "models.py" or "emulator" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Constant) and node.value in codes:
                spelled.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert [] == spelled


def test_a_stored_reason_code_reads_back_as_its_name(tmp_path: Path) -> None:
    """A workout skipped for its age is stored with ``too_old`` and compares equal to ``ReasonCode.TOO_OLD``."""
    from stravasync.state import FileFacts, Store

    store = Store.open(tmp_path)
    try:
        store.record_file(str(tmp_path / "old.fit"), size=1, mtime_ns=1, facts=FileFacts(
            sha256="a" * 64, state=State.SKIPPED, reason_code=ReasonCode.TOO_OLD,
            error="too old"))
        stored = store.workout("a" * 64)
    finally:
        store.close()
    assert stored is not None
    assert ("too_old", ReasonCode.TOO_OLD) == (stored.reason_code, stored.reason_code)
