"""Owns sending each file to the accounts whose folders hold it: one engine per account.

A :class:`Router` stands where one :class:`~stravasync.upload.engine.Engine` stood, with
the same calls (``submit``, ``scan``, ``start``, ``wait_idle`` …), over one
:class:`Lane` per account: that account's engine, on that account's own store. The only
decision it makes is :func:`~stravasync.config.accounts.routes_for`'s: a path goes to
every account whose folders hold it, as the watcher names it, and to no other. Below
the router nothing can cross: an engine holds one store and one sign-in, both in its
account's folder.

What needs a person (signed out, a refused key) halts one lane; the others go on.
``fatal`` is therefore per lane (:meth:`Router.halted`), and a wait over several lanes
ends ``fatal`` only after the others' work is done (:func:`combine_waits`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from structlog.contextvars import bound_contextvars

from stravasync.config.accounts import routes_for
from stravasync.errors import ConfigError, StravaSyncError
from stravasync.intake.ingest import Submitted
from stravasync.logs import get_logger
from stravasync.state import State
from stravasync.upload.archive import watch_root
from stravasync.upload.reports import ScanReport, WaitResult

if TYPE_CHECKING:
    from stravasync.config.accounts import Account
    from stravasync.state import Store
    from stravasync.upload.engine import Engine

__all__ = ["Lane", "ReadReserve", "Router", "combine_submitted", "combine_waits", "peer_stores",
           "worst_state"]

log = get_logger(__name__)

#: How a file's states rank when one path is shown for several accounts (first = shown).
_RANK = (State.PENDING, State.INVALID, State.REJECTED, State.RETRYING, State.UPLOADING,
         State.QUEUED, State.UPDATING, State.SKIPPED, State.DUPLICATE, State.UPLOADED)


def worst_state(states: Iterable[State]) -> State:
    """The state that says most about a path sent to several accounts (the least done)."""
    found = set(states)
    return next((s for s in _RANK if s in found), State.PENDING)


@dataclass
class Lane:
    """One account: its engine, on its own store, with its own sign-in or key."""

    account: Account
    engine: Engine
    store: Store
    closers: list[Callable[[], None]] = field(default_factory=list)
    """What to close when the lane is done (HTTP clients, the store)."""

    @property
    def name(self) -> str:
        """The account's name."""
        return self.account.name

    def close(self) -> None:
        """Close the lane's clients and store (after its engine stopped)."""
        for close in self.closers:
            close()


class Router:
    """The engines of every account behind one engine-like API (thread-safe)."""

    def __init__(self, lanes: Sequence[Lane]) -> None:
        if not lanes:
            raise ValueError("a router needs at least one account")
        self._lanes = tuple(lanes)
        self._accounts = tuple(lane.account for lane in lanes)
        for lane in self._lanes:  # several accounts: every log line says whose it is
            lane.engine.account_in_logs = len(self._lanes) > 1
        self._by_name = {lane.name: lane for lane in lanes}

    # -- who ------------------------------------------------------------------------------

    @property
    def lanes(self) -> tuple[Lane, ...]:
        """Every account's lane, in configuration order."""
        return self._lanes

    @property
    def engine(self) -> Engine:
        """The first account's engine (one-account callers and tests)."""
        return self._lanes[0].engine

    def lane(self, name: str) -> Lane:
        """The lane of account ``name``; a ConfigError naming the known ones otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name)
            raise ConfigError(f"no account named {name!r}: the configuration has {known}") \
                from None

    def lanes_for(self, path: Path | str) -> tuple[Lane, ...]:
        """The lanes a path goes to (``routes_for``), in configuration order."""
        return tuple(self._by_name[a.name] for a in routes_for(self._accounts, path))

    def peers(self, account: str) -> Callable[[str], list[Store]]:
        """For ``upload.after``: the stores of the other accounts a path goes to."""
        return peer_stores(self._accounts, {lane.name: lane.store for lane in self._lanes},
                           account)

    # -- taking files in ------------------------------------------------------------------

    def submit(
        self, path: Path | str, *, ignore_age: bool = False, retry: bool = False,
        writer_done: bool = False, lanes: Sequence[Lane] | None = None,
    ) -> Submitted:
        """Hand a file that looks complete to each account it goes to; the combined answer.

        ``lanes``: the accounts to send it to (``upload --account``), else its routes. A
        path no account holds goes nowhere: it is ``skipped`` with the reason.
        """
        chosen = self.lanes_for(path) if lanes is None else tuple(lanes)
        if not chosen:
            real = os.path.realpath(path)
            log.warning("file_unrouted", path=real)
            return Submitted(path=real, sha256=None, state=State.SKIPPED, known=True,
                             error="no account's folders hold this file")
        answers = []
        for lane in chosen:
            with bound_contextvars(**lane.engine.log_context()):
                answers.append(lane.engine.submit(path, ignore_age=ignore_age, retry=retry,
                                                  writer_done=writer_done))
        return combine_submitted(answers)

    def scan(self, paths: Iterable[Path | str]) -> ScanReport:
        """Startup reconciliation: each account scans the paths that go to it."""
        mine: dict[str, list[Path | str]] = {lane.name: [] for lane in self._lanes}
        for path in paths:
            for lane in self.lanes_for(path):
                mine[lane.name].append(path)
        reports = []
        for lane in self._lanes:
            with bound_contextvars(**lane.engine.log_context()):
                reports.append(lane.engine.scan(mine[lane.name]))
        recheck: dict[str, float] = {}
        for report in reports:
            for path, at in report.recheck.items():
                recheck[path] = min(at, recheck.get(path, at))
        return ScanReport(seen=sum(r.seen for r in reports), known=sum(r.known for r in reports),
                          read=sum(r.read for r in reports), recheck=recheck)

    # -- running --------------------------------------------------------------------------

    def start(self) -> None:
        """Start every account's engine."""
        for lane in self._lanes:
            lane.engine.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every engine (in-flight calls finish or stay recorded), within ``timeout``."""
        deadline = time.monotonic() + timeout
        for lane in self._lanes:
            lane.engine.stop(timeout=max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        """Close every lane's clients and store (after :meth:`stop`)."""
        for lane in self._lanes:
            lane.close()

    def wake(self) -> None:
        """Every engine looks at its store again now."""
        for lane in self._lanes:
            lane.engine.wake()

    def on_news(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` when any account's workout finished or its calls stopped."""
        for lane in self._lanes:
            lane.engine.on_news(listener)

    def next_due(self) -> float | None:
        """The earliest work of any account (None: nothing left anywhere)."""
        times = [t for t in (lane.engine.next_due() for lane in self._lanes) if t is not None]
        return min(times) if times else None

    def halted(self) -> dict[str, StravaSyncError]:
        """The accounts whose calls stopped for a person, with why."""
        return {lane.name: lane.engine.fatal for lane in self._lanes
                if lane.engine.fatal is not None}

    def wait_idle(self, timeout: float | None = None, *, leave_held: bool = False,
                  only: Mapping[str, Collection[str]] | None = None) -> WaitResult:
        """Wait until every account's work is final or deferred (see ``Engine.wait_idle``).

        ``only`` maps account names to the sha256s to wait for (``upload``). A halted
        account does not stop the wait for the others: their work is waited for first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        results: list[WaitResult] = []
        for lane in self._lanes:
            if only is not None and not only.get(lane.name):
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            results.append(lane.engine.wait_idle(
                left, leave_held=leave_held,
                only=None if only is None else only[lane.name]))
        return combine_waits(results)


def peer_stores(accounts: Sequence[Account], stores: Mapping[str, Store],
                account: str) -> Callable[[str], list[Store]]:
    """For ``upload.after``: the stores of the accounts other than ``account`` a path goes to.

    The path as the store names it (real) may differ from the watcher's spelling when a
    folder is named through a symlink: a folder holds it either way, so a file is never
    moved away from an account that still waits for it.
    """
    def others(path: str) -> list[Store]:
        names = [a.name for a in accounts if a.name != account
                 and (a.holds(path) or watch_root(path, a.paths) is not None)]
        return [stores[name] for name in names if name in stores]
    return others


class ReadReserve:
    """The reads kept back to follow every account's uploads in flight (one app budget).

    Each Strava engine adds its follower's count; every engine's POST step asks the sum,
    so one account's backlog never spends the reads another needs to follow its uploads.
    """

    def __init__(self) -> None:
        self._parts: list[Callable[[], int]] = []

    def add(self, part: Callable[[], int]) -> None:
        """Count one more engine's reads to keep."""
        self._parts.append(part)

    def __call__(self) -> int:
        """Reads to keep now, over every engine."""
        return sum(part() for part in self._parts)


def combine_submitted(answers: Sequence[Submitted]) -> Submitted:
    """One answer for a path sent to several accounts: the least done, soonest recheck."""
    first = answers[0]
    if len(answers) == 1:
        return first
    state = worst_state(a.state for a in answers)
    shown = next(a for a in answers if a.state is state)
    rechecks = [a.recheck_at for a in answers if a.recheck_at is not None]
    return Submitted(path=first.path, sha256=shown.sha256, state=state,
                     known=all(a.known for a in answers), error=shown.error,
                     recheck_at=min(rechecks) if rechecks else None)


def combine_waits(results: Sequence[WaitResult]) -> WaitResult:
    """One answer for several accounts' waits: fatal, timeout, deferred, then done."""
    counts: dict[str, int] = {}
    held: dict[str, str] = {}
    for result in results:
        for state, n in result.counts.items():
            counts[state] = counts.get(state, 0) + n
        held.update(result.held)
    for status in ("fatal", "timeout", "deferred"):
        matching = [r for r in results if r.status == status]
        if matching:
            dues = [r.next_due for r in results if r.next_due is not None]
            return WaitResult(status, next_due=min(dues) if dues else None,
                              fatal=matching[0].fatal, counts=counts, held=held)
    return WaitResult("done", counts=counts, held=held)
