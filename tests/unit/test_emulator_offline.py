"""Tests for stravasync.emulator without a server: multipart parsing, the `emulator` command's
options, its no-import rule, and the corpus files it accepts."""

from __future__ import annotations

import ast
import csv
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from benchmarks.module_graph import parsed
from stravasync.cli.emulator_cmd import build_config, emulator_command
from stravasync.emulator import ServerUsage
from stravasync.emulator.content import inspect_payload
from stravasync.emulator.forms import parse_body

# -- sample files, made by code ---------------------------------------------------------


def test_multipart_keeps_binary_bytes_and_merges_query_fields() -> None:
    """Every byte value and CRLF run survives multipart parsing; form fields win."""
    payload = bytes(range(256)) + b"\r\n--\r\n\r\n" + bytes(range(255, -1, -1))
    request = httpx.Request(
        "POST",
        "http://x/",
        data={"data_type": "fit"},
        files={"file": ("f.fit", payload)},
    )
    body = request.read()
    form = parse_body(body, request.headers["content-type"])
    assert (payload, "f.fit", {"data_type": "fit"}) == (
        form.files["file"].data,
        form.files["file"].filename,
        form.fields,
    )


def test_emulator_command_builds_config_and_serves(tmp_path: Path) -> None:
    """The CLI documents its defaults and its options become the emulator's settings."""
    runner = CliRunner()
    help_text = runner.invoke(emulator_command, ["--help"]).output
    assert "[default: 8723" in help_text
    context = emulator_command.make_context(
        "emulator",
        [
            "--port",
            "0",
            "--limits",
            "10,20",
            "--usage",
            "3,4",
            "--fault-5xx-share",
            "0.1",
            "--no-rotate",
            "--large-ids",
            "--granted-scope",
            "read",
            "--update-5xx-share",
            "0.3",
            "--private-share",
            "0.25",
            "--athlete-cap",
            "1",
            "--form-tokens",
            "--deauthorize-retired",
        ],
    )
    config = build_config(context.params)
    assert (10, 20, 0.1, False, "read") == (
        config.knobs.limit_15,
        config.knobs.limit_day,
        config.knobs.error_5xx_share,
        config.knobs.rotate_refresh_tokens,
        config.knobs.granted_scope,
    )
    assert (0.3, 0.25, 1, False, True) == (
        config.knobs.update_5xx_share,
        config.knobs.private_share,
        config.knobs.athlete_limit,
        config.knobs.header_only_tokens,
        config.knobs.deauthorize_retired,
    )
    assert (ServerUsage(usage_15=3, usage_day=4), 2**32 + 9000001) == (
        config.initial_usage,
        config.upload_id_start,
    )
    bad = runner.invoke(emulator_command, ["--limits", "ten"])
    assert 2 == bad.exit_code


def test_emulator_imports_nothing_of_stravasync_outside_itself() -> None:
    """The emulator stands for Strava: it imports only the stdlib and itself."""
    package = Path(inspect_payload.__code__.co_filename).parent
    imported: set[str] = set()
    for module in package.glob("*.py"):
        for node in ast.walk(parsed(module)):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
    foreign = {
        name
        for name in imported
        if not name.startswith("stravasync.emulator")
        and name.split(".")[0] not in sys.stdlib_module_names
        and name != "__future__"
    }
    assert set() == foreign


@pytest.mark.corpus
def test_corpus_files_strava_would_take_are_accepted(corpus: Path) -> None:
    """Every valid corpus file passes the emulator's content checks."""
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))
    errors = {
        row["file"]: inspect_payload(
            (corpus / row["file"]).read_bytes(), data_type=row["format"].lower()
        ).error
        for row in rows
        if row["expected"] == "valid"
    }
    assert dict.fromkeys(errors) == errors
