"""Matches -> ``Alert`` and ``Digest`` models: selection, grouping, ordering, snippets (pure).

Takes (Entry, Match) pairs, a subscription's settings and ``now``; returns frozen data for
``render``. No I/O, no clock: the caller passes ``now`` and the window start ``since``.
Feed text stays plain text here; escaping is the renderer's job.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from monitor.config.channels import SubscriptionSettings
from monitor.model import Entry, Hit, Match, Priority, RuleCatalog, StoryRecord
from monitor.stories.outlets import outlet_of, preference

__all__ = [
    "DEFAULT_MAX_STORIES",
    "Alert",
    "Digest",
    "Item",
    "Likeness",
    "Outlet",
    "Place",
    "RuleCount",
    "RuleGroup",
    "Snippet",
    "StoryItem",
    "Tag",
    "build_alert",
    "build_alerts",
    "build_digest",
    "entry_story_id",
    "make_item",
]

Span = tuple[int, int]
Pair = tuple[Entry, Match]

SNIPPET_WIDTH = 240
DEFAULT_MAX_STORIES = 25
"""Stories a digest shows at most (``max_stories``); the rest are counted, and kept in the
JSON data (webhook, file channel)."""
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
class Tag:
    """A rule a story matched: the story's label in a digest or alert."""

    rule_id: str
    title: str
    priority: Priority
    score: int


@dataclass(frozen=True, slots=True)
class Place:
    """Which concepts were found in one place of the shown entry: ``title`` or ``text``."""

    where: str
    concepts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Likeness:
    """A semantic match of the shown entry: the rule, and its hit naming the example sentence,
    the cosine and the threshold (as the per-entry layout's hit line shows it)."""

    rule_id: str
    rule_title: str
    hit: Hit


@dataclass(frozen=True, slots=True)
class Outlet:
    """One outlet of a story, however many of its feeds carried it: a name for readers."""

    name: str
    domain: str


@dataclass(frozen=True, slots=True)
class RuleCount:
    rule_id: str
    title: str
    count: int
    """Stories of the digest the rule matched."""


@dataclass(frozen=True, slots=True)
class StoryItem:
    """One story as a digest shows it: once, whatever the number of its entries and rules."""

    id: str
    item: Item
    """The entry shown (the representative of the story's matched entries), with its snippet."""
    items: tuple[Item, ...]
    """Every selected (entry, rule) of the story in this digest, best first."""
    tags: tuple[Tag, ...]
    """The rules matched, highest priority and score first."""
    places: tuple[Place, ...]
    """Which concepts matched where in the shown entry (reader-facing; spans stay in items)."""
    outlets: tuple[Outlet, ...]
    """Every outlet of the story, the shown entry's first."""
    languages: tuple[str, ...]
    size: int
    """Entries in the story (all of them, matched or not)."""
    first_seen: datetime
    last_seen: datetime
    alerted: bool = False
    """One of its entries was already sent as an immediate alert."""
    breaking: str | None = None
    """Why the story is flagged as breaking (its outlets grow unusually fast), or None."""
    semantic: tuple[Likeness, ...] = ()
    """The shown entry's semantic matches, in the tags' order: the places name words of the
    text, and a semantic match has none of its own (the example sentence explains it)."""

    @property
    def priority(self) -> Priority:
        return self.tags[0].priority

    @property
    def score(self) -> int:
        return max(t.score for t in self.tags)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(t.rule_id for t in self.tags)

    @property
    def others(self) -> tuple[Outlet, ...]:
        """The outlets besides the shown entry's ("also reported by")."""
        return self.outlets[1:]


@dataclass(frozen=True, slots=True)
class Digest:
    subscription: str
    language: str
    timezone: str
    template: str
    now: datetime
    since: datetime | None
    stories: tuple[StoryItem, ...] = ()
    """Every story of the digest, most important first (breaking, priority, score, outlets,
    recency). The HTML, text and Slack show the first ``max_stories``; the JSON all."""
    max_stories: int = DEFAULT_MAX_STORIES
    more_url: str | None = None
    """Where the full list is (``more_url`` of the subscription), for "and N more"."""
    counts: tuple[RuleCount, ...] = ()
    """Stories per rule, most first."""
    omitted_alerted: int = 0
    """Stories left out because they were already alerted (``alerted: omit``)."""
    _groups: tuple[RuleGroup, ...] = field(default=(), repr=False, compare=False)

    @property
    def shown(self) -> tuple[StoryItem, ...]:
        return self.stories[: self.max_stories]

    @property
    def more(self) -> int:
        """Stories not shown for the cap."""
        return max(0, len(self.stories) - self.max_stories)

    @property
    def story_count(self) -> int:
        return len(self.stories)

    @property
    def total(self) -> int:
        """(entry, rule) matches in the digest: what the stories were built from."""
        return sum(len(s.items) for s in self.stories)

    @property
    def entry_count(self) -> int:
        return len({(i.entry.feed_url, i.entry.id) for s in self.stories for i in s.items})

    @property
    def alerted_count(self) -> int:
        """Stories already sent as alerts (marked)."""
        return sum(1 for s in self.stories if s.alerted)

    @property
    def is_empty(self) -> bool:
        return not self.stories

    def items(self) -> list[Item]:
        return [i for s in self.stories for i in s.items]

    @property
    def groups(self) -> tuple[RuleGroup, ...]:
        """Deprecated (wave-1 templates): the matches by rule, an entry once per rule."""
        return self._groups


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


_WORDS = re.compile(r"\w+")


def _repeats(snippet: str, title: str) -> bool:
    """The snippet says nothing the title does not: its words are the title's (in order),
    give or take a trailing source name ("... - Reuters")."""
    a, b = _WORDS.findall(snippet.casefold()), _WORDS.findall(title.casefold())
    if not a or not b:
        return not a
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    return len(longer) - len(shorter) <= 3 and longer[: len(shorter)] == shorter


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
        if not hit.semantic:  # a semantic hit has no span: the whole entry is close in meaning
            by_field.setdefault(hit.field, []).append((hit.start, hit.end))
    title = cut(entry.title, by_field.get("title", ()), TITLE_WIDTH, from_start=True)
    # The snippet comes from the field with evidence; title-only hits show the summary's start.
    field = next((f for f in ("summary", "content") if by_field.get(f)), None)
    if field is None:
        field = "summary" if entry.summary.strip() else "content"
    snippet = cut(entry.text(field), by_field.get(field, ()), snippet_width)
    if _repeats(snippet.text, title.text):
        # Many feeds (Reuters, Google News) give the headline again as the summary.
        snippet = Snippet("")
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


def _select(
    pairs: Iterable[Pair], sub: SubscriptionSettings, context: Collection[str] = ()
) -> list[Pair]:
    """Matches the subscription wants, one per (entry, rule): the best score wins."""
    best: dict[tuple[str, str, str], Pair] = {}
    for entry, match in pairs:
        if not sub.selects(match.rule_id, match.score, context):
            continue
        k = (entry.feed_url, entry.id, match.rule_id)
        if k not in best or match.score > best[k][1].score:
            best[k] = (entry, match)
    return list(best.values())


# --- digests and alerts -----------------------------------------------------------------------


def _old_groups(items: Iterable[Item]) -> tuple[RuleGroup, ...]:
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.rule_id, []).append(item)
    built = [
        RuleGroup(rule_id, its[0].rule_title, tuple(sorted(its, key=_order)))
        for rule_id, its in groups.items()
    ]
    built.sort(key=lambda g: (-g.top_score, g.title.casefold(), g.rule_id))
    return tuple(built)


def entry_story_id(feed_url: str, entry_id: str) -> str:
    """The story of an entry that has none stored (stories off, data from before them): its own."""
    h = hashlib.blake2b(digest_size=8)
    h.update(feed_url.encode("utf-8", "surrogatepass") + b"\x00")
    h.update(entry_id.encode("utf-8", "surrogatepass"))
    return f"entry-{h.hexdigest()}"


_RANK = {Priority.ALERT: 0, Priority.DIGEST: 1}


def _tag_order(t: Tag) -> tuple[int, int, str]:
    return (_RANK.get(t.priority, 9), -t.score, t.rule_id)


def places(items: Iterable[Item], catalog: RuleCatalog, language: str) -> tuple[Place, ...]:
    """Which concepts matched where ("Seltene Erden, Exportkontrollen" in the title), in the
    order of their first hit; summary and content are both "text" to a reader."""
    found: dict[str, dict[str, None]] = {"title": {}, "text": {}}
    for item in items:
        for hit in sorted(item.hits, key=lambda h: (h.field != "title", h.start)):
            if hit.semantic:
                continue  # no word of the text: the hit line names the example sentence
            where = "title" if hit.field == "title" else "text"
            label = catalog.labels.get(language, {}).get(hit.concept)
            found[where][label or hit.variant.strip("-") or hit.concept] = None
    # A concept in the title is not repeated for the text.
    text = [c for c in found["text"] if c not in found["title"]]
    out = []
    if found["title"]:
        out.append(Place("title", tuple(found["title"])))
    if text:
        out.append(Place("text", tuple(text)))
    return tuple(out)


def _outlets(
    story: StoryRecord | None, shown: Entry, sources: Mapping[str, str]
) -> tuple[Outlet, ...]:
    """Outlets by domain, one each, the shown entry's first; each named by the masthead of its
    first member (the feed's configured name or title), else its domain."""

    def name(feed_url: str, masthead: str, domain: str) -> str:
        label = _SQUASH.sub(" ", masthead).strip() or _SQUASH.sub(" ", sources.get(feed_url, ""))
        return label.strip() or domain

    members = story.members if story is not None else ()
    own = next((m for m in members if (m.feed_url, m.entry_id) == (shown.feed_url, shown.id)), None)
    first = own.outlet if own is not None else outlet_of(shown.link, shown.feed_url)
    names = {first: name(shown.feed_url, own.masthead if own else "", first)}
    for m in members:
        if m.outlet not in names:
            names[m.outlet] = name(m.feed_url, m.masthead, m.outlet)
    return tuple(Outlet(n, domain) for domain, n in names.items())


def _story_order(s: StoryItem) -> tuple[bool, int, int, int, float, str, str]:
    return (
        s.breaking is None,
        _RANK.get(s.priority, 9),
        -s.score,
        -len(s.outlets),
        -s.last_seen.timestamp(),
        s.item.title.text.casefold(),
        s.id,
    )


def build_digest(
    pairs: Iterable[Pair],
    subscription: SubscriptionSettings,
    now: datetime,
    *,
    since: datetime | None = None,
    sources: Mapping[str, str] | None = None,
    rule_titles: Mapping[str, str] | None = None,
    alerted: Collection[tuple[str, str]] = frozenset(),
    stories: Mapping[tuple[str, str], StoryRecord] | None = None,
    catalog: RuleCatalog | None = None,
    published_after: datetime | None = None,
    breaking: Mapping[str, str] | None = None,
    preferred: Sequence[str] = (),
    snippet_width: int = SNIPPET_WIDTH,
) -> Digest:
    """The subscription's matches as stories: each story once, most important first.

    ``pairs`` are the matches since the last digest (the caller's query); ``stories`` maps
    (feed_url, entry_id) to the entry's stored story (an entry without one is its own story);
    ``alerted`` holds (feed_url, entry_id) of entries sent as immediate alerts (a story with one
    is marked, or left out with ``alerted: omit``); entries published before
    ``published_after`` are left out (the look-back); ``breaking`` maps story ids to why they
    are flagged. Context-only rules (``catalog.context``) are not part of ``rules: "*"``.
    """
    sources = sources or {}
    catalog = catalog or RuleCatalog(titles=rule_titles or {})
    titles = {**catalog.titles, **(rule_titles or {})}
    stories = stories or {}
    breaking = breaking or {}
    by_story: dict[str, list[Item]] = {}
    records: dict[str, StoryRecord | None] = {}
    for entry, match in _select(pairs, subscription, catalog.context):
        if published_after is not None and entry.published < published_after:
            continue
        record = stories.get((entry.feed_url, entry.id))
        sid = record.id if record is not None else entry_story_id(entry.feed_url, entry.id)
        records.setdefault(sid, record)
        item = make_item(
            entry,
            match,
            sources=sources,
            rule_titles=titles,
            alerted=(entry.feed_url, entry.id) in alerted,
            snippet_width=snippet_width,
        )
        by_story.setdefault(sid, []).append(item)
    built: list[StoryItem] = []
    omitted = 0
    for sid, items in by_story.items():
        was_alerted = any(i.alerted for i in items)
        if was_alerted and subscription.alerted == "omit":
            omitted += 1
            continue
        built.append(
            _story_item(sid, items, records[sid], subscription, catalog, sources, preferred)
        )
    built = [
        _with_breaking(s, breaking.get(s.id)) for s in built
    ]  # fmt: skip
    built.sort(key=_story_order)
    counts: dict[str, int] = {}
    for st in built:
        for t in st.tags:
            counts[t.rule_id] = counts.get(t.rule_id, 0) + 1
    rule_counts = sorted(
        (
            RuleCount(rid, _SQUASH.sub(" ", titles.get(rid, rid)).strip(), n)
            for rid, n in counts.items()
        ),
        key=lambda c: (-c.count, c.title.casefold(), c.rule_id),
    )
    return Digest(
        subscription=subscription.name,
        language=subscription.language,
        timezone=subscription.timezone,
        template=subscription.template,
        now=now,
        since=since,
        stories=tuple(built),
        max_stories=subscription.max_stories,
        more_url=subscription.more_url,
        counts=tuple(rule_counts),
        omitted_alerted=omitted,
        _groups=_old_groups(i for st in built for i in st.items),
    )


def _with_breaking(story: StoryItem, why: str | None) -> StoryItem:
    if why is None:
        return story
    return StoryItem(
        story.id, story.item, story.items, story.tags, story.places, story.outlets,
        story.languages, story.size, story.first_seen, story.last_seen, story.alerted, why,
        story.semantic,
    )  # fmt: skip


def _story_item(
    sid: str,
    items: list[Item],
    record: StoryRecord | None,
    subscription: SubscriptionSettings,
    catalog: RuleCatalog,
    sources: Mapping[str, str],
    preferred: Sequence[str],
) -> StoryItem:
    best: dict[str, Item] = {}
    for item in items:
        if item.rule_id not in best or item.score > best[item.rule_id].score:
            best[item.rule_id] = item
    tags = sorted(
        (Tag(i.rule_id, i.rule_title, i.match.priority, i.score) for i in best.values()),
        key=_tag_order,
    )
    members = {(m.feed_url, m.entry_id): m for m in (record.members if record else ())}

    def rank(i: Item) -> tuple[int, float, str, str]:
        m = members.get((i.entry.feed_url, i.entry.id))
        pref = preference(m, preferred) if m is not None and preferred else len(preferred)
        return (pref, i.published.timestamp(), i.entry.feed_url, i.entry.id)

    # The shown entry: the representative of the matched entries (a preferred source's, else the
    # earliest); its best-scoring match gives the snippet.
    first = min(items, key=rank)
    own = [
        i for i in items if (i.entry.feed_url, i.entry.id) == (first.entry.feed_url, first.entry.id)
    ]
    shown = max(own, key=lambda i: (_RANK.get(i.match.priority, 9) * -1, i.score))
    ordered = sorted(
        items, key=lambda i: (_tag_order(Tag(i.rule_id, "", i.match.priority, i.score)), rank(i))
    )
    if record is not None:
        languages = record.languages
        size, first_seen, last_seen = len(record.members), record.first_seen, record.last_seen
    else:
        languages = (first.entry.language,) if first.entry.language else ()
        size, first_seen, last_seen = 1, first.published, first.published
    return StoryItem(
        id=sid,
        item=shown,
        items=tuple(ordered),
        tags=tuple(tags),
        places=places(own, catalog, subscription.language),
        outlets=_outlets(record, shown.entry, sources),
        languages=languages,
        size=size,
        first_seen=first_seen,
        last_seen=last_seen,
        alerted=any(i.alerted for i in items),
        semantic=tuple(
            Likeness(i.rule_id, i.rule_title, i.match.hits[0])
            for i in sorted(
                own, key=lambda i: _tag_order(Tag(i.rule_id, "", i.match.priority, i.score))
            )
            if i.match.semantic
        ),
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
