"""Article pages of ``fulltext: true`` feeds: fetched, their main text extracted off the loop.

``FullTextFetcher.get(urls, ...)`` fetches each page through the pipeline's own ``Fetcher``, so
the same limits hold as for feeds: ``fetch.max_body`` (after decompression), the connect, read
and total timeouts, redirects, and the global and per-host concurrency (a feed's articles on its
own host take the host's slots like its feed does). Only http(s) links are fetched: a link in a
feed never reads a local file, nor a page on a non-public address of another host than the
feed's (``monitor.ingest.addresses``: no feed makes the monitor read the metadata service or the
intranet). Each page's text is extracted (``monitor.ingest.extract``) in a
worker thread, so the event loop keeps polling the other feeds while one page is parsed;
``workers`` threads at most (default 1: extraction is CPU-bound and holds the GIL for much of
its run, so more threads would not finish sooner, and one keeps a core free for parsing feeds).

Every outcome is a ``FullText``, ok or failed with the reason: one page's failure never raises,
so it never becomes its feed's error nor stops the feed's other entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitor.errors import FetchError
from monitor.ingest.addresses import PublicHosts
from monitor.ingest.extract import extract_main_text
from monitor.ingest.fetch import Fetcher
from monitor.ingest.plaintext import storable
from monitor.model import FullText, FullTextState

__all__ = ["ARTICLE_ACCEPT", "FullTextFetcher", "article_url"]

ARTICLE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_HINT = "the entry is matched on the feed's own text"


def article_url(link: str | None) -> str | None:
    """The link when it is an http(s) URL worth fetching, else None."""
    if not link:
        return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return link


def _fetch_failure(url: str, exc: FetchError) -> str:
    """The fetcher's message, said of an article page instead of a feed."""
    message = str(exc).removeprefix(f"feed {url}: ")
    what = message.split("; hint:", 1)[0]
    return f"fetching the article page failed: {what}; hint: {_HINT}"


RECENT_FOR = timedelta(minutes=10)
RECENT_LIMIT = 256
"""How long, and for how many pages, a page fetched and extracted is handed to other feeds
without asking the store (which has it too, once the first feed's poll has saved it)."""


class FullTextFetcher:
    """One per pipeline; ``close`` ends its thread(s)."""

    def __init__(self, fetcher: Fetcher, *, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("FullTextFetcher needs at least one worker thread")
        self.fetcher = fetcher
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="fulltext")
        self.fetched = 0
        """Pages requested, failed ones included (for tests and logs)."""
        self.cpu_seconds = 0.0
        """CPU time spent extracting, summed over pages."""
        self._inflight: dict[str, asyncio.Future[FullText]] = {}
        self._recent: OrderedDict[str, FullText] = OrderedDict()
        """Pages fetched and extracted lately, for a feed of the same cycle that looked in the
        store's cache before the first feed's poll saved the page there."""
        # The extractor's import (~0.2 s) happens now, in the thread, rather than in the first
        # page's extraction (whose CPU time would include it).
        self._pool.submit(warm_up)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def get(self, urls: Sequence[str], *, feed_url: str, now: datetime) -> list[FullText]:
        """One ``FullText`` per distinct URL, in order; fetched concurrently within the
        fetcher's limits."""
        unique = list(dict.fromkeys(urls))
        return list(await asyncio.gather(*(self._shared(u, feed_url, now) for u in unique)))

    async def _shared(self, url: str, feed_url: str, now: datetime) -> FullText:
        """Two feeds of one cycle that link the same new page share one fetch of it: while it
        is in flight, and for ``RECENT_FOR`` after it succeeded (the second feed may have
        looked in the store before the first saved the page)."""
        done = self._recent.get(url)
        if done is not None and timedelta(0) <= now - done.fetched_at <= RECENT_FOR:
            return done
        task = self._inflight.get(url)
        if task is None:
            task = asyncio.ensure_future(self._one(url, feed_url, now))
            self._inflight[url] = task
            task.add_done_callback(lambda t: self._settled(url, t))
        return await asyncio.shield(task)

    def _settled(self, url: str, task: asyncio.Future[FullText]) -> None:
        self._inflight.pop(url, None)
        if task.cancelled() or task.exception() is not None or not task.result().ok:
            return  # a failed page is tried again by the next feed that links it
        self._recent[url] = task.result()
        self._recent.move_to_end(url)
        while len(self._recent) > RECENT_LIMIT:
            self._recent.popitem(last=False)

    async def _one(self, url: str, feed_url: str, now: datetime) -> FullText:
        def failed(error: str, status: int | None = None) -> FullText:
            return FullText(
                url,
                FullTextState.FAILED,
                now,
                error=storable(error),
                feed_url=feed_url,
                status=status,
            )

        if article_url(url) is None:
            return failed(f"not an http(s) link: {url!r}; hint: {_HINT}")
        self.fetched += 1
        try:
            result = await self.fetcher.fetch(
                url, accept=ARTICLE_ACCEPT, files=False, guard=PublicHosts.for_feed(feed_url)
            )
        except FetchError as exc:
            return failed(_fetch_failure(url, exc), exc.status)
        body = result.content or b""
        content_type = result.headers.get("content-type")
        loop = asyncio.get_running_loop()
        try:
            text, error, seconds = await loop.run_in_executor(
                self._pool, _extract, body, result.final_url, content_type
            )
        except RuntimeError as exc:  # the pool was shut down: the monitor is stopping
            return failed(f"not extracted: {exc}; hint: tried again when the entry changes")
        self.cpu_seconds += seconds
        if text is None:
            return failed(error or "no main text", result.status)
        return FullText(
            url,
            FullTextState.OK,
            now,
            text=text,
            feed_url=feed_url,
            status=result.status,
            seconds=seconds,
        )


def warm_up() -> None:
    import importlib

    # Missing: reported at start by the configuration check, and per page by the extraction.
    with contextlib.suppress(ImportError):
        importlib.import_module("trafilatura")


def _extract(
    body: bytes, url: str, content_type: str | None
) -> tuple[str | None, str | None, float]:
    """In a worker thread: (text, error, CPU seconds of this thread)."""
    started = time.thread_time()
    got = extract_main_text(body, url=url, content_type=content_type)
    return got.text, got.error, time.thread_time() - started
