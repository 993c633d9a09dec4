"""The domain: typed, immutable records that flow through the pipeline.

All datetimes are timezone-aware UTC. Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "DEFAULT_MAX_NEW_ENTRIES",
    "SEMANTIC",
    "UTC",
    "Entry",
    "Feed",
    "FeedState",
    "FullText",
    "FullTextState",
    "Hit",
    "IngestResult",
    "Match",
    "Priority",
    "RuleCatalog",
    "entry_fingerprint",
]

FIELDS = ("title", "summary", "content")
SEMANTIC = "semantic"
"""``Hit.kind`` and ``Hit.concept`` of a semantic hit."""


DEFAULT_MAX_NEW_ENTRIES = 500
"""New entries one poll of one feed stores at most (``defaults.max_new_entries``)."""


class Priority(StrEnum):
    """What a rule's match asks for: an alert within the cycle, or a place in the next digest."""

    ALERT = "alert"
    DIGEST = "digest"


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed as configured (per-feed settings already merged with the global ones)."""

    url: str
    """Identity of the feed as written in the config: http(s) URL, file:// URL or path."""
    name: str | None = None
    interval: timedelta = timedelta(minutes=30)
    min_interval: timedelta = timedelta(minutes=5)
    max_interval: timedelta = timedelta(hours=24)
    tags: tuple[str, ...] = ()
    language: str | None = None
    max_new_entries: int = DEFAULT_MAX_NEW_ENTRIES
    """A poll stores at most this many new entries, the newest; the older ones are dropped."""
    fulltext: bool = False
    """Fetch each new entry's article page and match its main text as ``content``."""

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about a feed between polls."""

    url: str
    fetch_url: str | None = None
    """Where to fetch from now: differs from ``url`` after a permanent redirect."""
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    error_count: int = 0
    next_poll: datetime | None = None

    @property
    def effective_url(self) -> str:
        return self.fetch_url or self.url


def entry_fingerprint(title: str, summary: str, content: str) -> str:
    """A short hash of the text a reader sees: a change here marks the entry changed."""
    # Each part followed by NUL, hashed in one update (the same bytes as one update per part:
    # UTF-8 encodes code point by code point).
    return hashlib.blake2b(
        (title + "\x00" + summary + "\x00" + content + "\x00").encode("utf-8", "surrogatepass"),
        digest_size=12,
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item as plain text, identified by (feed_url, id)."""

    feed_url: str
    id: str
    title: str
    link: str | None
    summary: str
    content: str
    published: datetime
    """UTC; the first-seen time when the feed gave none or gave one in the future."""
    author: str | None = None
    language: str | None = None
    updated: datetime | None = None
    first_seen: datetime | None = None
    """Set by the store: when this entry was first ingested."""
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(
                self, "fingerprint", entry_fingerprint(self.title, self.summary, self.content)
            )

    def text(self, field_name: str) -> str:
        """The plain text of ``title``, ``summary`` or ``content``."""
        if field_name not in FIELDS:
            raise KeyError(field_name)
        value: str = getattr(self, field_name)
        return value


@dataclass(frozen=True, slots=True)
class Hit:
    """One piece of evidence for a match: which variant was found where, and how exactly."""

    concept: str
    variant: str
    field: str
    start: int
    """Character offsets into the entry's plain-text field (``Entry.text(field)``)."""
    end: int
    text: str
    """The matched text as it stands in the field."""
    similarity: float = 100.0
    """100 for an exact (normalized) match, lower for a fuzzy one; for a semantic hit the
    cosine x 100."""
    kind: str = "term"
    """"term": a variant found in the text; "semantic": the entry is close in meaning to one of
    the rule's example sentences (``variant`` is that sentence, ``concept`` is "semantic", the
    span is empty and ``threshold`` is the cosine x 100 it had to reach)."""
    threshold: float | None = None

    @property
    def exact(self) -> bool:
        return self.similarity >= 100.0 and self.kind == "term"

    @property
    def semantic(self) -> bool:
        return self.kind == SEMANTIC


@dataclass(frozen=True, slots=True)
class Match:
    """An entry scored at or above a rule's threshold, with its explanation."""

    rule_id: str
    score: int
    priority: Priority = Priority.DIGEST
    hits: tuple[Hit, ...] = ()

    @property
    def semantic(self) -> bool:
        """A match of its own kind: the rule's words were not enough, its example sentences
        were (the first hit is the semantic one; any others are the gate's words)."""
        return bool(self.hits) and self.hits[0].semantic


@dataclass(frozen=True)
class RuleCatalog:
    """What delivery needs to know of the rules besides their matches (pure data)."""

    titles: Mapping[str, str] = field(default_factory=dict)
    context: frozenset[str] = frozenset()
    """Context-only rules (``context: true``): left out of ``rules: "*"``."""
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Language ("de", "en") -> concept id -> what readers see for the concept."""

    def label(self, concept: str, language: str) -> str:
        return self.labels.get(language, {}).get(concept, concept)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one poll's write did to the store."""

    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    matches: int = 0


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class DeliveryKind(StrEnum):
    ALERT = "alert"
    DIGEST = "digest"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    """A digest that was never sent: a newer digest of the subscription carries its items."""


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int | None
    kind: DeliveryKind
    subscription: str
    channel: str
    key: str
    """Stable per delivery: Message-ID, file name, idempotency key."""
    created: datetime
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    last_error: str | None = None
    next_attempt: datetime | None = None
    """None: due at once."""
    sent_at: datetime | None = None
    since: datetime | None = None
    """Digests: where the scan for its matches started (a superseding digest reaches back)."""
    due: datetime | None = None
    """Digests: the scheduled time (period end) it was made for."""


@dataclass(frozen=True, slots=True)
class SubscriptionMark:
    """What the store remembers per subscription between runs."""

    name: str
    first_seen: datetime
    """Alerts start here: a new subscription is not flooded with the stored history."""
    digest_since: datetime | None = None
    """Where the next digest's scan for matches starts (the last digest's period end)."""
    digest_until: datetime | None = None
    """Period end of the last digest made (or of the last slot that had nothing to send)."""
    digest_seq: int = 0
    """Counts digests made; a write expecting an older value lost a race and is refused."""
    alerts_until: datetime | None = None
    """Matches recorded before this were already considered for alerts."""


ItemKey = tuple[str, str, str]
"""(feed_url, entry_id, rule_id): one match, as an alert or a digest contains it."""


MessageKind = Literal["alert", "digest"]


@dataclass(frozen=True)
class RenderedMessage:
    """One message, ready for every channel kind. ``data`` is JSON-able (webhook, file)."""

    kind: MessageKind
    subject: str
    text: str
    html: str
    slack_payloads: list[dict[str, Any]]
    data: dict[str, Any]
    created: datetime
    """The ``now`` the message was rendered for (used as the email Date)."""
    template: str = ""
    """Which template set, language and kind rendered it, e.g. "default/de/digest"."""
    thread_key: str | None = None
    """An update of an alerted story: the key of the story's first alert, so that channels
    that thread (email In-Reply-To/References) put it under that message."""


# --- stories (see monitor.stories and README "Stories") ---------------------------------------


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """Where one stored entry went: written with the entry, in its poll's transaction."""

    feed_url: str
    entry_id: str
    story_id: str
    published: datetime
    language: str
    outlet: str
    """Who published it: the link's domain (``reuters.com``), so that two feeds of one outlet
    count once; the feed's host when the entry has no link."""
    masthead: str = ""
    """The feed's configured name or title (what ``stories.preferred_sources`` names match)."""
    new: bool = True
    """The entry started its story."""
    score: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StoryMember:
    """One member of a stored story, with what a reader needs to see it."""

    feed_url: str
    entry_id: str
    title: str
    link: str | None
    published: datetime
    language: str
    outlet: str
    masthead: str = ""
    author: str | None = None
    new: bool = False
    score: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StoryRecord:
    """A stored story: its members in publication order (ties by feed URL, entry id)."""

    id: str
    first_seen: datetime
    last_seen: datetime
    members: tuple[StoryMember, ...]

    @property
    def outlets(self) -> tuple[str, ...]:
        """Distinct outlets, in order of their first member: one outlet counts once however
        many of its feeds carried the piece."""
        return tuple(dict.fromkeys(m.outlet for m in self.members))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted({m.language for m in self.members if m.language}))


# --- full text (see monitor.ingest.fulltext and README "Full text") ---------------------------


class FullTextState(StrEnum):
    OK = "ok"
    """The main text was extracted: it is the entry's ``content``."""
    FAILED = "failed"
    """The page could not be fetched or held no main text: the entry keeps the feed's text."""


@dataclass(frozen=True, slots=True)
class FullText:
    """One article page's main text, or why there is none: cached in the store by URL."""

    url: str
    state: FullTextState
    fetched_at: datetime
    text: str = ""
    error: str | None = None
    """Why it failed (status, size, time, not HTML, no main text), with a hint."""
    feed_url: str = ""
    """The feed whose entry asked for the page first."""
    status: int | None = None
    """The HTTP status of the page's response, where there was one."""
    seconds: float = 0.0
    """CPU seconds the extraction took (0 when nothing was extracted)."""

    @property
    def ok(self) -> bool:
        return self.state is FullTextState.OK


# --- instances and feed leases (several ``monitor run`` on one database) ---------------------


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One ``monitor run`` as the database knows it: who, since when, last heartbeat, leases."""

    id: str
    host: str
    pid: int
    role: str
    started: datetime
    heartbeat: datetime
    leases: int = 0
