"""Volume over time, for the web view's charts. Pure: rows in, chart geometry out.

Two charts:

- **Per rule** (the story stream): for each rule, the new stories it matched per UTC day of
  the window (with their matched entries), as one row of bars per rule (small multiples).
  Each row has its own scale, its peak written beside it: a busy context rule (China) would
  flatten every other row on a shared one, and what a reader looks for is a rule's own spike.
  A story counts once, on the day of its first member the rule matched (so a week's bar is the
  sum of its days and a row's total the sum of its bars); an entry stored before stories
  existed (no story) counts as a story of its own. Context rules come after the others, as in
  ``monitor once``.
- **Per story** (the story page): its members per hour (a story of up to two days) or per day,
  stacked by language, so a reader sees when it broke and whether the other language followed.

The geometry is computed here (bar positions in a fixed view box) and drawn as inline SVG by
the templates, without script: what a browser shows is what the tests read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from monitor.model import StoryMember

__all__ = [
    "BAR_AREA",
    "Bar",
    "RuleRow",
    "RuleVolume",
    "StoryTimeline",
    "rule_volume",
    "story_timeline",
]

BAR_AREA = (300.0, 40.0)
"""(width, height) of a chart row's view box; the SVG scales to the page's width."""
MAX_RULE_ROWS = 12
MAX_DAILY = 62
"""Over a longer window the per-rule bars are weeks (days would be slivers)."""
_HOUR_SPAN = timedelta(hours=48)
_MAX_BUCKETS = 120


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar (or stacked segment) in view-box units, with what it counts."""

    x: float
    y: float
    width: float
    height: float
    when: str
    """The bucket: a UTC day ("2026-12-03") or hour ("2026-12-03 14:00")."""
    count: int
    """Stories (rule rows) or pieces (story timeline) in the bucket."""
    entries: int = 0
    """Rule rows: the entries the rule matched of the bucket's new stories."""
    series: str = ""
    """The stacked segment's key (a language) or "" for a plain bar."""


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule_id: str
    stories: int
    """Stories over the window (the sum of its bars: each story on its first day)."""
    entries: int
    bars: tuple[Bar, ...]
    peak_day: date
    """The first day of its busiest bucket (the earliest of equals)."""
    peak: int
    """Stories in its busiest bucket: the top of this row's scale."""
    context: bool = False


@dataclass(frozen=True, slots=True)
class RuleVolume:
    start: date
    end: date
    """Both inclusive (UTC days)."""
    unit: str
    """"day" or "week" (from ``start``): the width of a bar."""
    rows: tuple[RuleRow, ...]
    left_out: int
    """Rules with matches in the window that are not drawn (beyond ``MAX_RULE_ROWS``)."""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _slot(i: int, width: float) -> tuple[float, float]:
    """(x, width) of bucket ``i``'s bar: 80 % of its slot, centred, never thinner than 0.5."""
    return i * width + width * 0.1, max(width * 0.8, 0.5)


def _height(value: int, peak: int) -> float:
    if value <= 0 or peak <= 0:
        return 0.0
    # At least one unit high, so a day with one story among busy days is still seen.
    return max(1.0, BAR_AREA[1] * value / peak)


def rule_volume(
    counts: Iterable[tuple[str, date, int, int]],
    start: date,
    end: date,
    *,
    limit: int = MAX_RULE_ROWS,
    first: str = "",
    context: Collection[str] = (),
) -> RuleVolume:
    """Bars per rule and day (per week over more than ``MAX_DAILY`` days) from ``counts`` of
    (rule id, UTC day, new stories, their entries), the store's ``rule_day_counts`` for the window
    ``start``..``end`` (inclusive); days outside it are ignored. Rules by stories over the
    window, most first (ties by id), the ``context`` rules after the others; ``first`` (the
    rule the stream is filtered by) is drawn first whatever its volume."""
    if end < start:
        start, end = end, start
    days = (end - start).days + 1
    step = 1 if days <= MAX_DAILY else 7
    buckets = -(-days // step)
    stories: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    entries: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for rule_id, day, n_stories, n_entries in counts:
        if not start <= day <= end:
            continue
        i = (day - start).days // step
        stories[rule_id][i] += n_stories
        entries[rule_id][i] += n_entries
    totals = {r: sum(per.values()) for r, per in stories.items()}
    order = sorted(totals, key=lambda r: (r != first, r in context, -totals[r], r))
    shown = order[:limit]
    width = BAR_AREA[0] / buckets
    out = []
    for rule_id in shown:
        bars = []
        peak = max(max(stories[rule_id].values(), default=0), 1)
        for i in sorted(stories[rule_id]):
            n = stories[rule_id].get(i, 0)
            h = _height(n, peak)
            x, w = _slot(i, width)
            first_day = start + timedelta(days=i * step)
            when = first_day.isoformat()
            if step > 1:
                when += " – " + min(first_day + timedelta(days=step - 1), end).isoformat()
            bars.append(Bar(x, BAR_AREA[1] - h, w, h, when, n, entries[rule_id].get(i, 0)))
        busiest = max(stories[rule_id].items(), key=lambda kv: (kv[1], -kv[0]), default=(0, 0))
        out.append(
            RuleRow(
                rule_id,
                totals[rule_id],
                sum(entries[rule_id].values()),
                tuple(bars),
                start + timedelta(days=busiest[0] * step),
                peak,
                rule_id in context,
            )
        )
    unit = "day" if step == 1 else "week"
    return RuleVolume(start, end, unit, tuple(out), max(0, len(order) - len(shown)))


@dataclass(frozen=True, slots=True)
class StoryTimeline:
    unit: str
    """"hour" or "day": the width of a bucket."""
    start: datetime
    """The first bucket's start (UTC)."""
    buckets: int
    bars: tuple[Bar, ...]
    peak: int
    series: tuple[str, ...]
    """The languages stacked, in drawing order (bottom first)."""


def _floor(t: datetime, unit: str) -> datetime:
    t = t.astimezone(UTC)
    if unit == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def story_timeline(members: Sequence[StoryMember]) -> StoryTimeline | None:
    """Members per hour (a story of up to 48 hours) or per day, stacked by language; None for
    a story of one member (nothing to chart)."""
    if len(members) < 2:
        return None
    times = [m.published.astimezone(UTC) for m in members]
    first, last = min(times), max(times)
    unit = "hour" if last - first <= _HOUR_SPAN else "day"
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    start = _floor(first, unit)
    buckets = min(int((_floor(last, unit) - start) / step) + 1, _MAX_BUCKETS)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for m, t in zip(members, times, strict=True):
        i = min(int((_floor(t, unit) - start) / step), buckets - 1)
        counts[i][m.language or "?"] += 1
    series = tuple(sorted({lang for per in counts.values() for lang in per}))
    peak = max(sum(per.values()) for per in counts.values())
    width = BAR_AREA[0] / buckets
    bars = []
    for i in sorted(counts):
        below = 0  # pieces already stacked in this bucket (edges from counts: no drift)
        at = start + i * step
        when = at.strftime("%Y-%m-%d %H:00") if unit == "hour" else at.strftime("%Y-%m-%d")
        for lang in series:
            n = counts[i].get(lang, 0)
            if not n:
                continue
            top = BAR_AREA[1] * (1 - (below + n) / peak)
            h = BAR_AREA[1] * (1 - below / peak) - top
            below += n
            x, w = _slot(i, width)
            bars.append(Bar(x, top, w, h, when, n, series=lang))
    return StoryTimeline(unit, start, buckets, tuple(bars), peak, series)
