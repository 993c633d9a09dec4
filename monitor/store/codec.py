"""Conversions between model objects and database rows, the same for every backend.

Timestamps: the dialect encodes them (``Dialect.encode_ts``); decoding accepts what either driver
returns (ISO-8601 text from SQLite, an aware ``datetime`` from psycopg) and yields aware UTC with
the full microsecond precision. Hits: a JSON list of objects, one per ``Hit``, field by field.
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from monitor.model import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    Entry,
    FeedState,
    Hit,
    Match,
    Priority,
    SubscriptionMark,
)

__all__ = [
    "DELIVERY_COLUMNS",
    "ENTRY_COLUMNS",
    "FEED_COLUMNS",
    "MATCH_COLUMNS",
    "SUBSCRIPTION_COLUMNS",
    "decode_hits",
    "decode_ts",
    "delivery_from_row",
    "encode_hits",
    "entry_from_row",
    "iso_utc",
    "match_from_row",
    "require_utc",
    "state_from_row",
    "subscription_from_row",
]

FEED_COLUMNS = (
    "url, fetch_url, title, etag, last_modified, body_hash, "
    "last_poll, last_success, last_error, error_count, next_poll"
)
ENTRY_COLUMNS = (
    "feed_url, entry_id, title, link, summary, content, "
    "published, updated, author, language, fingerprint, first_seen"
)
MATCH_COLUMNS = "rule_id, score, priority, hits"
DELIVERY_COLUMNS = (
    "id, key, kind, subscription, channel, state, attempts, last_error, "
    "next_attempt, created, sent_at, since, due"
)
SUBSCRIPTION_COLUMNS = "name, first_seen, digest_since, digest_until, digest_seq, alerts_until"


def require_utc(value: datetime) -> datetime:
    """The same instant in UTC. A naive datetime is refused: it is almost always a bug
    (``datetime.now()`` without a zone), and guessing would store a shifted time."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: the store takes aware UTC datetimes")
    return value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """Fixed-width ISO-8601 text, so that text order is time order (SQLite compares strings)."""
    return require_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def decode_ts(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp from the database, got {value!r}")
    return value.astimezone(UTC)


def _opt_ts(value: Any) -> datetime | None:
    return None if value is None else decode_ts(value)


# Field by field rather than dataclasses.asdict, which deep-copies: a fifth of a poll's write time.
_HIT_FIELDS = tuple(f.name for f in fields(Hit))


_HIT_LAYOUT = (
    "concept", "variant", "field", "start", "end", "text", "similarity", "kind", "threshold"
)  # fmt: skip
_FAST_HITS = _HIT_FIELDS == _HIT_LAYOUT
_quote = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) quotes with


def _hit_json(h: Hit) -> str:
    """One hit as ``json.dumps`` writes it (same keys, order, separators and number forms),
    written directly when its values are of the usual types, else by ``json.dumps``."""
    sim, threshold = h.similarity, h.threshold
    if (
        _FAST_HITS
        and type(h.start) is int
        and type(h.end) is int
        and type(sim) is float
        and math.isfinite(sim)
        and (threshold is None or (type(threshold) is float and math.isfinite(threshold)))
        and type(h.concept) is str
        and type(h.variant) is str
        and type(h.field) is str
        and type(h.text) is str
        and type(h.kind) is str
    ):
        return (
            f'{{"concept": {_quote(h.concept)}, "variant": {_quote(h.variant)}, '
            f'"field": {_quote(h.field)}, "start": {h.start}, "end": {h.end}, '
            f'"text": {_quote(h.text)}, "similarity": {sim!r}, "kind": {_quote(h.kind)}, '
            f'"threshold": {"null" if threshold is None else repr(threshold)}}}'
        )
    # allow_nan=False: standard JSON only (PostgreSQL's jsonb, the type before schema step 10,
    # rejected NaN), the same on both backends.
    item = {name: getattr(h, name) for name in _HIT_FIELDS}
    return json.dumps(item, ensure_ascii=False, allow_nan=False)


def encode_hits(hits: Sequence[Hit], memo: dict[int, str] | None = None) -> str:
    """The hits as a JSON list of objects: exactly ``json.dumps([asdict(h) ...],
    ensure_ascii=False)``. ``memo`` (by ``id``; the caller keeps the hits alive while it is in
    use) spares encoding a hit again that several matches of one entry share."""
    if memo is None:
        return "[" + ", ".join(map(_hit_json, hits)) + "]"
    parts = []
    for h in hits:
        text = memo.get(id(h))
        if text is None:
            text = memo[id(h)] = _hit_json(h)
        parts.append(text)
    return "[" + ", ".join(parts) + "]"


def decode_hits(value: Any) -> tuple[Hit, ...]:
    # Both backends store the text (PostgreSQL since schema step 10; a jsonb value, as psycopg
    # hands it over already parsed, is taken as it is).
    items = json.loads(value) if isinstance(value, str | bytes) else value
    return tuple(Hit(**item) for item in items)


def state_from_row(row: Sequence[Any]) -> FeedState:
    return FeedState(
        url=row[0],
        fetch_url=row[1],
        title=row[2],
        etag=row[3],
        last_modified=row[4],
        body_hash=row[5],
        last_poll=_opt_ts(row[6]),
        last_success=_opt_ts(row[7]),
        last_error=row[8],
        error_count=row[9],
        next_poll=_opt_ts(row[10]),
    )


def entry_from_row(row: Sequence[Any]) -> Entry:
    return Entry(
        feed_url=row[0],
        id=row[1],
        title=row[2],
        link=row[3],
        summary=row[4],
        content=row[5],
        published=decode_ts(row[6]),
        updated=_opt_ts(row[7]),
        author=row[8],
        language=row[9],
        fingerprint=row[10],
        first_seen=decode_ts(row[11]),
    )


def match_from_row(row: Sequence[Any]) -> Match:
    return Match(rule_id=row[0], score=row[1], priority=Priority(row[2]), hits=decode_hits(row[3]))


def delivery_from_row(row: Sequence[Any]) -> Delivery:
    return Delivery(
        id=int(row[0]),
        key=row[1],
        kind=DeliveryKind(row[2]),
        subscription=row[3],
        channel=row[4],
        state=DeliveryState(row[5]),
        attempts=int(row[6]),
        last_error=row[7],
        next_attempt=_opt_ts(row[8]),
        created=decode_ts(row[9]),
        sent_at=_opt_ts(row[10]),
        since=_opt_ts(row[11]),
        due=_opt_ts(row[12]),
    )


def subscription_from_row(row: Sequence[Any]) -> SubscriptionMark:
    return SubscriptionMark(
        name=row[0],
        first_seen=decode_ts(row[1]),
        digest_since=_opt_ts(row[2]),
        digest_until=_opt_ts(row[3]),
        digest_seq=int(row[4]),
        alerts_until=_opt_ts(row[5]),
    )
