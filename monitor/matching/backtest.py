"""Backtest: a rule set over stored entries, compared with the matches on record. Pure.

What an analyst asks before deploying an edited rule pack: per rule, how many stored entries it
matched when they came in, how many it matches now, and which entries would be new or gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from monitor.model import Entry, Match

__all__ = ["Backtest", "Change", "RuleDiff", "backtest"]

_Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Change:
    """An entry that one rule would match now and did not (new), or the other way (gone)."""

    entry: Entry
    match: Match
    """The match now (new) or the one on record (gone)."""


@dataclass(slots=True)
class RuleDiff:
    rule_id: str
    stored: int = 0
    """Entries with a match of this rule on record."""
    now: int = 0
    """Entries the rules match now."""
    new: list[Change] = field(default_factory=list)
    gone: list[Change] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Backtest:
    entries: int
    """Stored entries looked at."""
    rules: tuple[RuleDiff, ...]
    """The rules in ``rule_ids`` order, then rules found only on record, by id."""

    @property
    def unchanged(self) -> bool:
        return not any(r.new or r.gone for r in self.rules)


def backtest(
    entries: Iterable[Entry],
    on_record: Iterable[tuple[Entry, Match]],
    match: Callable[[Entry], Sequence[Match]],
    rule_ids: Sequence[str],
) -> Backtest:
    """Match each of ``entries`` again and compare with its matches in ``on_record``.

    ``on_record`` may hold matches of other entries (they are ignored); entries come out in the
    order given, which is the order of the new and gone lists.
    """
    stored: dict[_Key, dict[str, Match]] = {}
    for entry, m in on_record:
        stored.setdefault((entry.feed_url, entry.id), {})[m.rule_id] = m
    diffs = {rule_id: RuleDiff(rule_id) for rule_id in rule_ids}

    def diff_of(rule_id: str) -> RuleDiff:
        diff = diffs.get(rule_id)
        if diff is None:  # a rule the pack no longer has, or a new one outside ``rule_ids``
            diff = diffs[rule_id] = RuleDiff(rule_id)
        return diff

    count = 0
    for entry in entries:
        count += 1
        before = stored.get((entry.feed_url, entry.id), {})
        now = {m.rule_id: m for m in match(entry)}
        for rule_id, m in now.items():
            diff = diff_of(rule_id)
            diff.now += 1
            if rule_id not in before:
                diff.new.append(Change(entry, m))
        for rule_id, m in before.items():
            diff = diff_of(rule_id)
            diff.stored += 1
            if rule_id not in now:
                diff.gone.append(Change(entry, m))
    known = [diffs.pop(rule_id) for rule_id in rule_ids]
    return Backtest(count, (*known, *sorted(diffs.values(), key=lambda d: d.rule_id)))
