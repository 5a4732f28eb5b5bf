"""An account's stored sign-in is checked at every use, not only when the daemon starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from household_rig import household
from strava_rig import ACCESS

from stravasync.errors import AccountCrossed
from stravasync.stack import open_account_tokens

JANE, BOB = 1234567, 2345678


def test_another_athletes_token_file_copied_in_is_refused_at_its_first_use(
        tmp_path: Path) -> None:
    """Jane's token file copied into Bob's folder: Bob's token store refuses to hand it out."""
    house = household(tmp_path)
    house.sign_in("jane", JANE)
    house.sign_in("bob", BOB)
    jane, bob = (next(a for a in house.config.accounts if a.name == n) for n in ("jane", "bob"))
    bob_tokens = open_account_tokens(house.config, bob)
    (house.folders["bob"] / "tokens.json").write_bytes(
        (house.folders["jane"] / "tokens.json").read_bytes())

    with pytest.raises(AccountCrossed) as crossed:
        bob_tokens.access_token()

    assert ("account 'bob': the sign-in is for athlete 1234567, but account 'bob' belongs "
            "to athlete 2345678") in crossed.value.message
    assert ACCESS == open_account_tokens(house.config, jane).access_token()
