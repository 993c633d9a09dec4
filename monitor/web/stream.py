"""The story stream's filters (from query parameters) and its breaking flag. Pure.

Filters: ``rule`` (a rule matched a member, on record), ``language``, ``outlet``, a date range
``from``/``to`` (days in UTC, both inclusive; without ``from``: the last ``days`` days) and
``breaking=1``. A bad value is dropped with a note saying which, never an error page.

A story is *breaking* when, at the publication of one of its members, the spike signal
(``monitor.delivery.spike``, as alerts and digests use it) held for one of the rules that
matched it: enough outlets within two hours, several times the rule's usual story.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from monitor.delivery.spike import Spike, story_spike
from monitor.model import StoryRecord

__all__ = ["DEFAULT_DAYS", "StreamFilter", "breaking_spikes", "parse_filter"]

DEFAULT_DAYS = 14
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class StreamFilter:
    rule: str = ""
    language: str = ""
    outlet: str = ""
    start: date | None = None
    end: date | None = None
    days: int = DEFAULT_DAYS
    breaking: bool = False
    problems: tuple[str, ...] = field(default=())
    """The parameters that were dropped, by name (``from``, ``to``, ``days``)."""

    def window(self, now: datetime) -> tuple[datetime, datetime | None]:
        """(since, until) of the stories' last member: ``until`` None means no end."""
        until = (
            datetime.combine(self.end, datetime.min.time(), UTC) + timedelta(days=1)
            if self.end is not None
            else None
        )
        if self.start is not None:
            since = datetime.combine(self.start, datetime.min.time(), UTC)
        else:
            since = (until or now) - timedelta(days=self.days)
        return since, until

    @property
    def active(self) -> bool:
        """Whether anything but the default window narrows the stream."""
        return bool(
            self.rule or self.language or self.outlet or self.start or self.end or self.breaking
        )


def _day(text: str) -> date | None:
    return date.fromisoformat(text.strip())


def parse_filter(params: Mapping[str, str]) -> StreamFilter:
    problems: list[str] = []
    start = end = None
    for name in ("from", "to"):
        raw = params.get(name, "").strip()
        if not raw:
            continue
        try:
            value = _day(raw)
        except ValueError:
            problems.append(name)
            continue
        if name == "from":
            start = value
        else:
            end = value
    if start and end and start > end:
        problems.append("to")
        end = None
    days = DEFAULT_DAYS
    raw_days = params.get("days", "").strip()
    if raw_days:
        try:
            days = int(raw_days)
            if not 1 <= days <= MAX_DAYS:
                raise ValueError(raw_days)
        except ValueError:
            problems.append("days")
            days = DEFAULT_DAYS
    return StreamFilter(
        rule=params.get("rule", "").strip(),
        language=params.get("language", "").strip(),
        outlet=params.get("outlet", "").strip(),
        start=start,
        end=end,
        days=days,
        breaking=params.get("breaking", "") in {"1", "on", "true", "yes"},
        problems=tuple(problems),
    )


def breaking_spikes(
    stories: Sequence[StoryRecord], baselines: Mapping[str, Mapping[str, int]]
) -> dict[str, Spike]:
    """Story id -> its strongest spike over its members' publication times, for the stories
    that were breaking. ``baselines``: the store's ``rule_story_outlets`` (rule -> story id ->
    distinct outlets); a story's rules are those whose baseline holds it."""
    rules_of: dict[str, list[str]] = {}
    for rule_id, counts in baselines.items():
        for story_id in counts:
            rules_of.setdefault(story_id, []).append(rule_id)
    out: dict[str, Spike] = {}
    for story in stories:
        rules = sorted(rules_of.get(story.id, ()))
        if not rules:
            continue
        members = [(m.outlet, m.published) for m in story.members]
        best: Spike | None = None
        for at in sorted({m.published for m in story.members}):
            found = story_spike(story.id, members, rules, baselines, at)
            if found is not None and (best is None or found.ratio > best.ratio):
                best = found
        if best is not None:
            out[story.id] = best
    return out
