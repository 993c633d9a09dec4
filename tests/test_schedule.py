"""monitor.ingest.schedule: the polling policy, as examples and as properties (hypothesis)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.ingest.schedule import (
    STARTUP_SPREAD,
    PollPolicy,
    initial_schedule,
    next_poll_after_error,
    next_poll_after_success,
)
from monitor.model import Feed

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
POLICY = PollPolicy(
    interval=timedelta(minutes=30),
    min_interval=timedelta(minutes=5),
    max_interval=timedelta(hours=24),
)


def after_success(
    policy: PollPolicy = POLICY,
    *,
    ttl: int | None = None,
    max_age: float | None = None,
    seed: int = 1,
) -> timedelta:
    when = next_poll_after_success(
        policy, NOW, ttl_minutes=ttl, max_age=max_age, rng=random.Random(seed)
    )
    return when - NOW


def after_error(
    count: int, policy: PollPolicy = POLICY, *, retry_after: float | None = None, seed: int = 1
) -> timedelta:
    when = next_poll_after_error(
        policy, NOW, count, retry_after=retry_after, rng=random.Random(seed)
    )
    return when - NOW


# --- after a success ----------------------------------------------------------------------------


def test_success_uses_the_interval_with_jitter() -> None:
    delays = {after_success(seed=seed) for seed in range(50)}
    assert all(27 * MIN <= d <= 33 * MIN for d in delays)
    assert len(delays) > 40  # jitter really varies
    assert after_success(PollPolicy(jitter=0.0)) == timedelta(minutes=30)


def test_ttl_and_max_age_raise_the_interval_and_jitter_only_later() -> None:
    for seed in range(50):
        assert 120 * MIN <= after_success(ttl=120, seed=seed) <= 132 * MIN
        assert 60 * MIN <= after_success(max_age=3600, seed=seed) <= 66 * MIN
        # both given: the larger wish wins
        assert 120 * MIN <= after_success(ttl=120, max_age=3600, seed=seed) <= 132 * MIN


def test_interval_outside_the_bounds_is_clamped() -> None:
    too_short = PollPolicy(interval=timedelta(minutes=1), jitter=0.0)
    too_long = PollPolicy(interval=timedelta(days=3), jitter=0.0)
    assert after_success(too_short) == too_short.min_interval
    assert after_success(too_long) == too_long.max_interval


def test_server_hints_never_lower_the_interval() -> None:
    assert after_success(ttl=1, max_age=60, seed=3) == after_success(seed=3)


def test_server_hints_are_capped_at_max_interval() -> None:
    assert after_success(ttl=60 * 24 * 30) == timedelta(hours=24)
    assert after_success(max_age=1e12) == timedelta(hours=24)


@pytest.mark.parametrize("max_age", [0.0, -5.0, float("nan"), float("inf")])
def test_nonsense_max_age_is_ignored(max_age: float) -> None:
    assert after_success(max_age=max_age, seed=7) == after_success(seed=7)


def test_ttl_zero_or_negative_is_ignored() -> None:
    assert after_success(ttl=0, seed=7) == after_success(ttl=-10, seed=7) == after_success(seed=7)


# --- after an error -----------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_equal_jitter() -> None:
    # base defaults to 2 x min_interval = 10 min: delays in [5, 10], [10, 20], [20, 40] ... min
    for count in range(1, 8):
        full = 10 * MIN * 2 ** (count - 1)
        for seed in range(20):
            assert full / 2 <= after_error(count, seed=seed) <= full


def test_backoff_is_capped_and_never_gives_up() -> None:
    cap = POLICY.max_interval
    for count in (9, 10, 50, 10**6):
        assert cap / 2 <= after_error(count) <= cap
    capped = PollPolicy(max_backoff=timedelta(hours=2))
    assert after_error(100, capped) <= timedelta(hours=2)


def test_backoff_recovers_after_success() -> None:
    # error_count is reset by the caller on success; the next delay is the normal interval again
    assert after_error(12) > timedelta(hours=6)
    assert after_success(seed=1) <= 33 * MIN


def test_backoff_never_below_min_interval() -> None:
    policy = PollPolicy(backoff_base=timedelta(seconds=1))
    assert all(after_error(1, policy, seed=s) == 5 * MIN for s in range(20))


def test_retry_after_is_a_lower_bound() -> None:
    for seed in range(20):
        assert 180 * MIN <= after_error(1, retry_after=3 * 3600, seed=seed) <= 198 * MIN
        # shorter than our own backoff: the backoff stands
        assert 5 * MIN <= after_error(1, retry_after=10, seed=seed) <= 10 * MIN


def test_retry_after_zero_does_not_hammer() -> None:
    assert after_error(1, retry_after=0.0) >= POLICY.min_interval


def test_absurd_retry_after_is_capped() -> None:
    assert after_error(1, retry_after=10 * 365 * 86400) == POLICY.max_interval


# --- properties of both -------------------------------------------------------------------------

seconds = st.integers(min_value=1, max_value=7 * 86400)


@st.composite
def policies(draw: st.DrawFn) -> PollPolicy:
    low, mid, high = sorted(draw(st.tuples(seconds, seconds, seconds)))
    return PollPolicy(
        interval=timedelta(seconds=mid),
        min_interval=timedelta(seconds=low),
        max_interval=timedelta(seconds=high),
        jitter=draw(st.floats(min_value=0.0, max_value=0.5)),
        backoff_base=draw(st.none() | seconds.map(lambda s: timedelta(seconds=s))),
    )


hints = st.none() | st.floats(allow_nan=True, allow_infinity=True)


@given(policies(), st.none() | st.integers(-10, 10**9), hints, st.randoms(use_true_random=False))
def test_success_always_within_bounds(
    policy: PollPolicy, ttl: int | None, max_age: float | None, rng: random.Random
) -> None:
    delay = next_poll_after_success(policy, NOW, ttl_minutes=ttl, max_age=max_age, rng=rng) - NOW
    assert policy.min_interval <= delay <= policy.max_interval
    if max_age is not None and 0 < max_age < float("inf"):
        wanted = min(max_age, policy.max_interval.total_seconds())
        assert delay.total_seconds() >= wanted - 1e-6  # timedelta keeps whole microseconds


@given(policies(), st.integers(0, 10**9), hints, st.randoms(use_true_random=False))
def test_error_always_within_bounds(
    policy: PollPolicy, count: int, retry_after: float | None, rng: random.Random
) -> None:
    delay = next_poll_after_error(policy, NOW, count, retry_after=retry_after, rng=rng) - NOW
    assert policy.min_interval <= delay <= policy.backoff_cap
    if retry_after is not None and 0 < retry_after < float("inf"):
        wanted = min(retry_after, policy.backoff_cap.total_seconds())
        assert delay.total_seconds() >= wanted - 1e-6


# --- start-up -----------------------------------------------------------------------------------


def test_startup_keeps_future_times_and_spreads_the_rest() -> None:
    stored: dict[str, datetime | None] = {
        "future": NOW + timedelta(minutes=7),
        "far-future": NOW + timedelta(days=30),
        "new": None,
        "overdue-1h": NOW - timedelta(hours=1),
        "overdue-3d": NOW - timedelta(days=3),
        "due-now": NOW,
    }
    schedule = initial_schedule(stored, POLICY, NOW, random.Random(1))
    assert schedule["future"] == NOW + timedelta(minutes=7)
    assert schedule["far-future"] == NOW + POLICY.max_interval
    assert schedule["new"] == NOW  # never polled: at once
    due = ["overdue-3d", "overdue-1h", "due-now"]
    times = [schedule[url] for url in due]
    assert times == sorted(times)  # the most overdue first
    for slot, when in enumerate(times):
        assert NOW + STARTUP_SPREAD * slot / 3 <= when < NOW + STARTUP_SPREAD * (slot + 1) / 3


def test_startup_window_is_at_most_the_interval() -> None:
    fast = PollPolicy(interval=timedelta(minutes=2), min_interval=timedelta(minutes=1))
    schedule = initial_schedule({"a": NOW, "b": NOW}, fast, NOW, random.Random(2))
    assert all(NOW <= t < NOW + timedelta(minutes=2) for t in schedule.values())
    assert initial_schedule({"a": None, "b": None}, fast, NOW, random.Random(2)) == {
        "a": NOW,
        "b": NOW,
    }


def test_restart_resumes_from_stored_state() -> None:
    rng = random.Random(5)
    stored = {
        url: next_poll_after_success(POLICY, NOW, ttl_minutes=None, max_age=None, rng=rng)
        for url in ("a", "b", "c")
    }
    later = NOW + timedelta(minutes=10)  # restarted 10 minutes after the last polls
    assert initial_schedule(stored, POLICY, later, random.Random(6)) == stored


def test_startup_needs_a_policy_per_feed() -> None:
    with pytest.raises(KeyError, match="no PollPolicy for feed b"):
        initial_schedule({"a": None, "b": None}, {"a": POLICY}, NOW, random.Random(0))


offsets = st.none() | st.integers(-30 * 86400, 30 * 86400).map(lambda s: NOW + timedelta(seconds=s))


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), offsets, max_size=40),
    policies(),
    st.randoms(use_true_random=False),
)
def test_startup_properties(
    stored: dict[str, datetime | None], policy: PollPolicy, rng: random.Random
) -> None:
    schedule = initial_schedule(stored, policy, NOW, rng)
    assert schedule.keys() == stored.keys()  # no feed skipped
    assert all(when >= NOW for when in schedule.values())  # none in the past
    window = min(policy.interval, STARTUP_SPREAD)
    due = [url for url, s in stored.items() if s is not None and s <= NOW]
    for url, when in schedule.items():
        last = stored[url]
        if last is None:
            assert when == NOW
        elif url in due:
            assert when < NOW + window
        else:
            assert when == min(last, NOW + policy.max_interval)
    # spread: every slot of window / n holds exactly one due feed
    slots = sorted((schedule[url] - NOW) * len(due) // window for url in due)
    assert slots == list(range(len(due)))


# --- the policy itself --------------------------------------------------------------------------


def test_policy_from_feed() -> None:
    feed = Feed("https://example.org/feed", interval=timedelta(hours=1))
    policy = PollPolicy.for_feed(feed, jitter=0.2)
    assert (policy.interval, policy.min_interval, policy.max_interval, policy.jitter) == (
        timedelta(hours=1),
        feed.min_interval,
        feed.max_interval,
        0.2,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": timedelta(0)},
        {"min_interval": timedelta(0)},
        {"min_interval": timedelta(days=2)},  # above max_interval
        {"jitter": 1.0},
        {"backoff_base": timedelta(0)},
        {"max_backoff": timedelta(minutes=1)},
    ],
)
def test_policy_rejects_inconsistent_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PollPolicy(**kwargs)  # type: ignore[arg-type]
