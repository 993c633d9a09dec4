"""Feed bytes -> ``ParsedFeed``: feedparser adapter, plain text, absolute links and entry identity.

feedparser-rs (``fastparse``) is an optional faster engine; its result is shaped like
feedparser's and goes through the same conversion, and feedparser is the fallback.

Pure: bytes, response headers and ``now`` in, data out; no clock, no network. A feed that yields
nothing usable raises ``ParseError``; a bad entry is skipped with a warning, never fails the feed.
Every text field that comes out is ``storable``: NUL, other C0 controls, lone surrogates and
U+FFFE/U+FFFF (both engines pass them through from guids, links, authors, titles and ``&#0;``)
are removed here, once, before any record is made of them.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import feedparser

from monitor.config.units import DEFAULT_MAX_BODY
from monitor.errors import ParseError
from monitor.ingest import fastparse
from monitor.ingest.links import web_url
from monitor.ingest.plaintext import (
    checked_fold,
    checked_html_to_text,
    has_unstorable,
    storable,
)
from monitor.model import Entry, entry_fingerprint

__all__ = [
    "ENGINES",
    "FUTURE_TOLERANCE",
    "MAX_ID_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_TITLE_CHARS",
    "Engine",
    "ParsedFeed",
    "parse_feed",
]

Engine = Literal["feedparser", "feedparser-rs"]
ENGINES: tuple[Engine, ...] = ("feedparser", "feedparser-rs")
"""feedparser is the default and the fallback; feedparser-rs is the optional fast engine."""

FUTURE_TOLERANCE = timedelta(minutes=10)
"""A date up to this far after ``now`` is clock skew and kept; later is a wrong date -> ``now``."""
MAX_TITLE_CHARS = 2_000
MAX_TEXT_CHARS = 100_000
"""Summary and content cap: generous for any article, bounds storage and matching cost."""
MAX_ID_CHARS = 1_000
"""Longer ids are replaced by their hash: they must fit a database index and stay stable."""

# Errors feedparser flags as bozo although the strict XML parser read the document fully.
_HARMLESS_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_LATIN1_FAMILY = frozenset(
    {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "windows-1252", "cp1252", "us-ascii"}
)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
# Character references to surrogates (&#xD800; .. &#xDFFF;, &#55296; .. &#57343;): not XML, and
# feedparser's fallback parser raises UnicodeEncodeError on them instead of reading the feed.
_SURROGATE_REF = re.compile(
    rb"&#(?:[xX]0*[dD][89a-fA-F][0-9a-fA-F]{2}"  # hexadecimal D800-DFFF
    rb"|0*(?:5529[6-9]|55[3-9][0-9]{2}|56[0-9]{3}|57[0-2][0-9]{2}|573[0-3][0-9]|5734[0-3]));"
)
_RSS_AUTHOR = re.compile(r"^\s*\S+@\S+\s*\((?P<name>[^()]+)\)\s*$")
_MAX_ENTRY_WARNINGS = 5
_MAX_AUTHOR_CHARS = 200
_MAX_AUTHORS = 1_000  # names remembered per feed (a bound for a feed naming a new one each time)
_MAX_TTL_MINUTES = 366 * 24 * 60


class _EmptyEntry(ValueError):
    """An entry with nothing to identify or read: skipped, but the feed is not broken by it."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one poll's body held: feed metadata, the entries that survived, and what went wrong."""

    title: str | None
    link: str | None
    language: str | None
    ttl_minutes: int | None
    entries: tuple[Entry, ...]
    warnings: tuple[str, ...]
    version: str
    """feedparser's format name: "rss20", "atom10", "rss10", ... ("" when it could not tell)."""


def parse_feed(
    content: bytes,
    *,
    feed_url: str,
    base_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    now: datetime,
    feed_language: str | None = None,
    engine: Engine = "feedparser",
    max_body: int = DEFAULT_MAX_BODY,
) -> ParsedFeed:
    """Parse one fetched body.

    ``feed_url`` is the configured identity (stored on every entry); ``base_url`` is where the
    body came from (after redirects) and, with xml:base, makes links absolute. ``headers`` are
    the response headers (charset, Content-Language). ``now`` replaces missing or future dates.
    ``feed_language`` (from the config) is the last language fallback. ``engine`` picks the
    library: "feedparser-rs" is tried first when asked for, and whenever it is missing, fails
    or its result cannot be trusted, feedparser parses the same bytes and a warning says so.
    ``max_body`` is fetch.max_body (the fetcher has applied it already; this holds for bodies
    from elsewhere). feedparser's fallback (non-XML) parser reads ~0.5 MB/s, so the default
    10 MiB bounds one broken feed to ~20 s; the largest real feed in the corpus is 1.7 MB.

    Raises ``ParseError`` when nothing usable came out: empty or oversized body, not a feed,
    a broken document without entries, or no entry that could be read. A valid feed with no
    entries is not an error. A naive ``now`` or an unknown engine is a programming error
    (ValueError).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if not content.strip():
        raise ParseError(feed_url, "empty body")
    if len(content) > max_body:
        raise ParseError(
            feed_url,
            f"body is {len(content):,} bytes, more than fetch.max_body ({max_body:,}); hint: "
            "raise fetch.max_body in the config if this feed really is that big",
        )
    now = now.astimezone(UTC)
    warnings: list[str] = []
    if content[:1].isspace() and content.lstrip().startswith(b"<?xml"):
        # Whitespace before the XML declaration (common from PHP) is fatal to the XML parser
        # and would send the whole feed through the slow, lossy fallback parser.
        content = content.lstrip()
    if b"&#" in content and _SURROGATE_REF.search(content):
        content = _SURROGATE_REF.sub(b"", content)
        warnings.append("character references to lone surrogates removed")
    fp_headers = _feedparser_headers(content, headers, warnings)
    base = base_url or feed_url
    if engine == "feedparser-rs":
        try:
            raw = fastparse.parse(content, fp_headers)
            return _convert_feed(raw, content, feed_url, base, now, feed_language, list(warnings))
        except fastparse.Unusable as exc:
            why = str(exc)
        except ParseError as exc:
            why = f"gave nothing usable ({str(exc).removeprefix(f'feed {feed_url}: ')})"
        except Exception as exc:  # a bug in the library or the shim must not cost the feed
            why = f"failed ({type(exc).__name__}: {exc})"
        warnings.append(f"feedparser-rs {why}: parsed with feedparser")
    try:
        d = feedparser.parse(
            content, response_headers=fp_headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # a bug in the library on hostile bytes fails this feed only
        raise ParseError(feed_url, f"feedparser failed: {type(exc).__name__}: {exc}") from None
    raw = fastparse.RawFeed(
        version=d.get("version") or "",
        feed=d.get("feed") or {},
        entries=list(d.get("entries") or ()),
        bozo_exception=d.get("bozo_exception") if d.get("bozo") else None,
    )
    return _convert_feed(raw, content, feed_url, base, now, feed_language, warnings)


def _convert_feed(
    raw: fastparse.RawFeed,
    content: bytes,
    feed_url: str,
    base: str,
    now: datetime,
    feed_language: str | None,
    warnings: list[str],
) -> ParsedFeed:
    """Either engine's result, in feedparser's shape, as a ParsedFeed (or a ParseError)."""
    version = raw.version
    bozo_exc = raw.bozo_exception
    raw_entries = raw.entries
    harmless = isinstance(bozo_exc, _HARMLESS_BOZO)
    if not raw_entries:
        if not version:
            raise ParseError(feed_url, f"not a feed: {_describe_non_feed(content, bozo_exc)}")
        if bozo_exc is not None and not harmless:
            raise ParseError(feed_url, f"broken {version} document, no entries: {bozo_exc}")
    if harmless:
        warnings.append(f"{bozo_exc} (read anyway)")
    elif bozo_exc is not None:
        warnings.append(f"not well-formed, read anyway ({type(bozo_exc).__name__}: {bozo_exc})")
    if not version:
        warnings.append("feed format not recognised; entries taken as found")

    feed = raw.feed
    ctx = _FeedContext(
        feed_url=feed_url,
        base=base,
        now=now,
        latest=now + FUTURE_TOLERANCE,
        language=_language(feed.get("language")) or _language(feed_language),
        link=(feed.get("link") or "").strip(),
        atom=version.startswith("atom"),
        authors={},
    )
    entries, failures = _convert_entries(raw_entries, ctx, warnings)
    if not entries and (failures or (bozo_exc is not None and not harmless)):
        # Empty entries in a valid feed leave a valid empty feed; failures or a broken
        # document that leave nothing are this feed's error.
        raise ParseError(
            feed_url, f"none of {len(raw_entries)} entries could be read; {warnings[-1]}"
        )

    title = _text(feed.get("title_detail"), feed.get("title"), MAX_TITLE_CHARS, ctx)[0]
    link = _absolute(ctx.link, ctx.base)
    return ParsedFeed(
        title=storable(title) or None,
        link=storable(link) if link else None,
        language=storable(ctx.language) if ctx.language else None,
        ttl_minutes=_ttl(feed.get("ttl")),
        entries=tuple(entries),
        warnings=tuple(warnings),
        version=version,
    )


@dataclass(frozen=True, slots=True)
class _FeedContext:
    """What converting one entry needs to know about its feed."""

    feed_url: str
    base: str
    now: datetime
    latest: datetime
    """``now + FUTURE_TOLERANCE``: a later date is a wrong date."""
    language: str | None
    link: str
    """The feed's own link as written."""
    atom: bool
    """Atom declares text types; RSS leaves them to guessing."""
    authors: dict[str, tuple[str | None, bool]]
    """``_author_text`` by name as written: most feeds name a few authors over and over."""


def _convert_entries(
    raw_entries: list[Any], ctx: _FeedContext, warnings: list[str]
) -> tuple[list[Entry], int]:
    """The entries that could be read, first of each id; the number that raised."""
    entries: list[Entry] = []
    seen: set[str] = set()
    failures: list[str] = []
    empty = duplicates = 0
    for index, raw in enumerate(raw_entries):
        try:
            entry = _convert_entry(raw, ctx)
        except _EmptyEntry:
            empty += 1
            continue
        except Exception as exc:  # one bad entry never fails the feed
            failures.append(f"entry #{index + 1} skipped: {type(exc).__name__}: {exc}")
            continue
        if entry.id in seen:
            duplicates += 1
            continue
        seen.add(entry.id)
        entries.append(entry)
    # A few examples are enough to debug; a thousand identical lines are not.
    warnings.extend(failures[:_MAX_ENTRY_WARNINGS])
    if len(failures) > _MAX_ENTRY_WARNINGS:
        warnings.append(f"... and {len(failures) - _MAX_ENTRY_WARNINGS} more entries skipped")
    if empty:
        warnings.append(f"{empty} entries without id, link or text skipped")
    if duplicates:
        warnings.append(f"{duplicates} entries with an id seen earlier in the feed dropped")
    return entries, len(failures)


def _convert_entry(raw: Any, ctx: _FeedContext) -> Entry:
    """One entry, every text field ``storable``.

    (The steps for one entry are written out here rather than in a function each: this runs
    for every entry of every feed, and a call per step cost as much as many of the steps.)
    """
    if type(raw) is not dict:
        # Both engines give dicts; feedparser's subclass maps a few legacy names (none of the
        # keys read here) at a Python call per look-up. A plain copy reads the same, faster.
        raw = dict(raw)
    get = raw.get
    atom = ctx.atom
    # Each text with whether it is known storable as it is (the usual case: no second scan).
    # Only Atom declares a type: its type="text" is literal (a title may say "<b>" and mean
    # it). In RSS everything is de facto HTML, and feedparser's text/plain there is only a
    # guess that misses real markup, so it is treated as HTML too (see _text).
    title_detail = get("title_detail")
    value = get("title")
    if not isinstance(value, str) or not value:
        title, title_ok = "", True
    elif atom and _literal(title_detail):
        title, title_ok = checked_fold(value, MAX_TITLE_CHARS)
    else:
        title, title_ok = checked_html_to_text(value, MAX_TITLE_CHARS)
    summary_detail = get("summary_detail")
    summary_value = get("summary")
    summary_literal = False
    if not isinstance(summary_value, str) or not summary_value:
        summary, summary_ok = "", True
    elif atom and (summary_literal := _literal(summary_detail)):
        summary, summary_ok = checked_fold(summary_value, MAX_TEXT_CHARS)
    else:
        summary, summary_ok = checked_html_to_text(summary_value, MAX_TEXT_CHARS)
    # The longest text/HTML item of content (first one on ties). An item that is the summary
    # as written, read the same way, gives the summary's text (feedparser copies Atom content
    # into summary when there is none): it is not converted twice.
    content, content_ok = "", True
    for item in get("content") or ():
        kind = _get(item, "type", "text/html")
        if not (kind.startswith("text/") or kind.endswith("xhtml+xml")):
            continue
        value = _get(item, "value")
        if not isinstance(value, str) or not value:
            continue  # "" is never longer than the best so far
        literal = atom and _literal(item)
        if value == summary_value and literal == summary_literal:
            text, ok = summary, summary_ok
        elif literal:
            text, ok = checked_fold(value, MAX_TEXT_CHARS)
        else:
            text, ok = checked_html_to_text(value, MAX_TEXT_CHARS)
        if len(text) > len(content):
            content, content_ok = text, ok
    if content == summary:
        # feedparser copies Atom content into summary when there is none: one copy is enough,
        # and the matcher should not count the same words twice.
        content, content_ok = "", True
    raw_link = (get("link") or "").strip()
    # guid, else the link as written in the feed, else a hash of the visible text (_entry_id)
    guid = get("id")
    entry_id = guid.strip() if isinstance(guid, str) else ""
    if not entry_id or entry_id == ctx.link:
        entry_id = raw_link if raw_link != ctx.link else ""
    if not entry_id or len(entry_id) > MAX_ID_CHARS:
        entry_id = _entry_id(entry_id, title, summary, content)

    # dict.get (raw is a plain dict here): FeedParserDict maps a missing updated_parsed to
    # published_parsed. updated is read once: it is also the fallback publication date.
    value = get("updated_parsed")
    updated = _datetime(value) if isinstance(value, time.struct_time) else None
    value = get("published_parsed")
    published = _datetime(value) if isinstance(value, time.struct_time) else None
    if published is None:
        published = updated
    latest = ctx.latest
    if published is None or published > latest:
        published = ctx.now
    if updated is not None and updated > latest:
        updated = None

    link = web_url(ctx.base, raw_link) if raw_link else None
    detail = get("author_detail") or {}
    name = _get(detail, "name") or get("author")
    if isinstance(name, str):
        found = ctx.authors.get(name)
        if found is None:
            found = _author_text(name)
            if len(ctx.authors) < _MAX_AUTHORS:
                ctx.authors[name] = found
        author, author_ok = found
    else:
        author, author_ok = None, True
    value = get("language")
    language = _language(value) if isinstance(value, str) else None
    if language is None:
        # the xml:lang in effect on its text
        for detail in (title_detail, summary_detail):
            if isinstance(detail, dict):
                value = dict.get(detail, "language")
            elif isinstance(detail, Mapping):
                value = detail.get("language")
            else:
                continue
            if isinstance(value, str) and (language := _language(value)):
                break
        else:
            language = ctx.language
    # Positional, with the fingerprint it would compute itself: a frozen dataclass sets each
    # field by a call, and keywords and a second setting of the fingerprint cost ~5k
    # instructions more per entry (tests/test_conversion_fastpaths.py checks the order).
    entry = Entry(
        ctx.feed_url,
        entry_id,
        title,
        link,
        summary,
        content,
        published,
        author,
        language,
        updated,
        None,  # first_seen: set by the store
        entry_fingerprint(title, summary, content),
    )
    if (
        title_ok
        and summary_ok
        and content_ok
        and author_ok
        and entry_id.isprintable()
        and (link is None or link == entry_id or link.isprintable())
        and (language is None or language.isprintable())
    ):
        return entry  # printable: nothing unstorable in it
    return _storable_entry(entry)


def _literal(detail: Any) -> bool:
    """The construct declares its text literal (Atom type="text")."""
    return isinstance(detail, _MAPPINGS) and _get(detail, "type", "") == "text/plain"


_ENTRY_TEXT = tuple(f.name for f in fields(Entry) if f.name not in {"feed_url", "fingerprint"})


def _storable_entry(entry: Entry) -> Entry:
    """``entry`` with every text field ``storable`` (the same object when nothing needs it).

    An id that held such code points keeps its identity in a hash of what was written when
    nothing is left of it.
    """
    texts = [value for name in _ENTRY_TEXT if isinstance(value := getattr(entry, name), str)]
    joined = "".join(texts)
    # One scan of all fields: the usual case. Every unstorable code point is non-printable; so
    # are line breaks, which are storable and common.
    if (joined.replace("\n", " ") if "\n" in joined else joined).isprintable() or not (
        has_unstorable(joined)
    ):
        return entry
    changes: dict[str, Any] = {}
    for name in _ENTRY_TEXT:
        value = getattr(entry, name)
        if isinstance(value, str) and has_unstorable(value):
            changes[name] = storable(value)
    if not changes:
        return entry
    if changes.get("id") == "":
        changes["id"] = "hash:" + _digest(entry.id)
    for name in ("link", "author", "language"):
        if changes.get(name) == "":
            changes[name] = None
    return replace(entry, **changes, fingerprint="")  # the fingerprint of the clean text


def _entry_id(written: str, title: str, summary: str, content: str) -> str:
    """The id of an entry whose guid, or else link as written in the feed, is ``written``: that
    when it fits, a hash of it when it is too long, a hash of the visible text when it is "".

    The link is taken before it is made absolute, so that a feed moving to a new address
    (a permanent redirect changes ``base_url``) does not renew every id. A guid or link equal
    to the feed's own link (scraped feeds give every item the home page) identifies nothing.
    """
    if not written:
        text = f"{title}\x00{summary}" if title or summary else content
        if not text:
            raise _EmptyEntry("entry has no id, link, title, summary or content")
        return "hash:" + _digest(text)
    if len(written) > MAX_ID_CHARS:
        return "hash:" + _digest(written)
    return written


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


# dict first: both engines give dicts, and the Mapping ABC check alone costs ~3x as much.
_MAPPINGS = (dict, Mapping)


def _text(detail: Any, value: Any, max_chars: int, ctx: _FeedContext) -> tuple[str, bool]:
    """Plain text of a feedparser text construct, and whether it is known storable as it is.

    Only Atom declares a type: its type="text" is literal (a title may say "<b>" and mean it).
    In RSS everything is de facto HTML, and feedparser's text/plain there is only a guess that
    misses real markup, so it is treated as HTML too.
    """
    if not isinstance(value, str) or not value:
        return "", True
    kind = _get(detail, "type", "") if isinstance(detail, _MAPPINGS) else ""
    if kind == "text/plain" and ctx.atom:
        return checked_fold(value, max_chars)
    return checked_html_to_text(value, max_chars)


def _get(mapping: Any, key: str, default: Any = None) -> Any:
    """``mapping.get(key, default)``; for feedparser's dicts without their legacy-name look-up
    (a Python call per read; none of the keys read here is one of those names)."""
    if isinstance(mapping, dict):
        return dict.get(mapping, key, default)
    return mapping.get(key, default)


def _absolute(link: Any, base: str) -> str | None:
    """``link`` resolved against ``base``; None unless the result is an http(s) URL."""
    if not isinstance(link, str) or not link.strip():
        return None
    return web_url(base, link.strip())


def _datetime(value: time.struct_time) -> datetime | None:
    """A parsed date as an aware UTC datetime; None for a year 0 or 99999."""
    try:
        # The same as the general way below whenever the fields are a valid date and time
        # (tests/test_conversion_fastpaths.py), without timegm's Python steps.
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        pass
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):  # year 0 or 99999: treat as no date
        return None


def _author_text(name: str) -> tuple[str | None, bool]:
    """The author's name as text, and whether it is known storable as it is."""
    # RSS <author> is "email (Name)"; feedparser does not always split it.
    match = _RSS_AUTHOR.match(name)
    if match:
        name = match.group("name")
    text, ok = checked_html_to_text(name, _MAX_AUTHOR_CHARS)
    return text or None, ok


def _language(value: Any) -> str | None:
    """A language tag, lower case with "-" ("de_DE " -> "de-de"), or None."""
    if not isinstance(value, str):
        return None
    tag = value.strip().replace("_", "-").lower()
    return tag[:35] or None


def _ttl(value: Any) -> int | None:
    """RSS <ttl> in minutes; absurd values (over a year) are ignored, not passed to a scheduler."""
    try:
        minutes = int(str(value).strip())
    except ValueError:
        return None
    return minutes if 0 < minutes <= _MAX_TTL_MINUTES else None


def _feedparser_headers(
    content: bytes, headers: Mapping[str, str] | None, warnings: list[str]
) -> dict[str, str]:
    """Response headers as feedparser expects them (lower-case names), charset corrected.

    Content-Location is dropped: feedparser would resolve relative guids against it, and ids
    must not change with a header. Links are made absolute by this module instead.
    """
    fp = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    fp.pop("content-location", None)
    if fp and "content-type" not in fp:
        # Without this feedparser flags the feed and assumes ISO-8859-1 over the usual UTF-8.
        fp["content-type"] = "application/xml"
    declared = _declared_charset(content, fp.get("content-type"))
    if declared in _LATIN1_FAMILY and not content.isascii():
        # A Latin-1 declaration over bytes that are valid UTF-8 is almost always a wrong
        # declaration (the reverse decodes to mojibake like "GrÃ¼n" that no rule matches).
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return fp
        media = (fp.get("content-type") or "application/xml").split(";")[0].strip()
        fp["content-type"] = f"{media}; charset=utf-8"
        warnings.append(f"declared charset {declared}, but the body is UTF-8: read as UTF-8")
    return fp


def _declared_charset(content: bytes, content_type: str | None) -> str | None:
    if content_type:
        for param in content_type.split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'").lower()
    match = _XML_ENCODING.match(content[:200].lstrip())
    return match.group(1).decode("ascii").lower() if match else None


def _describe_non_feed(content: bytes, bozo_exc: Any) -> str:
    """A hint for the user on what the body was instead."""
    head = content[:512].lstrip().lower()
    if content[:2] == b"\x1f\x8b":
        return "the body is gzip-compressed bytes (Content-Encoding not undone?)"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "the body is an HTML page"
    if head.startswith((b"{", b"[")):
        return "the body is JSON (JSON Feed is not supported)"
    if bozo_exc is not None:
        return f"{type(bozo_exc).__name__}: {bozo_exc}"
    return "no RSS or Atom structure found"
