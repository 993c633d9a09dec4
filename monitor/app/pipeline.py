"""One feed's poll, and one cycle over many: fetch -> parse -> de-duplicate -> match -> store.

The clock is read once per poll through the ``clock`` seam and passed down. A failing feed is
recorded (error count, back-off) and reported; it never raises out of ``poll``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from monitor.errors import FeedError, FetchError, StorageError
from monitor.ingest.fetch import Fetcher, FetchResult
from monitor.ingest.fulltext import FullTextFetcher, article_url
from monitor.ingest.language import guess_language
from monitor.ingest.parse import Engine
from monitor.ingest.plaintext import storable
from monitor.ingest.schedule import PollPolicy, next_poll_after_error, next_poll_after_success
from monitor.ingest.workers import FeedParser, InlineParser, ParseJob
from monitor.logs import event
from monitor.matching.embedder import Vector
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
    def match(self, entry: Entry, vector: Vector | None = None) -> list[Match]: ...


class EntryEmbedder(Protocol):
    """The semantic layer as the pipeline sees it (``RuleBook``): whether the rules use entry
    vectors now, and making and storing them."""

    async def model_ready(self) -> None:
        """Return once a model loading in the background is loaded (or failed to load)."""
        ...

    def wants_vectors(self) -> bool: ...

    def embed_entries(self, entries: Sequence[Entry]) -> list[Vector]: ...

    def save_vectors(
        self, storage: Storage, entries: Sequence[Entry], vectors: Sequence[Vector], now: datetime
    ) -> int: ...


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
    lease_done: bool = False
    """Polled under a lease (``poll(lease=...)``): the poll's write completed it as well."""
    state: FeedState | None = field(default=None, repr=False, compare=False)
    """The feed's state as this poll wrote it (None: not written), so that the daemon need not
    read it again before the next poll."""


def _succeeded(
    feed: Feed,
    status: Status,
    written: FeedState,
    started: float,
    lease: str | None,
    **counts: Any,
) -> PollReport:
    """The report of a poll whose state ``written`` was stored (or held back in a batch): its
    next poll is that state's, a leased poll's write completed the lease, and ``counts`` are
    the ``PollReport`` fields of what it stored."""
    return PollReport(
        feed.url,
        status,
        next_poll=written.next_poll,
        seconds=time.perf_counter() - started,
        lease_done=lease is not None,
        state=written,
        **counts,
    )


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


def with_languages(entries: list[Entry]) -> list[Entry]:
    """``entries`` with a language each where the text tells one: the entry's own or its feed's
    declared language, else German or English by its words, else (a bare headline such as
    "Gallium") the language of the document's other entries when nearly all of them agree."""
    if all(e.language for e in entries):
        return entries
    guessed = [e.language or guess_language(e.title, e.summary or e.content[:600]) for e in entries]
    told = Counter(g[:2] for g in guessed if g)
    common = None
    if told:
        language, count = told.most_common(1)[0]
        if count >= MAJORITY * sum(told.values()) and count >= 3:
            common = language
    return [
        e if e.language else replace(e, language=g or common)
        for e, g in zip(entries, guessed, strict=True)
    ]


MAJORITY = 0.9
"""Share of a document's entries in one language for its undecided entries to take it."""


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
        embedder: EntryEmbedder | None = None,
    ) -> None:
        self.stories = stories
        self.embedder = embedder
        """Embeds new entries once, for the rules with ``semantic:``; None: no semantic layer."""
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
        lease: str | None = None,
        batch: StateBatch | None = None,
    ) -> PollReport:
        """Never raises for a feed's or the database's failure: it is this feed's error.

        ``state``: the feed's stored state, if the caller read it already (else it is read here).
        ``lease``: the instance holding the feed's lease; the poll's write completes it (next
        due = the feed's next poll) in the same transaction (``PollReport.lease_done``); a
        leased poll writes at once (no ``batch``).
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
                return self._failed(feed, FeedState(url=feed.url), policy, exc, started, lease)
        try:
            result = await self.fetcher.fetch(
                state.effective_url, etag=state.etag, last_modified=state.last_modified
            )
        except FeedError as exc:
            return self._failed(feed, state, policy, exc, started, lease)
        try:
            report = await self._ingest(feed, state, policy, result, started, parser, lease, batch)
        except (FeedError, StorageError) as exc:
            return self._failed(feed, state, policy, exc, started, lease)
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
        lease: str | None = None,
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
            if batch is None or lease is not None:
                self.storage.save_feed_state(after, lease=lease)
            else:
                batch.rows.append(_Unwritten(feed, state, after, policy, started))
                if len(batch.rows) >= STATE_BATCH:
                    self.write_states(batch)
            return _succeeded(feed, status, after, started, lease)

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
        # A feed without <language> (AP, Reuters, the FT ...): German or English from the text,
        # for the story layer, the digest and the web view's language filter.
        candidates = with_languages(candidates)
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
        vectors: dict[str, Vector] = {}
        if self.matcher is not None:
            if self.embedder is not None and candidates:
                # The daemon's model may still be loading (the first poll of a start, the one
                # that brings the backlog): these entries wait for it rather than being judged
                # by the rules' words only, for good. A 304 or an unchanged feed never waits.
                await self.embedder.model_ready()
            vectors = await self._vectors(feed, candidates)
            for entry in candidates:
                matches[entry.id] = self.matcher.match(entry, vectors.get(entry.id))
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
            lease=lease,
        )
        if vectors:
            self._save_vectors(
                feed, candidates, vectors, set(ingest.new) | set(ingest.changed), now
            )
        return _succeeded(
            feed,
            "ok",
            new_state,
            started,
            lease,
            new=len(ingest.new),
            changed=len(ingest.changed),
            matches=ingest.matches,
            entries=len(parsed.entries),
            warnings=warnings,
            new_ids=ingest.new,
            changed_ids=ingest.changed,
            dropped=len(dropped),
            fulltext_ok=ft_ok,
            fulltext_failed=ft_failed,
        )

    async def _vectors(self, feed: Feed, candidates: Sequence[Entry]) -> dict[str, Vector]:
        """Each candidate's vector when some rule uses them: computed once, here, per new or
        changed entry. A failing model costs the semantic matches of this poll, not the poll."""
        if self.embedder is None or not candidates or not self.embedder.wants_vectors():
            return {}
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            # In a thread: the model's ~10 ms per entry must not hold up the other feeds' I/O.
            vectors = await asyncio.to_thread(self.embedder.embed_entries, candidates)
        except Exception as exc:  # the model's library, not ours: keep the words' matches
            event(
                log,
                "semantic.failed",
                level=logging.ERROR,
                feed=feed.url,
                entries=len(candidates),
                error=f"{type(exc).__name__}: {exc}",
                hint="the entries are matched by the rules' words only; run with --no-semantic "
                "or `semantic: {enabled: false}` if this repeats",
            )
            return {}
        event(
            log,
            "semantic",
            feed=feed.url,
            entries=len(candidates),
            seconds=round(time.perf_counter() - wall, 3),
            cpu=round(time.process_time() - cpu, 3),
        )
        return {e.id: v for e, v in zip(candidates, vectors, strict=True)}

    def _save_vectors(
        self,
        feed: Feed,
        candidates: Sequence[Entry],
        vectors: dict[str, Vector],
        stored: set[str],
        now: datetime,
    ) -> None:
        """Store the vectors of the entries this poll wrote (after them: a vector belongs to
        its entry). A failed write is logged: the entries and matches are stored already."""
        assert self.embedder is not None
        entries = [e for e in candidates if e.id in stored and e.id in vectors]
        if not entries:
            return
        try:
            self.embedder.save_vectors(self.storage, entries, [vectors[e.id] for e in entries], now)
        except StorageError as exc:
            event(
                log,
                "semantic.unsaved",
                level=logging.WARNING,
                feed=feed.url,
                entries=len(entries),
                error=str(exc),
                hint="backtest recomputes them; new entries are not affected",
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
        lease: str | None = None,
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
        lease_done = False
        try:
            self.storage.save_feed_state(failed, lease=lease)
            lease_done = lease is not None
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
            lease_done=lease_done,
            state=written,
        )
