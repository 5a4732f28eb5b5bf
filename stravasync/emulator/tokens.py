"""Authorization codes, grants (refresh token + access tokens) and connected athletes.

A grant is what one code exchange creates: a refresh token and the access tokens
issued from it. Refresh rotation replaces the grant's refresh token (the old one
dies at once); access tokens already issued live until they expire. Revoking any
token of a grant kills the whole grant; deauthorizing kills every grant of the
athlete. Not thread-safe: the emulator state calls it under its lock.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal


def new_token() -> str:
    """A token shaped like Strava's: 40 lower-case hex characters."""
    return secrets.token_hex(20)


@dataclass
class Code:
    """An authorization code handed out by /oauth/authorize."""

    athlete_id: int
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    """Tokens from one code exchange."""

    id: int
    athlete_id: int
    scope: str
    created_at: float
    refresh_token: str
    access_tokens: dict[str, float] = field(default_factory=dict)
    refreshes: int = 0
    revoked: bool = False


@dataclass(frozen=True)
class Issued:
    """An access token just issued, with its grant."""

    grant: Grant
    access_token: str
    expires_at: int


class TokenBook:
    """Every code and grant, and the athletes connected to the application."""

    def __init__(self) -> None:
        self._codes: dict[str, Code] = {}
        self._grants: list[Grant] = []
        self._by_refresh: dict[str, Grant] = {}
        self._by_access: dict[str, Grant] = {}
        self.connected: list[int] = []
        """Athlete ids with a live grant, in the order they connected."""

    def new_code(self, *, athlete_id: int, scope: str, expires_at: float) -> str:
        """Hand out a single-use code."""
        code = new_token()
        self._codes[code] = Code(athlete_id=athlete_id, scope=scope, expires_at=expires_at)
        return code

    def take_code(self, code: str, *, now: float) -> Code | Literal["invalid", "expired"]:
        """Use up `code`; say why not if it cannot be used."""
        found = self._codes.get(code)
        if found is None or found.used:
            return "invalid"
        found.used = True
        if now >= found.expires_at:
            return "expired"
        return found

    def open_grant(self, *, athlete_id: int, scope: str, now: float, lifetime: int) -> Issued:
        """Create a grant with fresh tokens (a code exchange or a seeded sign-in)."""
        grant = Grant(
            id=len(self._grants) + 1,
            athlete_id=athlete_id,
            scope=scope,
            created_at=now,
            refresh_token=new_token(),
        )
        self._grants.append(grant)
        self._by_refresh[grant.refresh_token] = grant
        if athlete_id not in self.connected:
            self.connected.append(athlete_id)
        return self._issue(grant, now=now, lifetime=lifetime)

    def _issue(self, grant: Grant, *, now: float, lifetime: int) -> Issued:
        token = new_token()
        expires_at = int(now) + lifetime
        grant.access_tokens[token] = expires_at
        self._by_access[token] = grant
        return Issued(grant=grant, access_token=token, expires_at=expires_at)

    def refresh(
        self, refresh_token: str, *, now: float, lifetime: int, rotate: bool
    ) -> Issued | None:
        """A new access token (and, if `rotate`, a new refresh token) for a live grant."""
        grant = self._by_refresh.get(refresh_token)
        if grant is None or grant.revoked:
            return None
        if rotate:
            del self._by_refresh[refresh_token]
            grant.refresh_token = new_token()
            self._by_refresh[grant.refresh_token] = grant
        grant.refreshes += 1
        return self._issue(grant, now=now, lifetime=lifetime)

    def check_access(self, token: str, *, now: float) -> Grant | None:
        """The live grant `token` belongs to, if the token is valid at `now`."""
        grant = self._by_access.get(token)
        if grant is None or grant.revoked or now >= grant.access_tokens[token]:
            return None
        return grant

    def grant_of(self, token: str) -> Grant | None:
        """The live grant holding `token` (access or refresh), expired or not."""
        grant = self._by_access.get(token) or self._by_refresh.get(token)
        return None if grant is None or grant.revoked else grant

    def revoke_grant(self, grant: Grant) -> None:
        """Kill every token of `grant`."""
        grant.revoked = True
        self._by_refresh.pop(grant.refresh_token, None)
        for token in grant.access_tokens:
            self._by_access.pop(token, None)
        if not any(g.athlete_id == grant.athlete_id and not g.revoked for g in self._grants):
            self.connected = [a for a in self.connected if a != grant.athlete_id]

    def revoke_athlete(self, athlete_id: int) -> int:
        """Kill every grant of `athlete_id`; return how many were live."""
        live = [g for g in self._grants if g.athlete_id == athlete_id and not g.revoked]
        for grant in live:
            self.revoke_grant(grant)
        return len(live)

    def expire_access_tokens(self, *, now: float) -> int:
        """Make every access token expired at `now`; return how many were live."""
        count = 0
        for grant in self._grants:
            for token, expires_at in grant.access_tokens.items():
                if expires_at > now:
                    grant.access_tokens[token] = int(now)
                    count += 1
        return count

    def snapshot(self) -> list[dict[str, object]]:
        """Grants without their tokens, for inspection."""
        return [
            {
                "id": g.id,
                "athlete_id": g.athlete_id,
                "scope": g.scope,
                "created_at": g.created_at,
                "refreshes": g.refreshes,
                "access_tokens": len(g.access_tokens),
                "revoked": g.revoked,
            }
            for g in self._grants
        ]
