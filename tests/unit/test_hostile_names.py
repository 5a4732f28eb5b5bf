"""A file name holding ESC, BEL or a newline never reaches a terminal or a log line raw.

Wherever a person reads a name (``status``, ``check``, ``retry``, a config warning, a
console log line, journald) it is shown escaped; JSON keeps it exact.
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner
from fixtures import watched_config

from stravasync.cli import cli
from stravasync.cli.check_cmd import check
from stravasync.cli.context import CliContext
from stravasync.cli.retry_cmd import retry_command
from stravasync.config.settings import Config
from stravasync.fsutil import legible
from stravasync.logs import configure_logging
from stravasync.owner.status import gather_status, status_table
from stravasync.state import FileFacts, State, Store

HOSTILE = "ride\x1b[2J\x1b]0;pwned\x07\nforged line\u202e.fit"
"""Clears the screen, sets the window title, starts a line, reverses the rest."""
QUIET = "ride\x1b[2J\x1b]0;pwned\x07\u202e.fit"
"""The same without a space or newline, which a console renderer would quote anyway."""
RAW = ("\x1b", "\x07", "\u202e")
ESCAPED = "ride\\x1b[2J\\x1b]0;pwned\\x07\\nforged line\\u202e.fit"


def raw_controls(text: str) -> list[str]:
    """The steering characters found raw in ``text``."""
    return [c for c in RAW if c in text]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config watching tmp/watch, its state in tmp/state."""
    return watched_config(tmp_path)


def record_invalid(config: Config, path: str) -> None:
    """``path`` known to the store as invalid, its error quoting its name."""
    store = Store.open(config.state_dir)
    try:
        store.record_file(path, size=1, mtime_ns=1, facts=FileFacts(
            sha256="ab" * 32, state=State.INVALID, format=None,
            error=f"{os.path.basename(path)} is not a FIT file"))
    finally:
        store.close()


def test_legible_escapes_what_steers_a_terminal() -> None:
    """ESC, BEL, a newline and a bidi override show as escapes; other text is kept."""
    assert ESCAPED == legible(HOSTILE)
    assert "Zürich Café 🚴.fit" == legible("Zürich Café 🚴.fit")
    assert "bad\\xe4.fit" == legible(os.fsdecode(b"bad\xe4.fit"))


def test_status_table_shows_the_name_escaped_on_one_line(config: Config) -> None:
    """The file list and "Recent problems" show the name escaped, one line each."""
    path = str(config.watch.paths[0] / HOSTILE)
    record_invalid(config, path)
    lines = status_table(gather_status(config))
    text = "\n".join(lines)
    assert [] == raw_controls(text)
    assert not any(line.startswith("forged line") for line in lines)
    listed = [line for line in lines if line.startswith("invalid ")]
    assert [f"invalid    -            -                     {legible(path)}"] == listed
    problems = lines[lines.index("Recent problems:") + 1]
    assert f"  invalid: {legible(path)}: {ESCAPED} is not a FIT file" == problems


def test_status_json_keeps_the_name_exact(config: Config) -> None:
    """`status --json` carries the exact name; JSON escapes the controls itself."""
    path = str(config.watch.paths[0] / HOSTILE)
    record_invalid(config, path)
    text = json.dumps(gather_status(config).data, indent=2)
    assert [] == raw_controls(text)
    assert [path] == [f["path"] for f in json.loads(text)["files"]]


def test_check_prints_the_name_escaped(tmp_path: Path) -> None:
    """`check` prints one line per file, its name escaped; `--json` keeps it exact."""
    bad = tmp_path / HOSTILE
    bad.write_bytes(b"not a workout")
    obj = CliContext(config_path=tmp_path / "none.toml")
    result = CliRunner().invoke(check, [str(bad)], obj=obj)
    assert 1 == len(result.output.splitlines()), result.output
    assert [] == raw_controls(result.output)
    assert result.output.startswith(f"{legible(bad)}: ")
    as_json = CliRunner().invoke(check, ["--json", str(bad)], obj=obj)
    assert str(bad) == json.loads(as_json.output)["path"]


def test_retry_prints_the_name_escaped(tmp_path: Path, config: Config) -> None:
    """`retry PATH` names the file escaped, on one line."""
    path = config.watch.paths[0] / HOSTILE
    path.write_bytes(b"x")
    record_invalid(config, str(path))
    (tmp_path / "config.toml").write_text(
        f'[strava]\nclient_id = "1"\n[watch]\npaths = ["{config.watch.paths[0]}"]\n'
        f'[state]\ndir = "{config.state_dir}"\n')
    result = CliRunner().invoke(retry_command, [str(path)],
                                obj=CliContext(config_path=tmp_path / "config.toml"))
    assert [] == raw_controls(result.output)
    assert f"queued again: {legible(path)}" == result.output.splitlines()[0]


def test_a_config_warning_shows_its_path_escaped(tmp_path: Path) -> None:
    """A warning that quotes the config file's name shows it escaped, on one line."""
    folder = tmp_path / "c\x1b[2J\nx"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('[strava]\nclient_id = "1"\nclient_secret = "s3cr3t-value"\n')
    config.chmod(0o644)
    result = CliRunner().invoke(cli, ["--config", str(config), "check", str(config)])
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert [] == raw_controls(result.stderr)
    assert [f"stravasync: warning: {legible(config)} holds the client secret"] == [
        w.split(" and is readable")[0] for w in warnings]


def test_config_names_its_file_escaped(tmp_path: Path) -> None:
    """`stravasync config` names the file it read with the name escaped."""
    folder = tmp_path / "c\x1b[2J\nx"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('[strava]\nclient_id = "1"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "config"])
    assert 0 == result.exit_code, result.output
    assert [] == raw_controls(result.stdout)
    assert f"# configuration from {legible(config)}" == result.stdout.splitlines()[0]


@pytest.mark.parametrize("name", [HOSTILE, QUIET])
def test_a_console_log_line_stays_one_line(name: str) -> None:
    """A console log line with the name in a value is one line with no raw controls."""
    out = io.StringIO()
    configure_logging(fmt="console", stream=out)
    structlog.get_logger().warning("file_unreadable", path=name, error="denied")
    logging.getLogger("watchdog").warning("cannot watch %s", name)
    lines = out.getvalue().splitlines()
    assert 2 == len(lines), lines
    assert [] == raw_controls(out.getvalue())
    assert "file_unreadable" in lines[0]
    assert "pwned" in lines[0]


@pytest.mark.parametrize(("fmt", "name"), [("console", HOSTILE), ("console", QUIET),
                                           ("json", HOSTILE)])
def test_journald_lines_cannot_be_forged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, name: str
) -> None:
    """Under journald a name's newline starts no line of its own: one prefixed line."""
    with (tmp_path / "journal").open("w+") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        configure_logging(fmt=fmt, stream=stream)
        structlog.get_logger().warning("file_unreadable", path=name)
        stream.seek(0)
        lines = stream.read().splitlines()
    assert 1 == len(lines), lines
    assert lines[0].startswith("<4>")
    assert [] == raw_controls(lines[0])
    if fmt == "json":
        assert name == json.loads(lines[0][3:])["path"]
