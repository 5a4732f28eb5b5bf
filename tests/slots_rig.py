"""Two Strava accounts of one app on a manual clock: two engines, one governor, one arbiter.

A fake Strava (:class:`SlotStrava`) turns every POST into an activity at once and,
being also the governor the engines ask, lets one upload through per ``slot_s``
seconds: the tightest budget, one POST per upload slot. Each account has its own
store and folder; the engines are built by :func:`stravasync.stack.build_engine`
and driven with ``tick()`` (no threads, no sleeping). (No tests here.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine_rig import FAST, World, workout_file

from stravasync.config.accounts import Account
from stravasync.emulator import ManualClock
from stravasync.stack import build_engine
from stravasync.state import Store
from stravasync.strava.client import Upload
from stravasync.strava.governor import RequestKind
from stravasync.upload.engine import Engine
from stravasync.upload.slots import SlotArbiter


@dataclass(frozen=True)
class Post:
    """One POST the fake Strava received."""

    account: str
    external_id: str
    at: float


@dataclass
class SlotStrava:
    """Strava for every account, and the app's governor: one upload per ``slot_s``."""

    clock: ManualClock
    slot_s: float = 60.0
    posts: list[Post] = field(default_factory=list)
    next_slot: float = 0.0

    def client(self, account: str) -> AccountClient:
        """The API client of one account."""
        return AccountClient(self, account)

    def decide(self, kind: RequestKind, *, now: float | None = None, reserve: int = 0) -> float | None:
        at = self.clock() if now is None else now
        return None if kind != "upload" or at >= self.next_slot else self.next_slot

    def reads_left(self, *, now: float | None = None) -> int:
        return 1000

    def hold_uploads(self, *, until: float, reserve: int, now: float | None = None) -> None:
        """Nothing to show."""


@dataclass
class AccountClient:
    """One account's client of :class:`SlotStrava`."""

    strava: SlotStrava
    account: str

    def create_upload(self, *, data: bytes, data_type: str, external_id: str,
                      **_fields: object) -> Upload:
        now = self.strava.clock()
        assert now >= self.strava.next_slot, "a POST beyond the budget"
        self.strava.next_slot = now + self.strava.slot_s
        self.strava.posts.append(Post(self.account, external_id, now))
        n = len(self.strava.posts)
        return Upload(id=str(n), external_id=external_id, status="Your activity is ready.",
                      error=None, activity_id=1000 + n)

    def can_list(self) -> bool:
        return False

    def list_access(self) -> str:
        return "missing"

    def get_upload(self, upload_id: str) -> Upload:
        raise AssertionError("every upload is done at once")

    def list_activities(self, **_kwargs: object) -> list[object]:
        raise AssertionError("nothing to list")

    def update_activity(self, activity_id: int, fields: object) -> None:
        raise AssertionError("no rules")


@dataclass
class Member:
    """One account: its folder, store and engine."""

    name: str
    folder: Path
    store: Store
    engine: Engine

    def add(self, count: int, *, start: datetime, prefix: str = "w") -> list[Path]:
        """Write ``count`` workouts an hour apart from ``start`` backwards, and scan them."""
        paths = [workout_file(self.folder, f"{prefix}{i:03d}.fit", start=start - timedelta(hours=i))
                 for i in range(count)]
        self.engine.scan(paths)
        return paths

    def external_id(self, path: Path) -> str:
        """The external_id the POST of ``path`` carries."""
        record = self.store.path_record(str(path.resolve()))
        assert record is not None
        assert record.sha256 is not None
        return f"stravasync-{record.sha256[:20]}"


class Household:
    """Accounts ``a`` and ``b`` on one :class:`SlotStrava`, with or without an arbiter."""

    def __init__(self, tmp: Path, *, fair: bool = True, slot_s: float = 60.0) -> None:
        self.world = World(tmp, config_overrides={"watch": {"max_age_days": 0}}, timing=FAST)
        self.clock = self.world.clock
        self.strava = SlotStrava(self.clock, slot_s=slot_s)
        self.slots = SlotArbiter() if fair else None
        self.accounts = {name: self._account(tmp, name) for name in ("a", "b")}

    def _account(self, tmp: Path, name: str) -> Member:
        store = Store.open(tmp / f"state-{name}", clock=self.clock)
        engine = build_engine(config=self.world.config, store=store,
                              client=self.strava.client(name), governor=self.strava,
                              clock=self.clock, timing=FAST, slots=self.slots,
                              account=Account(name=name, paths=(tmp / f"watch-{name}",)))
        return Member(name=name, folder=tmp / f"watch-{name}", store=store, engine=engine)

    def now(self, *, days_ago: float = 0.0) -> datetime:
        """A time ``days_ago`` before the manual clock."""
        return datetime.fromtimestamp(self.clock(), UTC) - timedelta(days=days_ago)

    def run(self, *, posts: int, steps: int = 10_000) -> None:
        """Tick both engines (``a`` first) until ``posts`` more POSTs were made."""
        goal = len(self.strava.posts) + posts
        for _ in range(steps):
            dues = [account.engine.tick() for account in self.accounts.values()]
            if len(self.strava.posts) >= goal:
                return
            due = min((d for d in dues if d is not None), default=None)
            if due is None:
                raise AssertionError("nothing left to do")
            self.clock.set(max(due, self.clock()))
        raise AssertionError("the engines did not make the POSTs")
