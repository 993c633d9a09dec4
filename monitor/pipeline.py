"""One feed's poll, and one cycle over many: fetch -> parse -> de-duplicate -> match -> store.

The clock is read once per poll through the ``clock`` seam and passed down. A failing feed is
recorded (error count, back-off) and reported; it never raises out of ``poll``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol

from monitor.errors import FeedError, FetchError
from monitor.fetch import Fetcher, FetchResult
from monitor.logs import event
from monitor.model import Entry, Feed, FeedState, Match
from monitor.parse import Engine
from monitor.schedule import PollPolicy, next_poll_after_error, next_poll_after_success
from monitor.store import Storage
from monitor.workers import FeedParser, InlineParser, ParseJob

log = logging.getLogger("monitor.poll")

POOL_MIN_FEEDS = 8
_INLINE = InlineParser()

Status = Literal["ok", "not_modified", "unchanged", "error"]


class EntryMatcher(Protocol):
    def match(self, entry: Entry) -> list[Match]: ...


@dataclass(frozen=True, slots=True)
class PollReport:
    feed: str
    status: Status
    new: int = 0
    changed: int = 0
    matches: int = 0
    entries: int = 0
    """Entries in the fetched document."""
    error: str | None = None
    warnings: tuple[str, ...] = ()
    next_poll: datetime | None = None
    seconds: float = 0.0
    new_ids: tuple[str, ...] = ()
    changed_ids: tuple[str, ...] = ()


def policy_for(feed: Feed) -> PollPolicy:
    return PollPolicy.for_feed(feed)


def select_candidates(entries: Iterable[Entry], known: dict[str, str]) -> list[Entry]:
    """Entries that are new or whose text changed; tombstoned ids ("") and repeats are dropped."""
    out: list[Entry] = []
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            continue
        seen.add(entry.id)
        previous = known.get(entry.id)
        if previous is None or (previous != "" and previous != entry.fingerprint):
            out.append(entry)
    return out


class Pipeline:
    """Polls feeds into a store. One instance per process; not thread-safe (one event loop)."""

    def __init__(
        self,
        storage: Storage,
        fetcher: Fetcher,
        matcher: EntryMatcher | None = None,
        *,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        parser: FeedParser | None = None,
        engine: Engine = "feedparser",
        max_active: int = 16,
    ) -> None:
        self.parser: FeedParser = parser or InlineParser()
        # Fetching outruns parsing: without a bound, a big cycle would hold every fetched body
        # in memory while it waits for a parser.
        self.max_active = max_active
        self.engine: Engine = engine
        self.storage = storage
        self.fetcher = fetcher
        self.matcher = matcher
        self.clock = clock
        self.rng = rng or random.Random()

    async def poll_many(self, feeds: Sequence[Feed]) -> list[PollReport]:
        """Poll concurrently (the fetcher enforces global and per-host limits).

        A small batch parses inline: starting worker processes would cost more than it saves.
        """
        parser = self.parser if len(feeds) >= POOL_MIN_FEEDS else _INLINE
        slots = asyncio.Semaphore(self.max_active)

        async def bounded(feed: Feed) -> PollReport:
            async with slots:
                return await self.poll(feed, parser=parser)

        return list(await asyncio.gather(*(bounded(f) for f in feeds)))

    async def poll(self, feed: Feed, *, parser: FeedParser | None = None) -> PollReport:
        started = time.perf_counter()
        state = self.storage.feed_state(feed.url) or FeedState(url=feed.url)
        policy = policy_for(feed)
        try:
            result = await self.fetcher.fetch(
                state.effective_url, etag=state.etag, last_modified=state.last_modified
            )
        except FeedError as exc:
            return self._failed(feed, state, policy, exc, started)
        try:
            report = await self._ingest(feed, state, policy, result, started, parser)
        except FeedError as exc:
            return self._failed(feed, state, policy, exc, started)
        event(
            log,
            "poll",
            feed=feed.url,
            status=report.status,
            new=report.new,
            changed=report.changed,
            matches=report.matches,
            entries=report.entries,
            warnings=len(report.warnings) or None,
            seconds=report.seconds,
            next_poll=report.next_poll,
        )
        for warning in report.warnings[:5]:
            event(log, "poll.warning", level=logging.WARNING, feed=feed.url, warning=warning)
        return report

    async def _ingest(
        self,
        feed: Feed,
        state: FeedState,
        policy: PollPolicy,
        result: FetchResult,
        started: float,
        parser: FeedParser | None,
    ) -> PollReport:
        now = self.clock()
        fetch_url = result.permanent_url or state.fetch_url
        if fetch_url == feed.url:
            fetch_url = None
        ok_state = replace(
            state,
            fetch_url=fetch_url,
            last_poll=now,
            last_success=now,
            last_error=None,
            error_count=0,
            etag=result.etag or (state.etag if result.not_modified else None),
            last_modified=result.last_modified
            or (state.last_modified if result.not_modified else None),
        )
        if result.not_modified or (
            result.body_hash is not None and result.body_hash == state.body_hash
        ):
            # Nothing to parse: a 304, or the same bytes as last time from a server
            # that sends no validators.
            status: Status = "not_modified" if result.not_modified else "unchanged"
            nxt = next_poll_after_success(
                policy, now, ttl_minutes=None, max_age=result.max_age, rng=self.rng
            )
            self.storage.save_feed_state(replace(ok_state, next_poll=nxt))
            return PollReport(
                feed.url, status, next_poll=nxt, seconds=time.perf_counter() - started
            )

        assert result.content is not None
        job = ParseJob(
            result.content,
            feed_url=feed.url,
            base_url=result.final_url,
            headers=result.headers,
            now=now,
            feed_language=feed.language,
            engine=self.engine,
            max_body=self.fetcher.limits.max_body_bytes,
        )
        parsed = await (parser or self.parser).parse(job)
        known = self.storage.known_entries(feed.url)
        candidates = select_candidates(parsed.entries, known)
        matches: dict[str, list[Match]] = {}
        if self.matcher is not None:
            for entry in candidates:
                matches[entry.id] = self.matcher.match(entry)
        nxt = next_poll_after_success(
            policy, now, ttl_minutes=parsed.ttl_minutes, max_age=result.max_age, rng=self.rng
        )
        new_state = replace(
            ok_state, title=parsed.title or state.title, body_hash=result.body_hash, next_poll=nxt
        )
        ingest = self.storage.record_poll(new_state, candidates, matches, now)
        return PollReport(
            feed.url,
            "ok",
            new=len(ingest.new),
            changed=len(ingest.changed),
            matches=ingest.matches,
            entries=len(parsed.entries),
            warnings=parsed.warnings,
            next_poll=nxt,
            seconds=time.perf_counter() - started,
            new_ids=ingest.new,
            changed_ids=ingest.changed,
        )

    def _failed(
        self,
        feed: Feed,
        state: FeedState,
        policy: PollPolicy,
        exc: FeedError,
        started: float,
    ) -> PollReport:
        now = self.clock()
        count = state.error_count + 1
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        nxt = next_poll_after_error(policy, now, count, retry_after=retry_after, rng=self.rng)
        message = str(exc)
        self.storage.save_feed_state(
            replace(state, last_poll=now, last_error=message, error_count=count, next_poll=nxt)
        )
        event(
            log,
            "poll",
            level=logging.WARNING,
            feed=feed.url,
            status="error",
            error=message,
            errors_in_a_row=count,
            next_poll=nxt,
        )
        return PollReport(
            feed.url,
            "error",
            error=message,
            next_poll=nxt,
            seconds=time.perf_counter() - started,
        )
