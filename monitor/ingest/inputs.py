"""Entries from the command line's inputs: feed files, URLs, JSONL files or stdin (``-``).

Used by ``monitor match`` and ``monitor stories``; bad lines are reported, never fatal."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from monitor.errors import MonitorError
from monitor.model import FIELDS, Entry, as_utc

JSONL_SUFFIXES = (".jsonl", ".ndjson")


class InputError(Exception):
    """One input (or one line of it) could not be read; the others go on."""


def entry_from_json(obj: Any, where: str, now: datetime) -> Entry:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, found {type(obj).__name__}")
    entry_id = obj.get("id")
    if not isinstance(entry_id, str | int) or isinstance(entry_id, bool) or entry_id == "":
        raise InputError(f"{where}: key 'id' is missing or not a string")
    texts: dict[str, str] = {}
    for key in (*FIELDS, "link", "language"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(f"{where}: key {key!r} must be a string, found {type(value).__name__}")
        texts[key] = value or ""
    published = now
    raw = obj.get("published")
    if raw:
        try:
            published = as_utc(datetime.fromisoformat(str(raw).replace("Z", "+00:00")))
        except ValueError:
            raise InputError(f"{where}: key 'published' is not an ISO 8601 date: {raw!r}") from None
    return Entry(
        feed_url=where.rsplit(":", 1)[0],
        id=str(entry_id),
        title=texts["title"],
        link=texts["link"] or None,
        summary=texts["summary"],
        content=texts["content"],
        published=published,
        language=texts["language"] or None,
    )


def jsonl_entries(stream: IO[str], name: str, now: datetime, errors: list[str]) -> Iterator[Entry]:
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            yield entry_from_json(json.loads(line), where, now)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
        except InputError as exc:
            errors.append(str(exc))


def feed_entries(source: str, content: bytes, now: datetime) -> list[Entry]:
    try:
        from monitor.ingest.parse import parse_feed
    except ImportError:
        raise InputError(
            f"{source}: feed input not supported yet (monitor.ingest.parse missing)"
        ) from None
    try:
        return list(parse_feed(content, feed_url=source, now=now).entries)
    except MonitorError as exc:
        raise InputError(str(exc)) from None


def fetch_url(url: str) -> bytes:
    try:
        import asyncio

        from monitor.ingest.fetch import Fetcher
    except ImportError:
        raise InputError(
            f"{url}: URL input not supported yet (monitor.ingest.fetch missing)"
        ) from None

    async def get() -> bytes:
        async with Fetcher() as fetcher:
            result = await fetcher.fetch(url)
        return result.content or b""

    try:
        return asyncio.run(get())
    except MonitorError as exc:
        raise InputError(str(exc)) from None


def read_input(source: str, now: datetime, errors: list[str]) -> Iterator[Entry]:
    """Entries of one input; problems go to ``errors`` (whole-input ones raise InputError)."""
    if source == "-":
        yield from jsonl_entries(sys.stdin, "<stdin>", now, errors)
        return
    if source.startswith(("http://", "https://")):
        yield from feed_entries(source, fetch_url(source), now)
        return
    path = Path(source)
    try:
        if path.suffix.lower() in JSONL_SUFFIXES:
            with path.open(encoding="utf-8") as fh:
                yield from jsonl_entries(fh, source, now, errors)
            return
        content = path.read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: cannot read: {exc}") from None
    yield from feed_entries(source, content, now)
