"""Tests for stravasync.intake.folders as the unprivileged service user: an unreadable folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nobody import REPO, run_as_nobody


def test_folder_with_mode_000_is_unreadable_for_the_service_user(nobody_dir: Path) -> None:
    """As an ordinary user, a mode-000 folder (and what lies below it) is unreadable, with why."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from stravasync.intake.folders import folder_health\n"
        "base = Path(sys.argv[1])\n"
        "(base / 'locked').mkdir()\n"
        "(base / 'locked' / 'Activity').mkdir()\n"
        "(base / 'locked').chmod(0)\n"
        "out = [folder_health(base / p, mounts=[]).to_json()\n"
        "       for p in ('locked', 'locked/Activity')]\n"
        "print(json.dumps(out))\n"
    )
    result = run_as_nobody(script, str(nobody_dir), home=nobody_dir)
    if result.returncode != 0 and "ModuleNotFoundError" in result.stderr:
        pytest.skip(f"the unprivileged user cannot read the source tree at {REPO}")
    assert 0 == result.returncode, result.stderr
    locked, below = json.loads(result.stdout)
    assert ("unreadable", "unreadable") == (locked["state"], below["state"])
    assert locked["error"].startswith("permission denied: user nobody may not list this folder")
    assert below["error"].startswith("permission denied: user nobody may not reach this folder")
