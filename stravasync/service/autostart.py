"""Autostart: the systemd user unit (Linux) and the launchd agent (macOS), one class each.

Owns the unit text (``render_systemd_unit``: the single source of both the unit that
``service install`` writes and the sample ``systemd/stravasync.service``), the plist,
where they live, and talking to ``systemctl --user`` / ``launchctl``. The service runs
*this* installation's interpreter (``sys.executable -m stravasync run``), so a venv or
pipx install starts the code it was installed from.

Where the service manager cannot be reached (not installed, no user bus: typical in
containers and over plain SSH) the file is still written and the result says which
commands to run later; that is not an error. A manager that answers but refuses
(e.g. the unit fails to start) is: ``ServiceError``.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stravasync.errors import ServiceError

__all__ = [
    "LAUNCHD_LABEL",
    "SAMPLE_EXEC_START",
    "UNIT_NAME",
    "Autostart",
    "AutostartReport",
    "LaunchdAgent",
    "ServiceError",
    "SystemdUserService",
    "autostart_for",
    "render_launchd_plist",
    "render_systemd_unit",
]

UNIT_NAME = "stravasync.service"
LAUNCHD_LABEL = "io.github.stravasync"
#: ExecStart of the sample unit in ``systemd/``: where ``pipx``/``pip install --user`` put it.
SAMPLE_EXEC_START = "%h/.local/bin/stravasync run"

_UNIT_TEMPLATE = """\
# stravasync: uploads workout files to Strava (systemd user service).
#
# `stravasync service install` writes this file to
# ~/.config/systemd/user/stravasync.service with ExecStart pointing at the
# installation it was run from; to install by hand, copy it there and run
#   systemctl --user daemon-reload && systemctl --user enable --now stravasync
# Logs: journalctl --user -u stravasync
#
# Hardening: the options that need a mount or user namespace (ProtectSystem,
# ReadWritePaths, PrivateTmp, ProtectKernel*, ProtectControlGroups) only take
# effect in user units where unprivileged user namespaces are available (systemd
# 253+ then implies PrivateUsers=yes; older versions ignore them). The seccomp and
# prctl based ones (NoNewPrivileges, RestrictAddressFamilies, LockPersonality,
# MemoryDenyWriteExecute, SystemCallArchitectures, SystemCallFilter, Restrict*)
# work in every user unit.

[Unit]
Description=stravasync: upload new workout files to Strava

[Service]
# The daemon says READY=1 once its folders are watched, and pings WATCHDOG=1
# every WatchdogSec/2 seconds; only the main process may notify.
Type=notify
NotifyAccess=main
WatchdogSec=60
# `stravasync run` stays in the foreground. Add --config PATH before `run` to use
# another configuration file than ~/.config/stravasync/config.toml.
ExecStart={exec_start}
Restart=on-failure
RestartSec=30
# Exit status 2 is a configuration error, 65 a damaged state database (run
# `stravasync state reset`): restarting will not fix either.
RestartPreventExitStatus=2 65
# The daemon finishes the request in flight and records its state on SIGTERM.
TimeoutStopSec=10
# Log lines reach the journal at once.
Environment=PYTHONUNBUFFERED=1
# Files we create (state, tokens) are readable by the user only.
UMask=0077

# Never gain privileges (setuid binaries, file capabilities).
NoNewPrivileges=yes
# The whole file system is read-only for us...
ProtectSystem=strict
# ...except home (state dir ~/.local/state/stravasync, watched folders, where
# `after = "move"` archives) and removable media mounted under these folders
# (`-`: ignored where missing).
ReadWritePaths=%h -/media -/run/media -/mnt
# A private /tmp and /var/tmp.
PrivateTmp=yes
# No writing to /proc/sys, /sys, kernel modules or control groups.
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
# Sockets: local (sd_notify, the OAuth callback on 127.0.0.1) and IP only.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
# No switching of the execution domain (personality(2)).
LockPersonality=yes
# No memory that is both writable and executable: CPython does not need it (a
# JIT or libffi closures would; drop this line if a plugin fails with EPERM).
MemoryDenyWriteExecute=yes
# Only native system calls (no 32-bit compat entry points).
SystemCallArchitectures=native
# The system calls an ordinary service uses, nothing more.
SystemCallFilter=@system-service
# No realtime scheduling, no setuid/setgid files, no new namespaces.
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes

[Install]
WantedBy=default.target
"""


@dataclass(frozen=True)
class AutostartReport:
    """What a service action did, for a person to read."""

    path: Path
    """The unit file or plist."""
    installed: bool
    """Whether that file exists now."""
    reachable: bool
    """Whether systemctl/launchctl answered."""
    lines: tuple[str, ...]
    """What to tell the person, one line each."""


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str] | None"]


def run_tool(args: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    """Run a service-manager command; None when it is not installed or hangs."""
    exe = shutil.which(args[0])
    if exe is None:
        return None
    try:
        return subprocess.run(  # noqa: S603 - fixed commands, no shell
            [exe, *args[1:]], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def default_program() -> tuple[str, ...]:
    """How to start this installation: its own interpreter running the package."""
    return (sys.executable, "-m", "stravasync")


def _command(program: Sequence[str], config_path: Path | None) -> list[str]:
    args = list(program)
    if config_path is not None:
        args += ["--config", str(config_path.expanduser().absolute())]
    return [*args, "run"]


def _systemd_quote(arg: str) -> str:
    """Quote one ExecStart word: specifiers (%) and variables ($) are doubled."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in " \t\n\"'\\;"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_systemd_unit(exec_start: str = SAMPLE_EXEC_START) -> str:
    """The unit text; ``exec_start`` is the ExecStart= value, already quoted."""
    return _UNIT_TEMPLATE.replace("{exec_start}", exec_start)


def render_launchd_plist(*, label: str, arguments: Sequence[str], log_dir: Path) -> bytes:
    """The launchd agent: starts at login, restarted when it exits, logs to ``log_dir``."""
    return plistlib.dumps(
        {
            "Label": label,
            "ProgramArguments": list(arguments),
            "RunAtLoad": True,
            "KeepAlive": True,
            "ProcessType": "Background",
            "StandardOutPath": str(log_dir / "stravasync.out.log"),
            "StandardErrorPath": str(log_dir / "stravasync.err.log"),
            "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        }
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stderr or result.stdout or "").split())[:300]


class Autostart(Protocol):
    """Installs, removes and describes the per-user background service."""

    @property
    def path(self) -> Path:
        """Where the service definition is written."""
        ...

    def install(self, *, config_path: Path | None = None) -> AutostartReport:
        """Write the definition, then enable and start it where the manager answers."""
        ...

    def uninstall(self) -> AutostartReport:
        """Stop and disable where possible, then remove the definition."""
        ...

    def status(self) -> AutostartReport:
        """Whether it is installed, and what the manager says about it."""
        ...


class SystemdUserService:
    """A systemd user unit in ``$XDG_CONFIG_HOME/systemd/user`` (Linux)."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        runner: Runner = run_tool,
        program: Sequence[str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        home = Path(env.get("HOME") or Path.home())
        config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        self._path = config_home / "systemd" / "user" / UNIT_NAME
        self._run = runner
        self._program = tuple(program) if program is not None else default_program()

    @property
    def path(self) -> Path:
        """The unit file."""
        return self._path

    def _systemctl(self, *args: str) -> subprocess.CompletedProcess[str] | None:
        return self._run(["systemctl", "--user", *args])

    def install(self, *, config_path: Path | None = None) -> AutostartReport:
        """Write the unit, reload the user manager, enable and start the service."""
        exec_start = " ".join(_systemd_quote(a) for a in _command(self._program, config_path))
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(render_systemd_unit(exec_start), encoding="utf-8")
        lines = [f"wrote {self._path}", f"ExecStart={exec_start}"]
        reload = self._systemctl("daemon-reload")
        if reload is None or reload.returncode != 0:
            why = "systemctl not found" if reload is None else _output(reload)
            lines += [
                f"note: the systemd user manager cannot be reached ({why}); the unit is",
                "installed but not started. Where systemd runs for you, start it with:",
                "  systemctl --user daemon-reload",
                f"  systemctl --user enable --now {UNIT_NAME}",
            ]
            return AutostartReport(self._path, installed=True, reachable=False, lines=tuple(lines))
        started = self._systemctl("enable", "--now", UNIT_NAME)
        if started is None or started.returncode != 0:
            why = "systemctl vanished" if started is None else _output(started)
            raise ServiceError(
                f"the unit was written to {self._path} but did not start: {why}. "
                "See `journalctl --user -u stravasync` for the daemon's own message.",
                title="Service did not start",
            )
        lines.append(f"enabled and started {UNIT_NAME} (journalctl --user -u stravasync)")
        return AutostartReport(self._path, installed=True, reachable=True, lines=tuple(lines))

    def uninstall(self) -> AutostartReport:
        """Disable and stop the service where possible, remove the unit, reload."""
        lines: list[str] = []
        stopped = self._systemctl("disable", "--now", UNIT_NAME)
        reachable = stopped is not None and stopped.returncode == 0
        if reachable:
            lines.append(f"stopped and disabled {UNIT_NAME}")
        existed = self._path.exists()
        self._path.unlink(missing_ok=True)
        lines.append(f"removed {self._path}" if existed else f"{self._path} was not installed")
        if reachable:
            self._systemctl("daemon-reload")
        elif existed:
            lines.append(
                "note: the systemd user manager cannot be reached; if the service still "
                f"runs somewhere, stop it there with `systemctl --user disable --now {UNIT_NAME}`"
            )
        return AutostartReport(self._path, installed=False, reachable=reachable, lines=tuple(lines))

    def status(self) -> AutostartReport:
        """Installed or not, and `systemctl --user status` when it answers."""
        installed = self._path.exists()
        lines = [f"unit file: {self._path} ({'installed' if installed else 'not installed'})"]
        result = self._systemctl("status", "--no-pager", "--lines=5", UNIT_NAME)
        # It prints the unit's state when the manager answers; exit status 4 is an
        # unknown unit (answered too); no bus means exit 1 and nothing on stdout.
        reachable = result is not None and (bool(result.stdout.strip()) or result.returncode == 4)
        if result is not None and reachable:
            lines += (result.stdout.rstrip() or _output(result)).splitlines()
        else:
            why = "systemctl not found" if result is None else _output(result)
            lines.append(f"systemd user manager: not reachable ({why})")
        return AutostartReport(self._path, installed=installed, reachable=reachable,
                               lines=tuple(lines))


class LaunchdAgent:
    """A launchd agent in ``~/Library/LaunchAgents`` (macOS)."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        runner: Runner = run_tool,
        program: Sequence[str] | None = None,
        uid: int | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self._home = Path(env.get("HOME") or Path.home())
        self._path = self._home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        self._run = runner
        self._program = tuple(program) if program is not None else default_program()
        self._domain = f"gui/{os.getuid() if uid is None else uid}"

    @property
    def path(self) -> Path:
        """The plist."""
        return self._path

    @property
    def log_dir(self) -> Path:
        """Where launchd writes the daemon's output."""
        return self._home / "Library" / "Logs" / "stravasync"

    def install(self, *, config_path: Path | None = None) -> AutostartReport:
        """Write the plist and load it (bootstrap, else the older ``load -w``)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        arguments = _command(self._program, config_path)
        self._path.write_bytes(
            render_launchd_plist(label=LAUNCHD_LABEL, arguments=arguments, log_dir=self.log_dir)
        )
        lines = [f"wrote {self._path}", f"runs: {shlex.join(arguments)}"]
        self._run(["launchctl", "bootout", f"{self._domain}/{LAUNCHD_LABEL}"])  # reload if loaded
        loaded = self._run(["launchctl", "bootstrap", self._domain, str(self._path)])
        if loaded is not None and loaded.returncode != 0:
            loaded = self._run(["launchctl", "load", "-w", str(self._path)])
        if loaded is None or loaded.returncode != 0:
            why = "launchctl not found" if loaded is None else _output(loaded)
            lines += [
                f"note: launchd cannot be reached ({why}); the agent is installed but not",
                "loaded. Load it from your login session with:",
                f"  launchctl bootstrap {self._domain} {shlex.quote(str(self._path))}",
            ]
            return AutostartReport(self._path, installed=True, reachable=False, lines=tuple(lines))
        lines.append(f"loaded {LAUNCHD_LABEL}; logs in {self.log_dir}")
        return AutostartReport(self._path, installed=True, reachable=True, lines=tuple(lines))

    def uninstall(self) -> AutostartReport:
        """Unload the agent where possible and remove the plist."""
        lines: list[str] = []
        result = self._run(["launchctl", "bootout", f"{self._domain}/{LAUNCHD_LABEL}"])
        if result is not None and result.returncode != 0 and self._path.exists():
            result = self._run(["launchctl", "unload", "-w", str(self._path)])
        reachable = result is not None and result.returncode == 0
        if reachable:
            lines.append(f"unloaded {LAUNCHD_LABEL}")
        existed = self._path.exists()
        self._path.unlink(missing_ok=True)
        lines.append(f"removed {self._path}" if existed else f"{self._path} was not installed")
        return AutostartReport(self._path, installed=False, reachable=reachable, lines=tuple(lines))

    def status(self) -> AutostartReport:
        """Installed or not, and `launchctl print` when it answers."""
        installed = self._path.exists()
        lines = [f"agent: {self._path} ({'installed' if installed else 'not installed'})"]
        result = self._run(["launchctl", "print", f"{self._domain}/{LAUNCHD_LABEL}"])
        reachable = result is not None
        if result is None:
            lines.append("launchd: not reachable (launchctl not found)")
        elif result.returncode == 0:
            keep = ("state =", "pid =", "last exit code =")
            lines += [
                ln.strip() for ln in result.stdout.splitlines() if ln.strip().startswith(keep)
            ]
        else:
            lines.append(f"launchd: {LAUNCHD_LABEL} is not loaded")
        return AutostartReport(self._path, installed=installed, reachable=reachable,
                               lines=tuple(lines))


def autostart_for(
    platform: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    runner: Runner = run_tool,
    program: Sequence[str] | None = None,
) -> Autostart:
    """The autostart class for ``platform`` (default: this one's ``sys.platform``)."""
    platform = sys.platform if platform is None else platform
    if platform == "darwin":
        return LaunchdAgent(env=env, runner=runner, program=program)
    if platform.startswith("linux"):
        return SystemdUserService(env=env, runner=runner, program=program)
    raise ServiceError(
        f"autostart is supported on Linux (systemd) and macOS (launchd), not {platform}; "
        "run `stravasync run` from your own service manager instead.",
        title="Unsupported platform",
    )
