"""Matches -> ``Alert`` and ``Digest`` models: selection, grouping, ordering, snippets (pure).

Takes (Entry, Match) pairs, a subscription's settings and ``now``; returns frozen data for
``render``. No I/O, no clock: the caller passes ``now`` and the window start ``since``.
Feed text stays plain text here; escaping is the renderer's job.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from monitor.config.channels import SubscriptionSettings
from monitor.model import Entry, Hit, Match

__all__ = [
    "Alert",
    "Digest",
    "Item",
    "RuleGroup",
    "Snippet",
    "build_alert",
    "build_alerts",
    "build_digest",
    "make_item",
]

Span = tuple[int, int]
Pair = tuple[Entry, Match]

SNIPPET_WIDTH = 240
TITLE_WIDTH = 300
ELLIPSIS = "…"
# Whitespace and control characters (CR/LF, tabs, NUL, C1) collapse to one space, so that no
# feed text can break a line in a subject, a Slack header or a plain-text layout.
_SQUASH = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
# How much text before the first hit a snippet keeps, and how far it may move to a word break.
_LEAD = 60
_SNAP = 20


@dataclass(frozen=True, slots=True)
class Snippet:
    """Plain text (already cut, with ellipses) and the spans in it to highlight."""

    text: str
    spans: tuple[Span, ...] = ()
    field: str = ""

    def parts(self) -> list[tuple[str, bool]]:
        """The text as (piece, highlighted) pairs, in order."""
        out: list[tuple[str, bool]] = []
        pos = 0
        for start, end in self.spans:
            if start > pos:
                out.append((self.text[pos:start], False))
            out.append((self.text[start:end], True))
            pos = end
        if pos < len(self.text):
            out.append((self.text[pos:], False))
        return out


@dataclass(frozen=True, slots=True)
class Item:
    """One matched entry as shown in an alert or a digest."""

    entry: Entry
    match: Match
    rule_title: str
    source: str
    title: Snippet
    """The display title: whitespace collapsed, at most TITLE_WIDTH characters, hits marked."""
    snippet: Snippet
    alerted: bool = False
    """Already sent as an immediate alert (the digest marks it)."""

    @property
    def rule_id(self) -> str:
        return self.match.rule_id

    @property
    def score(self) -> int:
        return self.match.score

    @property
    def hits(self) -> tuple[Hit, ...]:
        return self.match.hits

    @property
    def link(self) -> str | None:
        return self.entry.link

    @property
    def published(self) -> datetime:
        return self.entry.published


@dataclass(frozen=True, slots=True)
class RuleGroup:
    rule_id: str
    title: str
    items: tuple[Item, ...]

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def top_score(self) -> int:
        return max((i.score for i in self.items), default=0)


@dataclass(frozen=True, slots=True)
class Digest:
    subscription: str
    language: str
    timezone: str
    template: str
    now: datetime
    since: datetime | None
    groups: tuple[RuleGroup, ...]
    omitted_alerted: int = 0
    """Matches left out because they were already alerted (``alerted: omit``)."""

    @property
    def total(self) -> int:
        """Matches shown (an entry matched by two rules counts twice)."""
        return sum(g.count for g in self.groups)

    @property
    def entry_count(self) -> int:
        return len({(i.entry.feed_url, i.entry.id) for g in self.groups for i in g.items})

    @property
    def alerted_count(self) -> int:
        return sum(1 for g in self.groups for i in g.items if i.alerted)

    @property
    def is_empty(self) -> bool:
        return not self.groups

    def items(self) -> list[Item]:
        return [i for g in self.groups for i in g.items]


@dataclass(frozen=True, slots=True)
class Alert:
    subscription: str
    language: str
    timezone: str
    template: str
    now: datetime
    item: Item


# --- text -------------------------------------------------------------------------------------


def _merge(spans: Iterable[Span], length: int) -> list[Span]:
    """Clip to [0, length], drop empty or nonsensical offsets, merge overlaps."""
    clean = sorted((max(0, s), min(length, e)) for s, e in spans if e > s and s < length and e > 0)
    out: list[Span] = []
    for s, e in clean:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _squash(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """Collapse whitespace/control runs to one space (none at the ends); move spans along."""
    runs: list[tuple[int, int, int, int]] = []  # raw start, raw end, out start, kept chars
    pieces: list[str] = []
    last = out_len = 0
    for m in _SQUASH.finditer(text):
        pieces.append(text[last : m.start()])
        out_len += m.start() - last
        keep = 0 if m.start() == 0 or m.end() == len(text) else 1
        runs.append((m.start(), m.end(), out_len, keep))
        pieces.append(" " * keep)
        out_len += keep
        last = m.end()
    pieces.append(text[last:])
    out = "".join(pieces)
    if not runs:
        return out, spans
    starts = [r[0] for r in runs]

    def at(p: int) -> int:
        i = bisect_right(starts, p) - 1
        if i < 0:
            return p
        rs, re_, os_, keep = runs[i]
        if p < re_:
            return os_ + min(p - rs, keep)
        return os_ + keep + (p - re_)

    return out, _merge(((at(s), at(e)) for s, e in spans), len(out))


def cut(text: str, spans: Iterable[Span], width: int, *, from_start: bool = False) -> Snippet:
    """A window of about ``width`` characters around the spans, cut at word breaks."""
    spans_ = _merge(spans, len(text))
    n = len(text)
    if from_start or not spans_:
        start = 0
    else:
        first, last = spans_[0][0], spans_[-1][1]
        room = width - (last - first)
        start = max(0, first - (min(_LEAD, room // 2) if room > 0 else _LEAD))
    end = min(n, start + width)
    start = max(0, min(start, end - width))
    if start > 0:
        # Start after a space near the cut, unless that would hide the first hit.
        brk = text.find(" ", start, start + _SNAP)
        if brk != -1 and (not spans_ or brk < spans_[0][0]):
            start = brk + 1
    if end < n:
        # End at a space near the cut, unless that would hide the last hit.
        brk = text.rfind(" ", end - _SNAP, end)
        if brk > start and not any(brk <= s < end for s, _ in spans_):
            end = brk
    # Never cut a hit in two: keep it whole even if the window grows a little.
    for s, e in spans_:
        if s < start < e:
            start = s
        if s < end < e:
            end = e
    window = text[start:end]
    local = [(s - start, e - start) for s, e in spans_ if s < end and e > start]
    body, local = _squash(window, _merge(local, len(window)))
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < n else ""
    shift = len(prefix)
    return Snippet(prefix + body + suffix, tuple((s + shift, e + shift) for s, e in local))


# --- items ------------------------------------------------------------------------------------


def source_label(feed_url: str, sources: Mapping[str, str]) -> str:
    label = sources.get(feed_url)
    if label:
        return _SQUASH.sub(" ", label).strip()
    host = urlsplit(feed_url).hostname
    return host or feed_url


def make_item(
    entry: Entry,
    match: Match,
    *,
    sources: Mapping[str, str],
    rule_titles: Mapping[str, str],
    alerted: bool = False,
    snippet_width: int = SNIPPET_WIDTH,
) -> Item:
    by_field: dict[str, list[Span]] = {}
    for hit in match.hits:
        by_field.setdefault(hit.field, []).append((hit.start, hit.end))
    title = cut(entry.title, by_field.get("title", ()), TITLE_WIDTH, from_start=True)
    # The snippet comes from the field with evidence; title-only hits show the summary's start.
    field = next((f for f in ("summary", "content") if by_field.get(f)), None)
    if field is None:
        field = "summary" if entry.summary.strip() else "content"
    snippet = cut(entry.text(field), by_field.get(field, ()), snippet_width)
    return Item(
        entry=entry,
        match=match,
        rule_title=_SQUASH.sub(" ", rule_titles.get(match.rule_id, match.rule_id)).strip(),
        source=source_label(entry.feed_url, sources),
        title=Snippet(title.text, title.spans, "title"),
        snippet=Snippet(snippet.text, snippet.spans, field),
        alerted=alerted,
    )


def _order(item: Item) -> tuple[int, float, str, str]:
    return (-item.score, -item.published.timestamp(), item.title.text.casefold(), item.entry.id)


def _select(pairs: Iterable[Pair], sub: SubscriptionSettings) -> list[Pair]:
    """Matches the subscription wants, one per (entry, rule): the best score wins."""
    best: dict[tuple[str, str, str], Pair] = {}
    for entry, match in pairs:
        if not sub.selects(match.rule_id, match.score):
            continue
        k = (entry.feed_url, entry.id, match.rule_id)
        if k not in best or match.score > best[k][1].score:
            best[k] = (entry, match)
    return list(best.values())


# --- digests and alerts -----------------------------------------------------------------------


def build_digest(
    pairs: Iterable[Pair],
    subscription: SubscriptionSettings,
    now: datetime,
    *,
    since: datetime | None = None,
    sources: Mapping[str, str] | None = None,
    rule_titles: Mapping[str, str] | None = None,
    alerted: Collection[tuple[str, str]] = frozenset(),
    snippet_width: int = SNIPPET_WIDTH,
) -> Digest:
    """Group the subscription's matches by rule (best rule first), each by score then time.

    ``pairs`` are the matches since the last successful digest (the caller's query);
    ``alerted`` holds (feed_url, entry_id) of entries already sent as immediate alerts.
    """
    sources = sources or {}
    rule_titles = rule_titles or {}
    groups: dict[str, list[Item]] = {}
    omitted = 0
    for entry, match in _select(pairs, subscription):
        was_alerted = (entry.feed_url, entry.id) in alerted
        if was_alerted and subscription.alerted == "omit":
            omitted += 1
            continue
        item = make_item(
            entry,
            match,
            sources=sources,
            rule_titles=rule_titles,
            alerted=was_alerted,
            snippet_width=snippet_width,
        )
        groups.setdefault(match.rule_id, []).append(item)
    built = [
        RuleGroup(rule_id, items[0].rule_title, tuple(sorted(items, key=_order)))
        for rule_id, items in groups.items()
    ]
    built.sort(key=lambda g: (-g.top_score, g.title.casefold(), g.rule_id))
    return Digest(
        subscription=subscription.name,
        language=subscription.language,
        timezone=subscription.timezone,
        template=subscription.template,
        now=now,
        since=since,
        groups=tuple(built),
        omitted_alerted=omitted,
    )


def build_alert(
    entry: Entry,
    match: Match,
    subscription: SubscriptionSettings,
    now: datetime,
    *,
    sources: Mapping[str, str] | None = None,
    rule_titles: Mapping[str, str] | None = None,
    snippet_width: int = SNIPPET_WIDTH,
) -> Alert:
    item = make_item(
        entry,
        match,
        sources=sources or {},
        rule_titles=rule_titles or {},
        snippet_width=snippet_width,
    )
    return Alert(
        subscription=subscription.name,
        language=subscription.language,
        timezone=subscription.timezone,
        template=subscription.template,
        now=now,
        item=item,
    )


def build_alerts(
    pairs: Iterable[Pair],
    subscription: SubscriptionSettings,
    now: datetime,
    *,
    sources: Mapping[str, str] | None = None,
    rule_titles: Mapping[str, str] | None = None,
) -> list[Alert]:
    """One alert per (entry, rule) the subscription selects, highest score first."""
    alerts = [
        build_alert(e, m, subscription, now, sources=sources, rule_titles=rule_titles)
        for e, m in _select(pairs, subscription)
    ]
    alerts.sort(key=lambda a: _order(a.item))
    return alerts
