"""When to poll each feed next: pure arithmetic on stored state, ``now`` and a random source.

No clock reads and no I/O here: the daemon passes ``now`` and a ``random.Random`` in, stores the
returned datetimes as ``FeedState.next_poll``, and a restart picks them up again through
``initial_schedule``. No function here ever gives up on a feed: every outcome has a next poll.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.model import Feed, as_utc

__all__ = [
    "STARTUP_SPREAD",
    "PollPolicy",
    "initial_schedule",
    "next_poll_after_error",
    "next_poll_after_success",
]

STARTUP_SPREAD = timedelta(minutes=10)
"""Longest window over which due feeds are spread at start-up."""
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """One feed's polling rhythm, bounds and error backoff."""

    interval: timedelta = timedelta(minutes=30)
    """The normal delay between polls; kept within [min_interval, max_interval]."""
    min_interval: timedelta = timedelta(minutes=5)
    """Never poll more often than this, whatever the server or the backoff says."""
    max_interval: timedelta = timedelta(hours=24)
    """Never leave a feed unpolled longer than this after a success, whatever the server says."""
    jitter: float = 0.1
    """Fraction of the delay added or taken at random, so feeds drift apart instead of bunching."""
    backoff_base: timedelta | None = None
    """Delay after the first error; doubles with each further one. None: 2 x min_interval."""
    max_backoff: timedelta | None = None
    """Longest delay after errors (and the cap on Retry-After). None: max_interval."""

    def __post_init__(self) -> None:
        # An interval outside [min_interval, max_interval] is clamped where it is used, not
        # refused: the bounds are the user's hard limits, the interval their wish.
        if not timedelta(0) < self.min_interval <= self.max_interval:
            raise ValueError(
                "poll intervals must satisfy 0 < min_interval <= max_interval, got "
                f"min_interval {self.min_interval}, max_interval {self.max_interval}"
            )
        if self.interval <= timedelta(0):
            raise ValueError(f"interval must be positive, not {self.interval}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter must be a fraction in [0, 1), not {self.jitter!r}")
        if self.backoff_base is not None and self.backoff_base <= timedelta(0):
            raise ValueError(f"backoff_base must be positive, not {self.backoff_base}")
        if self.max_backoff is not None and self.max_backoff < self.min_interval:
            raise ValueError(f"max_backoff {self.max_backoff} is below min_interval")

    @classmethod
    def for_feed(
        cls,
        feed: Feed,
        *,
        jitter: float = 0.1,
        backoff_base: timedelta | None = None,
        max_backoff: timedelta | None = None,
    ) -> PollPolicy:
        """The policy from a configured feed's intervals and the global backoff settings."""
        return cls(
            feed.interval, feed.min_interval, feed.max_interval, jitter, backoff_base, max_backoff
        )

    @property
    def backoff_cap(self) -> timedelta:
        return self.max_backoff if self.max_backoff is not None else self.max_interval


def _seconds(value: float | None) -> float | None:
    """A server-given number of seconds, or None when it is absent, not positive or not finite."""
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def _clamp(seconds: float, low: timedelta, high: timedelta) -> float:
    return min(max(seconds, low.total_seconds()), high.total_seconds())


def next_poll_after_success(
    policy: PollPolicy,
    now: datetime,
    *,
    ttl_minutes: int | None,
    max_age: float | None,
    rng: random.Random,
) -> datetime:
    """Next poll after a 200, a 304 or an unchanged body.

    The interval, raised to RSS ``<ttl>`` or Cache-Control ``max-age`` when the server asks for
    less frequent polling (never lowered by them: the user's interval is their choice), kept
    within [min_interval, max_interval], with jitter. When the server's wish sets the delay,
    jitter only adds: polling before it said the content could change would be wasted.
    """
    ttl = min(ttl_minutes, 10**9) * 60.0 if ttl_minutes else None  # 10**9 min: ~1900 years
    hints = [s for s in (_seconds(ttl), _seconds(max_age)) if s]
    hint = max(hints, default=0.0)
    base = _clamp(
        max(policy.interval.total_seconds(), hint), policy.min_interval, policy.max_interval
    )
    floor = _clamp(hint, policy.min_interval, policy.max_interval)
    delay = base * rng.uniform(1.0 - policy.jitter, 1.0 + policy.jitter)
    delay = min(max(delay, floor), policy.max_interval.total_seconds())
    return now + timedelta(seconds=delay)


def next_poll_after_error(
    policy: PollPolicy,
    now: datetime,
    error_count: int,
    *,
    retry_after: float | None,
    rng: random.Random,
) -> datetime:
    """Next poll after the ``error_count``-th failure in a row (1 for the first).

    Exponential backoff with "equal jitter": the n-th delay is uniform in [d/2, d] with
    d = backoff_base * 2**(n-1), capped at ``backoff_cap`` and never below min_interval. Half
    the range is random so feeds that failed together (the network was down) do not retry
    together; the other half keeps the delay growing, which full jitter would not guarantee.

    Retry-After is honoured as a lower bound: polling before it is certain to fail again and is
    what the server asked us not to do. It is clamped to [min_interval, backoff_cap]: below
    min_interval because a "Retry-After: 0" must not make us hammer a server, above the cap
    because a broken header (an HTTP-date years ahead) must not silence a feed indefinitely;
    one request per backoff_cap is a small cost. Past the cap the feed keeps being polled at
    the cap, and the first success returns it to its normal interval: nothing is ever disabled.
    """
    cap = policy.backoff_cap.total_seconds()
    base = (policy.backoff_base or 2 * policy.min_interval).total_seconds()
    exponent = min(max(error_count, 1) - 1, 64)  # past 2**64 every delay is at the cap anyway
    full = _clamp(base * 2.0**exponent, policy.min_interval, policy.backoff_cap)
    delay = max(rng.uniform(full / 2, full), policy.min_interval.total_seconds())
    wait = _seconds(retry_after)
    if wait is not None:
        asked = _clamp(wait, policy.min_interval, policy.backoff_cap)
        delay = max(delay, min(asked * rng.uniform(1.0, 1.0 + policy.jitter), cap))
    return now + timedelta(seconds=min(delay, cap))


def initial_schedule(
    next_polls: Mapping[str, datetime | None],
    policies: Mapping[str, PollPolicy] | PollPolicy,
    now: datetime,
    rng: random.Random,
    *,
    spread: timedelta = STARTUP_SPREAD,
) -> dict[str, datetime]:
    """First poll time of every feed when the daemon starts.

    ``next_polls`` maps each configured feed to its stored ``next_poll`` (None: never polled).
    A future time is kept, but no later than now + max_interval (the configuration may have
    been shortened, or the clock stepped back). Feeds never polled go at once: a user who just
    added them is waiting to see them work, and the fetcher's concurrency and per-host limits
    pace them. Feeds that are due or overdue after downtime are spread over min(interval,
    ``spread``) from now instead of all at once, the most overdue first: each takes its own
    slot of that window, so there are no clumps.
    """
    now = as_utc(now)
    schedule: dict[str, datetime] = {}
    due: list[tuple[datetime, str]] = []
    for url, stored in next_polls.items():
        policy = _policy(policies, url)
        if stored is None:
            schedule[url] = now
        elif as_utc(stored) > now:
            schedule[url] = min(as_utc(stored), now + policy.max_interval)
        else:
            due.append((as_utc(stored), url))
    due.sort()
    n = len(due)
    for slot, (_, url) in enumerate(due):
        # Slot i of n is [window * i / n, window * (i+1) / n), in whole microseconds: float
        # timedelta arithmetic could round a time onto the next slot or the window's end.
        window = min(_policy(policies, url).interval, spread) // _MICROSECOND
        start, end = -(-window * slot // n), -(-window * (slot + 1) // n)
        # The first goes at once: someone who just restarted the daemon wants to see it work.
        jitter = min(int((end - start) * rng.random()), max(end - start - 1, 0)) if slot else 0
        offset = start + jitter
        schedule[url] = now + offset * _MICROSECOND
    return schedule


def _policy(policies: Mapping[str, PollPolicy] | PollPolicy, url: str) -> PollPolicy:
    if isinstance(policies, PollPolicy):
        return policies
    try:
        return policies[url]
    except KeyError:
        raise KeyError(f"no PollPolicy for feed {url}") from None
