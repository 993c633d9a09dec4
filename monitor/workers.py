"""Where parsing runs: inline, or in worker processes so that feedparser uses every core.

Each ``ParseJob`` names its engine (feedparser, or the optional feedparser-rs with feedparser
as its fallback), so a worker parses as the daemon's settings say.

Parsing is the costliest step of a poll (feedparser is pure Python); fetching and storing are
cheap by comparison. With ``parse_workers: N`` (N > 0) bodies are parsed in N processes
started with ``forkserver`` (not ``fork``: the daemon has threads and an event loop, which a
forked child must not inherit). A worker that dies is replaced; its feed gets a per-feed error.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.errors import ParseError
from monitor.parse import Engine, ParsedFeed, parse_feed


@dataclass(frozen=True, slots=True)
class ParseJob:
    """One body to parse, with what ``parse_feed`` needs besides it (picklable)."""

    content: bytes
    feed_url: str
    base_url: str | None
    headers: Mapping[str, str] | None
    now: datetime
    feed_language: str | None
    engine: Engine = "feedparser"

    def run(self) -> ParsedFeed:
        return parse_feed(
            self.content,
            feed_url=self.feed_url,
            base_url=self.base_url,
            headers=self.headers,
            now=self.now,
            feed_language=self.feed_language,
            engine=self.engine,
        )


class FeedParser(Protocol):
    async def parse(self, job: ParseJob) -> ParsedFeed: ...


class InlineParser:
    """Parses in the calling thread: no start-up cost, one core."""

    async def parse(self, job: ParseJob) -> ParsedFeed:
        return job.run()


def _warm_up() -> None:
    import monitor.parse  # noqa: F401  (import feedparser once per worker, not per body)


class ProcessParser:
    """Parses in a pool of worker processes; call ``close`` when done."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["monitor.parse"])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_warm_up)
        return self._pool

    def start(self) -> None:
        """Start the workers now and wait until each has imported the parser. Blocking (the
        forkserver imports it first): the daemon calls this from a thread, while its first polls
        parse inline, instead of letting the first ``parse`` wait for it in the event loop."""
        pool = self._executor()
        for future in [pool.submit(_warm_up) for _ in range(self.workers)]:
            future.result()

    async def parse(self, job: ParseJob) -> ParsedFeed:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), job.run)
        except BrokenProcessPool:
            # A worker died (out of memory, killed): start a fresh pool for the next feeds.
            self.close()
            raise ParseError(job.feed_url, "the parser process died on this feed") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def make_parser(workers: int | None) -> InlineParser | ProcessParser:
    """``None``: one worker per core (at most 4) on a machine with several cores; 0: inline."""
    if workers is None:
        cores = os.cpu_count() or 1
        workers = min(cores, 4) if cores > 1 else 0
    return ProcessParser(workers) if workers > 0 else InlineParser()
