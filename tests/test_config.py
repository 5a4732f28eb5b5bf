"""Tests for stravasync.config and the ``stravasync config`` command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from stravasync.cli import cli
from stravasync.config import config_from_dict, load_config, resolve_config_path
from stravasync.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def problems_of(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, env={})
    return info.value.problems


def test_minimal_config_gets_spec_defaults() -> None:
    """A config with only a client id gets every default SPEC.md names."""
    config = config_from_dict({"strava": {"client_id": "12345"}}, env={})
    assert "12345" == config.strava.client_id
    assert "https://www.strava.com/api/v3" == config.strava.api_url
    assert "https://www.strava.com/oauth" == config.strava.oauth_url
    assert (True, 2.0, 30) == (
        config.watch.recursive,
        config.watch.settle_seconds,
        config.watch.max_age_days,
    )
    assert (True, "keep", None, 4) == (
        config.upload.gzip,
        config.upload.after,
        config.upload.archive_dir,
        config.upload.concurrency,
    )
    assert ("auto", "info") == (config.log.format, config.log.level)


def test_example_config_is_valid() -> None:
    """config.example.toml, as shipped, loads without a problem."""
    config = load_config(REPO / "config.example.toml", env={"HOME": "/home/runner"})
    assert (Path("/home/runner/Garmin/Activity"),) == config.watch.paths


def test_every_problem_is_reported_at_once_with_its_key_path() -> None:
    """Unknown keys, wrong types, bad choices and bad numbers all come in one error."""
    found = problems_of(
        {
            "strava": {"client_id": "abc", "colour": "red", "api_url": "ftp://x"},
            "watch": {"paths": "~/one", "settle_seconds": -1, "max_age_days": -3},
            "upload": {"after": "shred", "concurrency": 0, "gzip": "yes"},
            "log": {"format": "xml", "level": "loud"},
            "extra": {},
        }
    )
    keys = [p.split(":", 1)[0] for p in found]
    assert [
        "extra",
        "strava.colour",
        "strava.client_id",
        "strava.api_url",
        "watch.paths",
        "watch.settle_seconds",
        "watch.max_age_days",
        "upload.gzip",
        "upload.after",
        "upload.concurrency",
        "log.format",
        "log.level",
    ] == keys


def test_missing_client_id_is_a_problem() -> None:
    """Without strava.client_id nothing can work, and the message says where to find it."""
    found = problems_of({"watch": {"paths": []}})
    assert 1 == len(found)
    assert found[0].startswith("strava.client_id: missing")


def test_booleans_are_not_numbers() -> None:
    """TOML true is not accepted where a count is expected."""
    assert ["upload.concurrency"] == [
        p.split(":")[0] for p in problems_of({"strava": {"client_id": 1}, "upload": {"concurrency": True}})
    ]


def test_move_needs_an_archive_dir() -> None:
    """after = move without archive_dir is refused."""
    found = problems_of({"strava": {"client_id": 1}, "upload": {"after": "move"}})
    assert ["upload.archive_dir"] == [p.split(":")[0] for p in found]


def test_paths_expand_home_and_variables(tmp_path: Path) -> None:
    """~ and $VARS expand; relative paths are taken from the config file's folder."""
    env = {"HOME": "/home/ann", "DEVICE": "/media/ann/GARMIN"}
    config = config_from_dict(
        {
            "strava": {"client_id": 1},
            "watch": {"paths": ["~/Exports", "$DEVICE/Activity", "${DEVICE}/x", "rel"]},
            "state": {"dir": "~/state"},
        },
        env=env,
        source=tmp_path / "config.toml",
    )
    assert (
        Path("/home/ann/Exports"),
        Path("/media/ann/GARMIN/Activity"),
        Path("/media/ann/GARMIN/x"),
        tmp_path / "rel",
    ) == config.watch.paths
    assert Path("/home/ann/state") == config.state_dir


def test_client_secret_sources(tmp_path: Path) -> None:
    """The secret comes from the environment first, then a file, then the config."""
    secret_file = write(tmp_path / "secret", "from-the-file\n")
    base = {"client_id": 1, "client_secret_file": str(secret_file)}
    assert ("from-the-file", "file") == (
        config_from_dict({"strava": base}, env={}).strava.client_secret,
        config_from_dict({"strava": base}, env={}).strava.client_secret_source,
    )
    from_env = config_from_dict({"strava": base}, env={"STRAVASYNC_CLIENT_SECRET": "from-env-x"})
    assert ("from-env-x", "env") == (
        from_env.strava.client_secret,
        from_env.strava.client_secret_source,
    )
    inline = config_from_dict({"strava": {"client_id": 1, "client_secret": "inline-sec"}}, env={})
    assert ("inline-sec", "config") == (inline.strava.client_secret, inline.strava.client_secret_source)


def test_both_secret_keys_and_unreadable_file_are_problems(tmp_path: Path) -> None:
    """Giving the secret twice, or a secret file that cannot be read, is reported."""
    found = problems_of(
        {
            "strava": {
                "client_id": 1,
                "client_secret": "a-secret",
                "client_secret_file": str(tmp_path / "missing"),
            }
        }
    )
    assert ["strava.client_secret_file", "strava.client_secret_file"] == [
        p.split(":")[0] for p in found
    ]


def test_location_precedence(tmp_path: Path) -> None:
    """--config wins over $STRAVASYNC_CONFIG, which wins over the user config dir."""
    env = {"STRAVASYNC_CONFIG": str(tmp_path / "env.toml")}
    assert tmp_path / "cli.toml" == resolve_config_path(tmp_path / "cli.toml", env=env)
    assert tmp_path / "env.toml" == resolve_config_path(None, env=env)
    assert resolve_config_path(None, env={}).name == "config.toml"
    assert "stravasync" == resolve_config_path(None, env={}).parent.name


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    """A config file that is not there gives a message naming the path and the fix."""
    with pytest.raises(ConfigError, match=r"no configuration file at .*stravasync config --example"):
        load_config(tmp_path / "nope.toml", env={})


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    """TOML syntax errors become one ConfigError, not a traceback."""
    path = write(tmp_path / "c.toml", "[strava\nclient_id=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, env={})


def test_world_readable_secret_warns(tmp_path: Path) -> None:
    """A config file readable by others that holds the secret gets a warning."""
    path = write(tmp_path / "c.toml", '[strava]\nclient_id = 1\nclient_secret = "abcdefgh"\n', 0o644)
    assert 1 == len(load_config(path, env={}).warnings)
    path.chmod(0o600)
    assert () == load_config(path, env={}).warnings


def test_config_command_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    """`stravasync config` on a bad file lists each problem with its key path, exit 2."""
    path = write(tmp_path / "bad.toml", '[strava]\nclient_id = "x"\n[upload]\nafter = "zap"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "config"])
    assert isinstance(result.exception, ConfigError)
    assert 2 == result.exception.exit_code
    assert ["strava.client_id", "upload.after"] == [
        p.split(":")[0] for p in result.exception.problems
    ]


def test_config_command_masks_the_secret(tmp_path: Path) -> None:
    """`stravasync config` prints the effective values, never the secret itself."""
    path = write(
        tmp_path / "good.toml", '[strava]\nclient_id = 777\nclient_secret = "very-secret-value"\n'
    )
    result = CliRunner().invoke(cli, ["--config", str(path), "config"])
    assert 0 == result.exit_code, result.output
    assert "very-secret-value" not in result.output
    assert 'client_id = "777"' in result.output
    assert str(path) in result.output


def test_main_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """The console script shows an expected failure as lines of text, no traceback."""
    import subprocess
    import sys

    path = write(tmp_path / "bad.toml", "[strava]\nclient_id = 'x'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stravasync", "--config", str(path), "config"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert 2 == proc.returncode
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("stravasync: Invalid configuration: 1 problem")
    assert "strava.client_id" in proc.stderr


def test_packaged_example_is_the_documented_one() -> None:
    """`config --example` prints exactly the repository's config.example.toml."""
    from stravasync.config import example_config

    assert (REPO / "config.example.toml").read_text(encoding="utf-8") == example_config()
    result = CliRunner().invoke(cli, ["config", "--example"])
    assert 0 == result.exit_code
    assert example_config() == result.output
