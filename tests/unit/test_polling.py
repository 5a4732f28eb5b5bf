"""Tests for polling's timing decisions and the processing estimates learned per kind of file."""

from __future__ import annotations

import random

import pytest

from stravasync.upload.polling import (
    ESTIMATES_KEY,
    LEGACY_ESTIMATE_KEY,
    Estimates,
    Pacing,
    backoff_delay,
    estimate_key,
    first_poll_delay,
    learn_processing_time,
    learn_still_processing,
    load_estimates,
    next_poll_delay,
    prior_estimate,
    save_estimates,
    size_band,
)

TIMING = Pacing()


# -- the existing decisions ---------------------------------------------------------------


def test_first_poll_waits_for_the_estimate_but_at_least_a_second() -> None:
    """The first poll goes after the expected processing time, never sooner than a second."""
    assert 4.5 == first_poll_delay(4.5, TIMING)
    assert TIMING.min_poll_s == first_poll_delay(0.2, TIMING)


def test_later_polls_come_at_growing_intervals() -> None:
    """Each further poll of an upload still processing waits longer than the one before."""
    delays = [next_poll_delay(elapsed=5.0, polls=n, estimate=4.0, timing=TIMING)[0]
              for n in (1, 2, 3)]
    assert [2.0, 3.2, 5.12] == [round(d, 2) for d in delays]


def test_later_polls_never_come_within_a_second() -> None:
    """Strava's advice: at least a second between polls, however small the estimate."""
    assert (TIMING.min_poll_s, False) == next_poll_delay(elapsed=1.5, polls=1, estimate=1.0,
                                                         timing=TIMING)


def test_polls_stop_at_the_parking_time_then_park() -> None:
    """The last quick poll lands on the parking time; after it the upload is parked for minutes."""
    assert (10.0, False) == next_poll_delay(elapsed=170.0, polls=9, estimate=30.0, timing=TIMING)
    assert (TIMING.park_first_s, True) == next_poll_delay(elapsed=180.0, polls=10,
                                                          estimate=30.0, timing=TIMING)
    assert (TIMING.park_cap_s, True) == next_poll_delay(elapsed=9000.0, polls=15,
                                                        estimate=3.0, timing=TIMING)


def test_done_at_first_poll_nudges_the_estimate_down() -> None:
    """An upload found done at its first poll lowers the estimate a little."""
    assert 2.85 == pytest.approx(learn_processing_time(
        3.0, done_at_first_poll=True, last_processing_s=None, done_s=3.1, timing=TIMING))


def test_a_late_first_poll_teaches_nothing() -> None:
    """A first poll delayed far past the estimate (a restart, a rate limit) leaves it alone."""
    assert 3.0 == learn_processing_time(3.0, done_at_first_poll=True, last_processing_s=None,
                                        done_s=40.0, timing=TIMING)


def test_still_processing_at_first_poll_raises_the_estimate() -> None:
    """An upload not done at its first poll raises the estimate to about when it finished (at most 2.5x)."""
    assert 3.9 == pytest.approx(learn_processing_time(
        3.0, done_at_first_poll=False, last_processing_s=3.0, done_s=4.0, timing=TIMING))
    assert 7.5 == learn_processing_time(3.0, done_at_first_poll=False, last_processing_s=20.0,
                                        done_s=25.0, timing=TIMING)


def test_estimate_stays_within_its_bounds() -> None:
    """The learned estimate never leaves [min_estimate_s, max_estimate_s]."""
    assert TIMING.min_estimate_s == learn_processing_time(
        1.0, done_at_first_poll=True, last_processing_s=None, done_s=1.0, timing=TIMING)
    assert TIMING.max_estimate_s == learn_processing_time(
        25.0, done_at_first_poll=False, last_processing_s=100.0, done_s=120.0, timing=TIMING)


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    """Backoff doubles per failure within [half, all] of the step, capped at about 15 minutes."""
    rng = random.Random(7)
    for failures, ceiling in ((1, 5.0), (2, 10.0), (4, 40.0), (20, 900.0)):
        delay = backoff_delay(failures, TIMING, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_never_collapses_into_a_tight_loop() -> None:
    """Even the smallest jitter draw waits at least the minimum poll interval."""
    class Zero(random.Random):
        def random(self) -> float:
            return 0.0

    tiny = Pacing(backoff_base_s=0.1)
    assert tiny.min_poll_s == backoff_delay(1, tiny, Zero())


# -- the first poll before anything is learned --------------------------------------------


@pytest.mark.parametrize(("size", "band"), [(0, "s"), (99_999, "s"), (100_000, "m"),
                                            (2_000_000, "l"), (50_000_000, "xl")])
def test_size_bands(size: int, band: str) -> None:
    """Files fall in four size bands."""
    assert band == size_band(size)


def test_gzip_shares_the_estimate_of_its_format() -> None:
    """A .fit.gz is processed as the FIT inside it: same learned estimate."""
    assert "fit:m" == estimate_key(data_type="fit.gz", size=300_000)
    assert "fit:m" == estimate_key(data_type="fit", size=300_000)


def test_prior_grows_with_size_and_for_text_formats() -> None:
    """Before anything is learned, a large GPX is expected to take longer than a small FIT."""
    small_fit = prior_estimate(data_type="fit", size=50_000, timing=TIMING)
    small_gpx = prior_estimate(data_type="gpx", size=50_000, timing=TIMING)
    large_gpx = prior_estimate(data_type="gpx.gz", size=8_000_000, timing=TIMING)
    assert small_fit < small_gpx < large_gpx <= TIMING.max_estimate_s
    assert first_poll_delay(small_fit, TIMING) < first_poll_delay(large_gpx, TIMING)


# -- learning per kind of file ------------------------------------------------------------


def learn(est: Estimates, *, data_type: str = "fit", size: int = 50_000, first: bool,
          done: float, last: float | None = None) -> Estimates:
    """One upload followed to its end."""
    return est.learned(data_type=data_type, size=size, done_at_first_poll=first,
                       last_processing_s=last, done_s=done, timing=TIMING)


def test_empty_estimates_use_the_prior() -> None:
    """Nothing learned: the estimate of a file is its prior."""
    assert prior_estimate(data_type="tcx", size=3_000_000, timing=TIMING) == \
        Estimates().for_file(data_type="tcx", size=3_000_000, timing=TIMING)


def test_what_a_large_gpx_teaches_stays_with_large_gpx() -> None:
    """Slow large GPX uploads raise their own estimate; small FITs already learned keep theirs."""
    est = Estimates()
    for _ in range(3):
        est = learn(est, first=True, done=2.0)
    fit_before = est.for_file(data_type="fit", size=50_000, timing=TIMING)
    for _ in range(3):
        est = learn(est, data_type="gpx", size=5_000_000, first=False, last=20.0, done=24.0)
    assert est.for_file(data_type="gpx", size=5_000_000, timing=TIMING) >= 20.0
    assert fit_before == est.for_file(data_type="fit", size=50_000, timing=TIMING)


def test_an_unseen_kind_follows_the_overall_pace() -> None:
    """A kind never uploaded is expected to take its prior scaled by what all uploads taught."""
    est = Estimates()
    for _ in range(20):
        est = learn(est, first=True, done=1.5)  # fast small FITs
    unseen = est.for_file(data_type="tcx", size=50_000, timing=TIMING)
    assert unseen < prior_estimate(data_type="tcx", size=50_000, timing=TIMING)


def test_upward_drift_is_followed_within_a_few_uploads() -> None:
    """When processing jumps from 2 s to 20 s, three uploads bring the estimate to it."""
    est = Estimates()
    for _ in range(10):
        est = learn(est, first=True, done=2.0)
    estimates = []
    for _ in range(3):
        current = est.for_file(data_type="fit", size=50_000, timing=TIMING)
        est = learn(est, first=False, last=current, done=20.0)
        estimates.append(est.for_file(data_type="fit", size=50_000, timing=TIMING))
    assert estimates[-1] >= 15.0
    assert estimates == sorted(estimates)


def test_still_processing_past_the_estimate_raises_it_at_once() -> None:
    """A look finding an upload processing well past its estimate moves the estimate out before it ends."""
    assert 12.5 == learn_still_processing(5.0, elapsed=10.0, timing=TIMING)
    assert 7.5 == learn_still_processing(3.0, elapsed=20.0, timing=TIMING)  # at most 2.5x
    assert 5.0 == learn_still_processing(5.0, elapsed=4.0, timing=TIMING)  # nothing new
    slower = Estimates().slower(data_type="fit", size=50_000, elapsed=6.0, timing=TIMING)
    assert 7.5 == slower.for_file(data_type="fit", size=50_000, timing=TIMING)


# -- persistence ----------------------------------------------------------------------------


def test_estimates_round_trip_through_one_meta_string() -> None:
    """What is learned survives a restart as one string in the store's meta table."""
    meta: dict[str, str] = {}
    est = learn(learn(Estimates(), first=False, last=4.0, done=6.0),
                data_type="gpx", size=2_000_000, first=True, done=3.0)
    save_estimates(meta.__setitem__, est)
    again = load_estimates(meta.get, timing=TIMING)
    for data_type, size in (("fit", 50_000), ("gpx", 2_000_000), ("tcx", 10)):
        assert pytest.approx(est.for_file(data_type=data_type, size=size, timing=TIMING),
                             abs=0.001) == again.for_file(data_type=data_type, size=size,
                                                          timing=TIMING)
    assert [ESTIMATES_KEY] == list(meta)


def test_the_single_estimate_of_version_0_1_is_taken_over() -> None:
    """A store from 0.1 holds one number: it becomes the overall estimate."""
    est = load_estimates({LEGACY_ESTIMATE_KEY: "7.500"}.get, timing=TIMING)
    assert 7.5 == est.for_file(data_type="fit", size=0, timing=TIMING)


@pytest.mark.parametrize("raw", ["{not json", "[1,2]", '{"v": 99}', "nan", "true",
                                 '{"v":1,"overall":"x","keys":{"fit:s":null}}'])
def test_damaged_estimates_fall_back_to_priors(raw: str) -> None:
    """An unreadable stored value costs a cold start, not a crash."""
    est = load_estimates({ESTIMATES_KEY: raw}.get, timing=TIMING)
    assert prior_estimate(data_type="fit", size=50_000, timing=TIMING) == \
        est.for_file(data_type="fit", size=50_000, timing=TIMING)


def test_stored_estimates_are_clamped() -> None:
    """A stored estimate outside the bounds (edited by hand) is brought back within them."""
    est = Estimates.loads('{"v":1,"overall":1e9,"keys":{"fit:s":-4}}', timing=TIMING)
    assert TIMING.min_estimate_s == est.for_file(data_type="fit", size=1, timing=TIMING)
    assert TIMING.max_estimate_s == est.for_file(data_type="gpx", size=1, timing=TIMING)
