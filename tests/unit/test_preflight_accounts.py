"""``service install`` warns about each account that could not send yet, by name."""

from __future__ import annotations

from pathlib import Path

from household_rig import household

from stravasync.service.preflight import service_warnings


def test_each_signed_out_account_is_named_and_the_signed_in_ones_are_not(
        tmp_path: Path) -> None:
    """Bob signed out: one warning naming him; Jane (signed in) and jane-icu (key file) none."""
    home = household(tmp_path)
    home.sign_in("jane", 1234567)

    warnings = [w for w in service_warnings(home.config) if w.startswith("account")]

    assert ["account bob is not signed in yet: run `stravasync auth --account bob`; until "
            "then its files wait"] == warnings
