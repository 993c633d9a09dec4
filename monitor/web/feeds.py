"""Feed health as the web view shows it: one row per feed, failing and quiet feeds first (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from monitor.model import FeedState

__all__ = ["SORTS", "FeedHealth", "feed_health"]

SORTS = ("health", "url", "errors", "last_success", "rate")


@dataclass(frozen=True, slots=True)
class FeedHealth:
    url: str
    title: str
    last_success: datetime | None
    last_error: str | None
    error_count: int
    next_poll: datetime | None
    per_day: float
    """Entries first seen per day over the counting window."""

    @property
    def failing(self) -> bool:
        return self.error_count > 0

    @property
    def quiet(self) -> bool:
        return self.per_day == 0


def feed_health(
    states: Mapping[str, FeedState], recent: Mapping[str, int], days: int, sort: str = "health"
) -> list[FeedHealth]:
    """Rows for ``states``; ``recent`` counts entries first seen in the last ``days`` per feed.

    ``health``: failing feeds first (most errors in a row first), then quiet ones, then by URL.
    """
    rows = [
        FeedHealth(
            url=url,
            title=s.title or "",
            last_success=s.last_success,
            last_error=s.last_error,
            error_count=s.error_count,
            next_poll=s.next_poll,
            per_day=recent.get(url, 0) / max(1, days),
        )
        for url, s in states.items()
    ]
    if sort == "url":
        rows.sort(key=lambda r: r.url)
    elif sort == "errors":
        rows.sort(key=lambda r: (-r.error_count, r.url))
    elif sort == "last_success":  # never, then the longest ago
        rows.sort(key=lambda r: (r.last_success is not None, _stamp(r.last_success), r.url))
    elif sort == "rate":
        rows.sort(key=lambda r: (r.per_day, r.url))
    else:
        rows.sort(key=lambda r: (not r.failing, -r.error_count, not r.quiet, r.url))
    return rows


def _stamp(when: datetime | None) -> float:
    return when.timestamp() if when is not None else 0.0
