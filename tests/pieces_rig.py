"""The engine's pieces (Outcomes, Follower, Transfer…) built by hand over an engine_rig World.

A :class:`Spy` client stands between them and the emulator: it records every call and
can make one method fail, so each piece is tested on its own. (No tests here.)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine_rig import World, workout_file

from stravasync.intake.ingest import PayloadCache, default_validator
from stravasync.state import Workout
from stravasync.state.owners import owner_tag
from stravasync.upload.batch import BatchSettings
from stravasync.upload.follow import Follower
from stravasync.upload.gates import Gates
from stravasync.upload.learning import ProcessingTimes
from stravasync.upload.listing import Listing
from stravasync.upload.outcomes import Outcomes
from stravasync.upload.transfer import Transfer

OWNER = owner_tag()


class Spy:
    """The real client, with every call recorded and ``fail[method]`` raised instead."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail: dict[str, BaseException | Callable[..., Any]] = {}
        self.listing: bool | None = None

    def can_list(self) -> bool:
        return self.real.can_list() if self.listing is None else self.listing

    def list_access(self) -> str:
        if self.listing is None:
            return str(self.real.list_access())
        return "granted" if self.listing else "missing"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            effect = self.fail.get(name)
            if isinstance(effect, BaseException):
                raise effect
            if effect is not None:
                return effect(*args, **kwargs)
            return attr(*args, **kwargs)

        return call

    def names(self) -> list[str]:
        return [name for name, _args, _kwargs in self.calls]


class SlowGovernor:
    """The world's governor, except that ``kind`` calls must wait until ``until``."""

    def __init__(self, real: Any, *, kind: str, until: float) -> None:
        self.real, self.kind, self.until = real, kind, until

    def decide(self, kind: str, *, now: float | None = None, reserve: int = 0) -> float | None:
        if kind == self.kind:
            return self.until
        return self.real.decide(kind, now=now, reserve=reserve)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@dataclass
class Pieces:
    """Outcomes, Follower and Transfer of one engine, and the spy they call."""

    world: World
    spy: Spy
    gates: Gates
    times: ProcessingTimes
    outcomes: Outcomes
    follower: Follower
    transfer: Transfer

    @classmethod
    def over(cls, world: World, *, governor: Any = None,
             settings: BatchSettings | None = None) -> Pieces:
        spy = Spy(world.client)
        gov = governor or world.governor
        gates = Gates(clock=world.clock, min_wait_s=world.timing.min_poll_s)
        timing = world.timing
        payloads = PayloadCache()
        times = ProcessingTimes(store=world.store, timing=timing)
        outcomes = Outcomes(config=world.config, store=world.store, timing=timing, owner=OWNER,
                            gates=gates, payloads=payloads, times=times)
        follower = Follower(store=world.store, clock=world.clock, timing=timing, owner=OWNER,
                            gates=gates, outcomes=outcomes, times=times, client=spy,
                            governor=gov, rng=random.Random(1), settings=settings,
                            listing=Listing(client=spy, store=world.store, clock=world.clock,
                                            timing=timing, rng=random.Random(1)))
        transfer = Transfer(config=world.config, store=world.store, clock=world.clock,
                            timing=timing, owner=OWNER, gates=gates, payloads=payloads,
                            outcomes=outcomes, times=times, client=spy, governor=gov,
                            validator=default_validator, rng=random.Random(1),
                            reserve=follower.reads_to_keep)
        return cls(world=world, spy=spy, gates=gates, times=times, outcomes=outcomes,
                   follower=follower, transfer=transfer)

    def queue(self, *names: str, fmt: str = "fit") -> list[str]:
        """Write and read workouts (queued rows); return their sha256s in name order."""
        paths = [workout_file(self.world.watch, name, start=self.world.start(hours=i), fmt=fmt)
                 for i, name in enumerate(names)]
        self.world.engine().scan(paths)
        return [self.row_at(p).sha256 for p in paths]

    def row_at(self, path: Path) -> Workout:
        record = self.world.store.path_record(str(path.resolve()))
        assert record is not None
        assert record.sha256 is not None
        w = self.world.store.workout(record.sha256)
        assert w is not None
        return w

    def row(self, sha: str) -> Workout:
        w = self.world.store.workout(sha)
        assert w is not None
        return w

    def posted(self, *names: str) -> list[str]:
        """Queue and POST workouts; return their sha256s (uploading, upload id known)."""
        shas = self.queue(*names)
        for sha in shas:
            self.transfer.post(sha)
        return shas
