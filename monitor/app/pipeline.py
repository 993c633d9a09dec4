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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

from monitor.errors import FeedError, FetchError, StorageError
from monitor.ingest.fetch import Fetcher, FetchResult
from monitor.ingest.fulltext import FullTextFetcher, article_url
from monitor.ingest.parse import Engine
from monitor.ingest.plaintext import storable
from monitor.ingest.schedule import PollPolicy, next_poll_after_error, next_poll_after_success
from monitor.ingest.workers import FeedParser, InlineParser, ParseJob
from monitor.logs import event
from monitor.model import Entry, Feed, FeedState, FullText, Match, StoryAssignment
from monitor.store import Storage

log = logging.getLogger("monitor.poll")

POOL_MIN_FEEDS = 8
STATE_BATCH = 500
"""Most 304 states of a cycle held back for one write (see ``StateBatch``)."""
_CAP_WARNING = "capped:"
_INLINE = InlineParser()

Status = Literal["ok", "not_modified", "unchanged", "error"]


class EntryMatcher(Protocol):
    def match(self, entry: Entry) -> list[Match]: ...


class StoryAssigner(Protocol):
    def assign(self, entries: Sequence[Entry], masthead: str = "") -> list[StoryAssignment]: ...


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
    dropped: int = 0
    """New entries over the feed's ``max_new_entries``, not stored (the oldest)."""
    storage_failed: bool = False
    """The error is the database's: this poll's write (or reading its state) failed."""
    fulltext_ok: int = 0
    """``fulltext: true`` feeds: stored entries whose content is their article's main text."""
    fulltext_failed: int = 0
    """... and those whose page failed (their state is in the store: ``monitor status``)."""
    state: FeedState | None = field(default=None, repr=False, compare=False)
    """The feed's state as this poll wrote it (None: not written), so that the daemon need not
    read it again before the next poll."""


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


def cap_new(
    candidates: Sequence[Entry], known: dict[str, str], limit: int
) -> tuple[list[Entry], list[Entry]]:
    """Candidates to store, and the new ones over ``limit`` that are dropped.

    Changed entries (their id is known) are always kept; of the new ones the ``limit`` newest
    are (by published date; on a tie the one listed first, feeds list newest first). Linear
    but for sorting the new ones when there are more than ``limit``.
    """
    new = [e for e in candidates if e.id not in known]
    if len(new) <= limit:
        return list(candidates), []
    order = sorted(range(len(new)), key=lambda i: (new[i].published, -i), reverse=True)
    keep_ids = {new[i].id for i in order[:limit]}
    kept = [e for e in candidates if e.id in known or e.id in keep_ids]
    dropped = [e for e in new if e.id not in keep_ids]
    return kept, dropped


@dataclass(frozen=True, slots=True)
class _Unwritten:
    feed: Feed
    before: FeedState
    after: FeedState
    policy: PollPolicy
    started: float


class StateBatch:
    """The states of 304s (and unchanged bodies) held back to be written together: one
    transaction of ``STATE_BATCH`` rows at most instead of one write (on PostgreSQL a round
    trip) per feed. ``poll_many`` writes a cycle's after its polls; the daemon every second.

    A crash before the write loses at most those rows: the feeds keep their previous state,
    validators included, and are polled again (another 304 each). Nothing else waits for
    them: entries, matches and the outbox are written by their own polls.
    """

    def __init__(self) -> None:
        self.rows: list[_Unwritten] = []
        self.failed: dict[str, PollReport] = {}
        """Feed URL -> the error report replacing its 304 report (its state write failed)."""


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
        stories: StoryAssigner | None = None,
        fulltext: FullTextFetcher | None = None,
    ) -> None:
        self.stories = stories
        self.fulltext = fulltext
        """Fetches article pages for ``fulltext: true`` feeds; None: they poll as any other."""
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
        # One query for every feed's state instead of one per feed (a round trip each on
        # PostgreSQL); if it fails, each poll reads its own and fails alone.
        states: dict[str, FeedState] | None = None
        if len(feeds) > 1:
            try:
                states = self.storage.feed_states()
            except StorageError:
                states = None

        batch = StateBatch() if len(feeds) > 1 else None

        async def bounded(feed: Feed) -> PollReport:
            async with slots:
                known = None if states is None else states.get(feed.url, FeedState(url=feed.url))
                return await self.poll(feed, parser=parser, state=known, batch=batch)

        reports = list(await asyncio.gather(*(bounded(f) for f in feeds)))
        if batch is None:
            return reports
        self.write_states(batch)
        return [batch.failed.get(r.feed, r) if r.status != "error" else r for r in reports]

    def write_states(self, batch: StateBatch) -> None:
        """Write the held-back states in one transaction; if that fails, one by one, and a
        feed whose own write fails is reported as failed (as an unbatched write would be)."""
        rows, batch.rows = batch.rows, []
        if not rows:
            return
        try:
            self.storage.save_feed_states([row.after for row in rows])
            return
        except StorageError:
            pass
        for row in rows:
            try:
                self.storage.save_feed_state(row.after)
            except StorageError as exc:
                batch.failed[row.feed.url] = self._failed(
                    row.feed, row.before, row.policy, exc, row.started
                )

    async def poll(
        self,
        feed: Feed,
        *,
        parser: FeedParser | None = None,
        state: FeedState | None = None,
        batch: StateBatch | None = None,
    ) -> PollReport:
        """Never raises for a feed's or the database's failure: it is this feed's error.

        ``state``: the feed's stored state, if the caller read it already (else it is read here).
        ``batch``: where a 304's state waits for the cycle's one write (``poll_many``); None
        writes it at once.

        A failed write (the database refused this feed's rows, or is down) is recorded like a
        failed fetch, with the same back-off, as far as the database still takes that.
        """
        started = time.perf_counter()
        policy = policy_for(feed)
        if state is None:
            try:
                state = self.storage.feed_state(feed.url) or FeedState(url=feed.url)
            except StorageError as exc:
                return self._failed(feed, FeedState(url=feed.url), policy, exc, started)
        try:
            result = await self.fetcher.fetch(
                state.effective_url, etag=state.etag, last_modified=state.last_modified
            )
        except FeedError as exc:
            return self._failed(feed, state, policy, exc, started)
        try:
            report = await self._ingest(feed, state, policy, result, started, parser, batch)
        except (FeedError, StorageError) as exc:
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
        # The cap's warning is always logged: it says entries were not stored.
        shown = list(report.warnings[:5])
        shown += [w for w in report.warnings[5:] if w.startswith(_CAP_WARNING)]
        for warning in shown:
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
        batch: StateBatch | None = None,
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
            after = replace(ok_state, next_poll=nxt)
            if batch is None:
                self.storage.save_feed_state(after)
            else:
                batch.rows.append(_Unwritten(feed, state, after, policy, started))
                if len(batch.rows) >= STATE_BATCH:
                    self.write_states(batch)
            return PollReport(
                feed.url, status, next_poll=nxt, seconds=time.perf_counter() - started, state=after
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
        # Only the document's ids: the lookup costs what the document holds, however much the
        # feed has stored over the years.
        known = self.storage.known_entries(feed.url, [e.id for e in parsed.entries])
        candidates, dropped = cap_new(
            select_candidates(parsed.entries, known), known, feed.max_new_entries
        )
        warnings = parsed.warnings
        if dropped:
            warnings = (
                *warnings,
                f"{_CAP_WARNING} {len(dropped) + feed.max_new_entries:,} new entries, more than "
                f"max_new_entries ({feed.max_new_entries:,}): stored the newest "
                f"{feed.max_new_entries:,}, dropped the {len(dropped):,} oldest",
            )
        ft_ok = ft_failed = 0
        if feed.fulltext and self.fulltext is not None and candidates:
            candidates, ft_ok, ft_failed = await self._with_fulltext(feed, candidates, now)
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
        stories: list[StoryAssignment] = []
        if self.stories is not None:
            # Every new entry, matched or not: a story can start outside any rule. Assigned
            # here, written by record_poll in the entries' own transaction.
            masthead = feed.name or new_state.title or ""
            fresh = [e for e in candidates if e.id not in known]
            try:
                stories = self.stories.assign(fresh, masthead)
            except StorageError:
                raise  # rebuilding the window read the store: this poll's storage error
            except Exception as exc:  # a bug in the story core must not stop ingestion
                event(
                    log,
                    "stories.failed",
                    level=logging.ERROR,
                    feed=feed.url,
                    entries=len(fresh),
                    error=f"{type(exc).__name__}: {exc}",
                    hint="the entries are stored without a story; "
                    "`monitor stories backfill` assigns them",
                )
        ingest = self.storage.record_poll(
            new_state,
            candidates,
            matches,
            now,
            skipped=[e.id for e in dropped],
            listed=[i for i, fingerprint in known.items() if fingerprint == ""],
            stories=stories,
        )
        return PollReport(
            feed.url,
            "ok",
            new=len(ingest.new),
            changed=len(ingest.changed),
            matches=ingest.matches,
            entries=len(parsed.entries),
            warnings=warnings,
            next_poll=nxt,
            seconds=time.perf_counter() - started,
            new_ids=ingest.new,
            changed_ids=ingest.changed,
            dropped=len(dropped),
            fulltext_ok=ft_ok,
            fulltext_failed=ft_failed,
            state=new_state,
        )

    async def _with_fulltext(
        self, feed: Feed, candidates: list[Entry], now: datetime
    ) -> tuple[list[Entry], int, int]:
        """The candidates with their article's main text as ``content``, and how many got it
        and how many did not.

        A page cached as ok is not fetched again; one cached as failed is tried again (the
        entry is new to this feed or changed). Each page's outcome is cached before the poll's
        write, so a poll that fails to store still spares the next one the fetch. The entry's
        fingerprint stays the feed's: the next poll of the same feed text is not a change.
        """
        assert self.fulltext is not None
        started = time.perf_counter()
        urls = list(dict.fromkeys(u for e in candidates if (u := article_url(e.link))))
        cached = self.storage.fulltexts(urls)
        todo = [u for u in urls if not (u in cached and cached[u].ok)]
        fetched: list[FullText] = []
        if todo:
            try:
                fetched = await self.fulltext.get(todo, feed_url=feed.url, now=now)
            except Exception as exc:  # a bug here must not cost the feed its entries
                event(
                    log,
                    "fulltext.bug",
                    level=logging.ERROR,
                    feed=feed.url,
                    error=f"{type(exc).__name__}: {exc}",
                    hint="the entries are stored with the feed's text; please report this",
                )
                fetched = []
            self.storage.save_fulltexts(fetched)
        texts = {**cached, **{f.url: f for f in fetched}}
        out: list[Entry] = []
        ok = failed = 0
        for entry in candidates:
            url = article_url(entry.link)
            found = texts.get(url) if url else None
            if found is not None and found.ok:
                ok += 1
                out.append(replace(entry, content=found.text))
            else:
                failed += found is not None
                out.append(entry)
        for f in fetched:
            if not f.ok:
                event(log, "fulltext.failed", feed=feed.url, url=f.url, error=f.error)
        event(
            log,
            "fulltext",
            feed=feed.url,
            entries=len(candidates),
            ok=ok,
            failed=failed or None,
            fetched=len(fetched),
            cached=len(urls) - len(todo),
            extract_cpu=round(sum(f.seconds for f in fetched), 3),
            seconds=round(time.perf_counter() - started, 3),
        )
        return out, ok, failed

    def _failed(
        self,
        feed: Feed,
        state: FeedState,
        policy: PollPolicy,
        exc: FeedError | StorageError,
        started: float,
    ) -> PollReport:
        now = self.clock()
        count = state.error_count + 1
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        nxt = next_poll_after_error(policy, now, count, retry_after=retry_after, rng=self.rng)
        storage_failed = isinstance(exc, StorageError)
        message = storable(str(exc))
        if storage_failed:
            message = (
                f"feed {feed.url}: storing this poll failed: {message}; hint: the other feeds "
                "are not affected; it is tried again at the next poll"
            )
        failed = replace(state, last_poll=now, last_error=message, error_count=count, next_poll=nxt)
        written: FeedState | None = failed
        try:
            self.storage.save_feed_state(failed)
        except StorageError as again:
            written = None
            # The database takes nothing at all (down, full): the error stays in the log and
            # the report; the daemon retries the feed at ``nxt`` all the same.
            storage_failed = True
            event(log, "poll.unrecorded", level=logging.ERROR, feed=feed.url, error=str(again))
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
            storage_failed=storage_failed,
            state=written,
        )
