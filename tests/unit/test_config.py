"""Tests for stravasync.config.settings and the ``stravasync config`` command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from stravasync.cli import cli
from stravasync.config.settings import (
    Config,
    NotifyConfig,
    config_from_dict,
    load_config,
    resolve_config_path,
)
from stravasync.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


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


def test_packaged_example_is_the_documented_one() -> None:
    """`config --example` prints exactly the repository's config.example.toml."""
    from stravasync.config.settings import example_config

    assert (REPO / "config.example.toml").read_text(encoding="utf-8") == example_config()
    result = CliRunner().invoke(cli, ["config", "--example"])
    assert 0 == result.exit_code
    assert example_config() == result.output


def ok(data: dict[str, object], home: Path = Path("/home/ann")) -> Config:
    return config_from_dict({"strava": {"client_id": 1}, **data}, env={"HOME": str(home)})


def refused(data: dict[str, object], home: Path = Path("/home/ann")) -> list[str]:
    """The key path of each problem in *data* (with a client id added)."""
    with pytest.raises(ConfigError) as info:
        ok(data, home)
    return [p.split(":")[0] for p in info.value.problems]


def test_new_keys_have_spec_defaults() -> None:
    """ignore, poll_interval, delete_outside_home, [notify] and rules default as SPEC says."""
    config = ok({})
    assert (("inProgressActivity.fit",), 10.0) == (config.watch.ignore,
                                                   config.watch.poll_interval)
    assert False is config.upload.delete_outside_home
    assert NotifyConfig(url=None, command=(), on=frozenset({"problem"})) == config.notify
    assert () == config.rules


def test_new_keys_are_read() -> None:
    """Values given for the new keys arrive in the Config; poll_interval 0 means 10 s."""
    config = ok({
        "watch": {"ignore": ["*.tmp.fit", "inProgressActivity.fit"], "poll_interval": 30},
        "notify": {"url": "https://ntfy.example/topic", "command": ["notify-send", "sync"],
                   "on": ["problem", "uploaded"]},
    })
    assert (("*.tmp.fit", "inProgressActivity.fit"), 30.0) == (
        config.watch.ignore, config.watch.poll_interval
    )
    assert NotifyConfig(url="https://ntfy.example/topic", command=("notify-send", "sync"),
                        on=frozenset({"problem", "uploaded"})) == config.notify
    assert 10.0 == ok({"watch": {"poll_interval": 0}}).watch.poll_interval


def test_ignore_globs_match_file_names_in_any_case() -> None:
    """watch.ignore keeps Zwift's in-progress file out, whatever case the device writes."""
    watch = ok({"watch": {"ignore": ["inProgressActivity.fit", "*.bak"]}}).watch
    assert [True, True, True, False] == [
        watch.is_ignored(n) for n in ("inProgressActivity.fit", "INPROGRESSACTIVITY.FIT",
                                      "old.bak", "2024-05-06.fit")
    ]


@pytest.mark.parametrize(
    ("data", "key_paths"),
    [
        ({"watch": {"settle_seconds": float("nan")}}, ["watch.settle_seconds"]),
        ({"watch": {"settle_seconds": float("inf")}}, ["watch.settle_seconds"]),
        ({"watch": {"poll_interval": float("-inf")}}, ["watch.poll_interval"]),
        ({"watch": {"max_age_days": 1e30}}, ["watch.max_age_days"]),
        ({"watch": {"max_age_days": 1_000_000}}, ["watch.max_age_days"]),
        ({"watch": {"settle_seconds": 86400}}, ["watch.settle_seconds"]),
        ({"watch": {"poll_interval": 0.1}}, ["watch.poll_interval"]),
        ({"watch": {"poll_interval": -5}}, ["watch.poll_interval"]),
        ({"upload": {"concurrency": 1000}}, ["upload.concurrency"]),
        ({"watch": {"ignore": "inProgressActivity.fit"}}, ["watch.ignore"]),
        ({"watch": {"ignore": ["ok.fit", "", "a/b.fit"]}}, ["watch.ignore[1]", "watch.ignore[2]"]),
        ({"notify": {"url": "ftp://example.org/x"}}, ["notify.url"]),
        ({"notify": {"url": "file:///tmp/x"}}, ["notify.url"]),
        ({"notify": {"command": "notify-send"}}, ["notify.command"]),
        ({"notify": {"command": ["notify-send", 3]}}, ["notify.command[1]"]),
        ({"notify": {"on": ["problem", "everything"]}}, ["notify.on[1]"]),
        ({"notify": {"colour": "red"}}, ["notify.colour"]),
        ({"notify": "https://ntfy.sh/x"}, ["notify"]),
    ],
)
def test_nonsense_numbers_and_notify_values_are_refused(
    data: dict[str, object], key_paths: list[str]
) -> None:
    """Non-finite and absurd numbers, and unusable notify settings, name their key path."""
    assert key_paths == refused(data)


@pytest.mark.parametrize(
    "watched", ["/", "/proc", "/sys", "/dev", "/proc/self", "/dev/disk/by-id", "/home/../proc"]
)
def test_system_folders_cannot_be_watched(watched: str) -> None:
    """The whole file system and /proc, /sys, /dev (or anything in them) are refused."""
    assert ["watch.paths[1]"] == refused({"watch": {"paths": ["~/Garmin", watched]}})


def test_a_symlink_to_the_root_cannot_be_watched(tmp_path: Path) -> None:
    """A path that only resolves to / is refused as / itself is."""
    (tmp_path / "everything").symlink_to("/")
    assert ["watch.paths[0]"] == refused({"watch": {"paths": [str(tmp_path / "everything")]}})


def test_media_and_run_folders_may_be_watched() -> None:
    """USB devices under /media and MTP mounts under /run/user stay allowed."""
    config = ok({"watch": {"paths": ["/media/ann/GARMIN/Garmin/Activity",
                                     "/run/user/1000/gvfs/mtp:host=Garmin/Primary/Activity"]}})
    assert 2 == len(config.watch.paths)


def test_the_state_folder_cannot_be_watched(tmp_path: Path) -> None:
    """Watching the state folder (or a folder inside it) is refused."""
    state = tmp_path / "state"
    assert ["watch.paths[0]", "watch.paths[1]"] == refused({
        "watch": {"paths": [str(state), str(state / "sub")]},
        "state": {"dir": str(state)},
    })


def test_archive_inside_a_watched_folder_is_refused(tmp_path: Path) -> None:
    """after = move into a folder that is watched would find every moved file again."""
    watched = tmp_path / "Activity"
    for archive in (watched, watched / "done"):
        assert ["upload.archive_dir"] == refused({
            "watch": {"paths": [str(watched)]},
            "upload": {"after": "move", "archive_dir": str(archive)},
        })
    config = ok({"watch": {"paths": [str(watched)]},
                 "upload": {"after": "move", "archive_dir": str(tmp_path / "Archive")}})
    assert tmp_path / "Archive" == config.upload.archive_dir


def test_delete_outside_home_needs_confirmation(tmp_path: Path) -> None:
    """after = delete on a folder outside home is refused until delete_outside_home = true."""
    home = tmp_path / "home"
    device = "/media/ann/GARMIN/Garmin/Activity"
    data: dict[str, object] = {"watch": {"paths": [str(home / "Garmin"), device]},
                               "upload": {"after": "delete"}}
    assert ["upload.after"] == refused(data, home)
    with pytest.raises(ConfigError, match="delete_outside_home = true"):
        ok(data, home)
    confirmed = ok({**data, "upload": {"after": "delete", "delete_outside_home": True}}, home)
    assert "delete" == confirmed.upload.after
    assert "delete" == ok({"watch": {"paths": [str(home / "Garmin")]},
                           "upload": {"after": "delete"}}, home).upload.after


def test_delete_through_a_symlink_out_of_home_needs_confirmation(tmp_path: Path) -> None:
    """A folder in home that is a symlink to a system folder counts as outside home."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "etc").symlink_to("/etc")
    assert ["upload.after"] == refused(
        {"watch": {"paths": ["~/etc"]}, "upload": {"after": "delete"}}, home
    )


def test_rules_are_read_into_the_config() -> None:
    """[[rules]] arrive in file order with their folder expanded like watch paths."""
    config = ok({
        "watch": {"paths": ["~/Documents/Zwift/Activities"]},
        "rules": [{"folder": "~/Documents/Zwift/Activities", "set": {"trainer": True}},
                  {"sport": "run", "set": {"sport_type": "VirtualRun"}}],
    })
    assert [Path("/home/ann/Documents/Zwift/Activities"), None] == [
        r.folder for r in config.rules
    ]
    assert [{"folder": "/home/ann/Documents/Zwift/Activities", "set": {"trainer": True}},
            {"sport": "run", "set": {"sport_type": "VirtualRun"}}] == config.masked_rules()


def test_rule_mistakes_are_reported_with_the_rest() -> None:
    """Rule problems, a folder outside every watched path included, come in the same error."""
    assert ["upload.after", "rules[0].set.sport_type", "rules[1].set.name",
            "rules[2].set.gear_id", "rules[3].folder"] == refused({
        "watch": {"paths": ["~/Garmin/Activity"]},
        "upload": {"after": "shred"},
        "rules": [
            {"set": {"sport_type": 42}},
            {"set": {"name": "{sport} with {weather}"}},
            {"set": {"gear_id": "my-bike"}},
            {"folder": "~/Documents/Zwift/Activities", "set": {"trainer": True}},
        ],
    })


def test_a_rule_folder_under_a_watched_path_is_fine() -> None:
    """A commute sub-folder of a watched path is a valid rule folder."""
    config = ok({"watch": {"paths": ["~/Garmin/Activity"]},
                 "rules": [{"folder": "~/Garmin/Activity/Commute", "set": {"commute": True}}]})
    assert 1 == len(config.rules)


def uncommented_example() -> str:
    """config.example.toml with its Zwift paths line and every example rule switched on."""
    lines = (REPO / "config.example.toml").read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    in_rules = False
    for line in lines:
        in_rules = in_rules or line.startswith("# [[rules]]:")
        if line == 'paths = ["~/Garmin/Activity"]':
            continue
        switch_on = line.startswith("# paths = ") or (
            in_rules and re.fullmatch(r"# (\[\[rules\]\]|\[rules\.set\]|[a-z_]+ = .+)", line)
        )
        out.append(line[2:] if switch_on else line)
    return "\n".join(out) + "\n"


def test_example_rules_are_valid_when_uncommented(tmp_path: Path) -> None:
    """Each built-in rule example (Zwift, commute, gear by device) loads once switched on."""
    from stravasync.config.rules import settings_for
    from stravasync.validate.result import Facts

    path = write(tmp_path / "config.toml", uncommented_example())
    config = load_config(path, env={"HOME": "/home/runner"})
    assert 4 == len(config.rules)
    zwift = Path("/home/runner/Documents/Zwift/Activities")
    run = settings_for(config.rules, path=zwift / "2024-05-07-18-00-00.fit",
                       facts=Facts(sport="run"))
    assert {"sport_type": "VirtualRun", "hide_from_home": True} == run.update_fields()
    assert True is run.trainer
    commute = settings_for(config.rules,
                           path=Path("/home/runner/Garmin/Activity/Commute/a.fit"),
                           facts=Facts(sport="ride", device="garmin edge_530"))
    assert (True, {"gear_id": "b1234567"}) == (commute.commute, commute.update_fields())
    assert () == load_config(REPO / "config.example.toml", env={"HOME": "/h"}).rules


def test_both_example_copies_are_identical() -> None:
    """The repository's and the package's config.example.toml never drift apart."""
    assert (REPO / "config.example.toml").read_bytes() == (
        REPO / "stravasync" / "config.example.toml"
    ).read_bytes()


def test_config_command_shows_the_rules(tmp_path: Path) -> None:
    """`config` prints each [[rules]] with its conditions and settings, text and JSON."""
    watch = tmp_path / "Zwift"
    watch.mkdir()
    path = write(tmp_path / "c.toml", f'[strava]\nclient_id = "1"\n[watch]\npaths = ["{watch}"]\n'
                 f'[[rules]]\nfolder = "{watch}"\n[rules.set]\nsport_type = "VirtualRide"\n'
                 "trainer = true\n")
    text = CliRunner().invoke(cli, ["config", "--config", str(path)])
    assert 0 == text.exit_code, text.output
    assert f'[[rules]]\nfolder = "{watch}"\n[rules.set]' in text.output
    assert 'sport_type = "VirtualRide"' in text.output
    data = json.loads(CliRunner().invoke(cli, ["config", "--json", "--config", str(path)]).stdout)
    assert [{"folder": str(watch), "set": {"trainer": True, "sport_type": "VirtualRide"}}] == [
        {k: v for k, v in rule.items() if k in ("folder", "set")} for rule in data["rules"]]
