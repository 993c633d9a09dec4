"""The long-running daemon: one ticker for feed polls, APScheduler jobs for digests, signals.

Each feed's next poll time (the one the pipeline stored, so the schedule lives in the database
and survives restarts) waits in one queue, served by one event-loop timer (the ticker): it
starts every poll that is due, then waits for the next due time, but at least ``TICK_SECONDS``
after its last start, so that feeds due close together start together and share the loop's
wake-ups and the fetch threads' hand-offs (a poll on its own paid ~0.3 ms of CPU for those: more
than a 304 in a cycle). A poll starts at most ``TICK_SECONDS`` late, never early. (Feed polls
were APScheduler date jobs, then a timer per feed: adding the job again after each poll cost
~0.6 ms of CPU; the periodic and cron jobs stay with APScheduler.) SIGTERM/SIGINT stop taking
work, give in-flight polls a short grace period, cancel the rest (a cancelled poll writes nothing:
its transaction never started) and exit 0. SIGHUP reloads the rules.

Delivery runs in its own thread (sending blocks), one run at a time, driven by requests that are
never lost: the outbox timer every ``OUTBOX_SECONDS``, a poll that stored matches (so an alert goes
out within the cycle that found it, even when a delivery run was busy at that moment), and each
digest subscription's cron job in its time zone. The first run comes at once, or, when a feed is
due at start, once that poll is done (at most ``FIRST_DELIVERY_SECONDS`` later): it puts back
what a crash left ``sending`` and makes the digests whose time passed while the daemon was down.

A stop lets the message in flight finish and be recorded, sends nothing more, and only then
closes the store. A channel that hangs longer than ``delivery.stop_grace`` is abandoned: its
delivery stays ``sending`` and is sent again at the next start (the documented window of
``delivery.outbox``). The delivery thread is a daemon thread, so an abandoned send never keeps the
process from exiting.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app.health import HealthServer
from monitor.app.pipeline import StateBatch, policy_for
from monitor.app.service import Service
from monitor.app.webview import EmbeddedWeb
from monitor.ingest.schedule import initial_schedule
from monitor.ingest.workers import InlineParser, ProcessParser
from monitor.logs import event
from monitor.model import UTC, Feed, FeedState, InstanceRecord
from monitor.web.security import Credentials

if TYPE_CHECKING:
    from monitor.store.wakeups import DueListener

log = logging.getLogger("monitor.daemon")

GRACE_SECONDS = 3.0
"""How long a stop waits for in-flight polls before cancelling them."""
SEND_GRACE_SECONDS = 10.0
"""How long a stop waits for the message in flight (``delivery.stop_grace`` in the settings)."""
RULES_CHECK_SECONDS = 30
TICK_SECONDS = 0.25
"""Polls due within this of the ticker's last start wait for its next: they start together."""
STATE_WRITE_SECONDS = 1.0
"""How long the states of 304 polls wait to be written together (not leased; see _batch)."""
PRUNE_HOURS = 6
OUTBOX_SECONDS = 15
FIRST_DELIVERY_SECONDS = 1.0
"""The first delivery run waits for a poll due at start, but no longer than this."""

ROLES = ("all", "poll", "send")
"""``monitor run --role``: poll feeds, send deliveries, or both."""

T = TypeVar("T")
EVERYTHING = ""
"""A delivery request for alerts, every due digest, and sending (else: one digest subscription)."""


class Daemon:
    def __init__(
        self,
        service: Service,
        *,
        grace: float = GRACE_SECONDS,
        send_grace: float = SEND_GRACE_SECONDS,
        stopped_early: Sequence[signal.Signals] = (),
        role: str = "all",
        web_credentials: Credentials | None = None,
    ) -> None:
        """``web_credentials``: who may use the web view (``web.enabled``), from the
        environment, checked at start (``monitor.app.webview.web_credentials``)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        self.service = service
        self.role = role
        # On PostgreSQL feeds are polled under leases (several instances share them); the id
        # names this process in the ``instances`` and ``feed_leases`` tables.
        self.leased = service.leased
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._claimer: asyncio.Task[None] | None = None
        self._listener: DueListener | None = None
        self._stopped_early = stopped_early
        self.grace = grace
        self.send_grace = send_grace
        self.stopping = asyncio.Event()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._inflight: set[asyncio.Task[Any]] = set()
        # Leased polls queued for a fetch slot (claimed, not started): cancelled at once by a stop.
        self._queued: set[asyncio.Task[Any]] = set()
        self._poll_done = asyncio.Event()
        """Set as each leased poll ends: the claim loop refills its batch."""
        self._fetch_slots = asyncio.Semaphore(service.settings.fetch.concurrency)
        self._due: list[tuple[float, int, Feed]] = []
        """Not leased: (loop time, order, feed) of each feed's next poll, earliest first; an
        entry whose time is no longer the feed's in ``_when`` is stale and skipped."""
        self._when: dict[str, float] = {}
        """Feed URL -> the loop time of its next poll (absent: its poll runs now)."""
        self._order = 0
        self._ticker: asyncio.TimerHandle | None = None
        self._last_tick = float("-inf")
        self._states: dict[str, FeedState] = {}
        """Not leased (SQLite: this process is the only one writing the store, see
        ``monitor.app.instance``): each feed's state as its last poll wrote it, so that a poll
        does not read it back first. Leased feeds are polled by other instances too: read."""
        self._batch: StateBatch | None = None if self.leased else StateBatch()
        """Not leased: the states of 304 polls, written together every STATE_WRITE_SECONDS
        (and at a stop). A crash loses at most that second's: those feeds are polled again
        with their previous state (a 304 again). Leased polls write at once: the lease is
        completed after the poll's write."""
        self._batch_timer: asyncio.TimerHandle | None = None
        self._health: HealthServer | None = None
        self._web: EmbeddedWeb | None = None
        self._web_credentials = web_credentials or Credentials()
        # Delivery requests: EVERYTHING or a digest subscription's name. One loop serves them in
        # a thread, one run at a time (keeps the sends in order); a request made while a run is
        # busy is served right after it, never dropped.
        self._wanted: set[str] = set()
        self._wake = asyncio.Event()
        self._delivery_loop: asyncio.Task[None] | None = None
        self._threads: set[asyncio.Future[Any]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._first_delivery: asyncio.TimerHandle | None = None
        self._first_poll_due = False
        # Polls parse inline until the worker processes are up; they start after the first
        # poll, in a thread (their start-up would otherwise delay the first poll by a second).
        self._inline: InlineParser | None = (
            InlineParser() if isinstance(service.parser, ProcessParser) else None
        )
        self._pool_starting = False

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()
        self._poll_done.set()
        if self._listener is not None:
            self._listener.wake()

    async def run(self) -> int:
        svc = self.service
        loop = asyncio.get_running_loop()
        self.scheduler.configure(event_loop=loop)
        now = svc.clock()
        states = svc.storage.feed_states()
        if not self.leased:
            self._states = dict(states)
        plan = initial_schedule(
            {f.url: (s.next_poll if (s := states.get(f.url)) else None) for f in svc.feeds},
            {f.url: policy_for(f) for f in svc.feeds},
            now,
            svc.rng,
        )
        polls = self.role in ("all", "poll")
        if self.leased:
            # Leases replace the per-feed jobs: the due times live in ``feed_leases``.
            svc.storage.sync_leases((f.url for f in svc.feeds), now)
            # A ``send`` instance only beats (so that it is visible); it claims nothing.
            self._claimer = loop.create_task(self._claim_loop(now, claim=polls), name="claim")
        elif polls:
            for feed in svc.feeds:
                self._schedule(feed, plan[feed.url])
        self._first_poll_due = polls and any(when <= now for when in plan.values())
        self.scheduler.add_job(
            self._threaded(svc.prune), IntervalTrigger(hours=PRUNE_HOURS), id="prune"
        )
        self.scheduler.add_job(
            self._threaded(svc.rules.reload_if_changed),
            IntervalTrigger(seconds=RULES_CHECK_SECONDS),
            id="rules-reload",
        )
        self._schedule_delivery(loop)
        self._install_signals(loop)
        if self._stopped_early:
            self._on_stop_signal(self._stopped_early[0])
        self._start_health()
        await self._start_web(loop)
        self.scheduler.start()
        first = min(plan.values(), default=None)
        event(
            log,
            "daemon.started",
            feeds=len(svc.feeds),
            first_poll=first,
            subscriptions=len(svc.settings.subscriptions) or None,
        )
        await self.stopping.wait()
        await self._shutdown()
        return 0

    async def _claim_loop(self, started: datetime, *, claim: bool = True) -> None:
        """Claim due feeds in batches, poll each, complete its lease with its next due time.

        Every ``instances.heartbeat`` this instance refreshes its heartbeat (renewing its
        leases); it claims up to ``instances.batch`` minus its polls in flight or queued at
        each heartbeat, at a notice (``instances.wakeup``), and, after a full batch, as soon as
        half a batch of polls has finished (throughput is not bounded by batch / heartbeat)."""
        svc = self.service
        cfg = svc.settings.instances
        feeds = {f.url: f for f in svc.feeds}
        record = InstanceRecord(
            self.instance_id, socket.gethostname(), os.getpid(), self.role, started, started
        )
        if claim and cfg.wakeup == "notify":
            self._listener = svc.storage.due_listener()
        try:
            await self._claim_until_stopped(record, feeds, claim=claim)
        finally:
            if self._listener is not None:
                await self._listener.aclose()

    async def _claim_until_stopped(
        self, record: InstanceRecord, feeds: dict[str, Feed], *, claim: bool
    ) -> None:
        svc = self.service
        cfg = svc.settings.instances
        beat = cfg.heartbeat.total_seconds()
        last_beat: datetime | None = None
        while not self.stopping.is_set():
            now = svc.clock()
            room = cfg.batch - len(self._inflight) - len(self._queued)
            claimed: list[str] = []
            try:
                if last_beat is None or now - last_beat >= cfg.heartbeat:
                    # Renewing keeps the leases of feeds still queued behind fetch limits; a
                    # dead instance stops renewing, and its feeds are free ``lease`` after its
                    # last beat.
                    svc.storage.heartbeat(
                        InstanceRecord(**{**_fields(record), "heartbeat": now}),
                        renew_until=now + cfg.lease,
                    )
                    last_beat = now
                if claim and room > 0:
                    claimed = svc.storage.claim_feeds(
                        self.instance_id, now, lease=cfg.lease, limit=room
                    )
            except Exception:
                log.exception("claim failed", extra={"monitor_kv": {"id": self.instance_id}})
            for url in claimed:
                feed = feeds.get(url)
                if feed is None:  # configured in another instance only: leave it to that one
                    svc.storage.complete_lease(self.instance_id, url, now + cfg.lease)
                    continue
                task = asyncio.get_running_loop().create_task(self._poll_job(feed))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            if claimed and len(claimed) == room:
                # A full batch: more may be due. Claim again once half a batch of polls has
                # finished (not one claim per finished poll), or at the heartbeat.
                await asyncio.sleep(0)
                await self._wait_for_room(max(1, cfg.batch // 2), beat)
                continue
            if self._listener is not None:
                # A notice (feeds made due now elsewhere) or the heartbeat, whichever first.
                await self._listener.wait(beat)
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), beat)

    async def _wait_for_room(self, need: int, timeout: float) -> None:
        """Until ``need`` of the batch's polls have finished, a stop, or ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        batch = self.service.settings.instances.batch
        while not self.stopping.is_set():
            if batch - len(self._inflight) - len(self._queued) >= need:
                return
            left = deadline - loop.time()
            if left <= 0:
                return
            self._poll_done.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._poll_done.wait(), left)

    def _schedule_delivery(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.service.settings.subscriptions or self.role == "poll":
            return
        self._delivery_loop = loop.create_task(self._serve_deliveries(), name="delivery")
        # The first run (recover, catch up missed digests, send what waits) can wait for the
        # first poll: that is what someone who just started the daemon waits for.
        wait = FIRST_DELIVERY_SECONDS if self._first_poll_due else 0.0
        self._first_delivery = loop.call_later(wait, self._request_delivery)

        async def outbox() -> None:
            self._request_delivery()

        self.scheduler.add_job(
            outbox,
            IntervalTrigger(seconds=OUTBOX_SECONDS),
            id="outbox",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        for sub in self.service.settings.subscriptions:
            if sub.mode != "digest":
                continue
            assert sub.schedule is not None

            async def digest_job(name: str = sub.name) -> None:
                self._request_delivery(name)

            self.scheduler.add_job(
                digest_job,
                CronTrigger.from_crontab(sub.schedule, timezone=ZoneInfo(sub.timezone)),
                id=f"digest:{sub.name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )

    def _request_delivery(self, what: str = EVERYTHING) -> None:
        """Ask for a delivery run (in the event loop's thread); served soon, never dropped."""
        if self._delivery_loop is None or self.stopping.is_set():
            return
        if self._first_delivery is not None:
            self._first_delivery.cancel()
            self._first_delivery = None
            self._wanted.add(EVERYTHING)
        self._wanted.add(what)
        self._wake.set()

    async def _serve_deliveries(self) -> None:
        while not self.stopping.is_set():
            await self._wake.wait()
            self._wake.clear()
            wanted, self._wanted = self._wanted, set()
            for what in sorted(wanted):  # EVERYTHING ("") first
                if self.stopping.is_set():
                    return
                await self._in_thread(self._guard(partial(self._deliver, what or None)))

    def _deliver(self, only: str | None = None) -> None:
        """Alerts, then digests that are due (``only``: that subscription's), then sending.

        Runs in the delivery thread. ``stopping`` is checked before each message: a stop lets
        the one in flight finish and be recorded."""
        if self.stopping.is_set():
            return
        deliverer = self.service.deliverer
        deliverer.enqueue_alerts()
        deliverer.make_digests(only=only)
        deliverer.send_due(stop=self.stopping.is_set)
        self.service.health()  # refreshes the delivery gauges

    def _deliver_soon(self) -> None:
        self._request_delivery()

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a new daemon thread: a stop waits for it (bounded), exit never does."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()

        def settle(result: T | None, error: BaseException | None) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)  # type: ignore[arg-type]

        def target() -> None:
            result: T | None = None
            error: BaseException | None = None
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting coroutine
                error = exc
            with suppress(RuntimeError):  # the loop is gone: the process is exiting
                loop.call_soon_threadsafe(settle, result, error)

        self._threads.add(done)
        done.add_done_callback(self._threads.discard)
        threading.Thread(target=target, name=getattr(fn, "__name__", "job"), daemon=True).start()
        return await asyncio.shield(done)

    def _threaded(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """A scheduler job that runs ``fn`` (guarded) in a thread a stop waits for."""
        guarded = self._guard(fn)

        async def job() -> None:
            if not self.stopping.is_set():
                await self._in_thread(guarded)

        job.__name__ = guarded.__name__
        return job

    def _schedule(self, feed: Feed, when: datetime) -> None:
        """Poll ``feed`` at ``when`` (at once if that has passed: a late poll is still wanted).
        One queue entry per feed, set again after each poll: never two polls of a feed at
        once."""
        loop = asyncio.get_running_loop()
        at = loop.time() + max(0.0, (when - self.service.clock()).total_seconds())
        self._when[feed.url] = at
        self._order += 1
        heapq.heappush(self._due, (at, self._order, feed))
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """The ticker for the earliest due poll, not sooner than TICK_SECONDS after the last."""
        due, when = self._due, self._when
        while due and when.get(due[0][2].url) != due[0][0]:
            heapq.heappop(due)  # stale: the feed was scheduled again, or is polling
        if not due:
            if self._ticker is not None:
                self._ticker.cancel()
                self._ticker = None
            return
        at = max(due[0][0], self._last_tick + TICK_SECONDS)
        if self._ticker is not None:
            if self._ticker.when() <= at:
                return  # fires in time; it arms again for what is left
            self._ticker.cancel()
        self._ticker = loop.call_at(at, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start every poll that is due now, then arm the ticker for the next."""
        self._ticker = None
        if self.stopping.is_set():
            return
        now = self._last_tick = loop.time()
        due, when = self._due, self._when
        while due and due[0][0] <= now:
            at, _, feed = heapq.heappop(due)
            if when.get(feed.url) == at:
                del when[feed.url]
                self._start_poll(feed, min(now - at, TICK_SECONDS))
        self._arm(loop)

    def _write_states(self) -> None:
        """The held-back 304 states, in one transaction; a feed whose own write then fails
        is recorded as failed, its state read again at its next poll."""
        self._batch_timer = None
        batch = self._batch
        if batch is None or not batch.rows:
            return
        feeds = {row.feed.url: row.feed for row in batch.rows}
        self.service.pipeline.write_states(batch)
        failed, batch.failed = batch.failed, {}
        for url, report in failed.items():
            self._states.pop(url, None)
            self.service.record(report)
            if url in self._when and report.next_poll is not None:
                self._schedule(feeds[url], report.next_poll)

    def _start_poll(self, feed: Feed, late: float = 0.0) -> None:
        if self.stopping.is_set():
            return
        task = asyncio.get_running_loop().create_task(self._poll_job(feed, late), name="poll")
        self._background.add(task)  # a strong reference while it runs
        task.add_done_callback(self._background.discard)

    async def _poll_job(self, feed: Feed, late: float = 0.0) -> None:
        """``late``: seconds the ticker started this poll after its time (<= TICK_SECONDS)."""
        if self.stopping.is_set():
            return
        started = self.service.clock()
        task = asyncio.current_task()
        assert task is not None
        lease = self.instance_id if self.leased else None
        if lease is not None:
            # A claimed feed waits here for a fetch slot, not inside the fetcher: a stop cancels
            # the waiting ones at once and releases their leases (another instance takes them
            # now), while the polls in flight get their grace period.
            self._queued.add(task)
            try:
                await self._fetch_slots.acquire()
            except asyncio.CancelledError:
                self._poll_done.set()
                return
            finally:
                self._queued.discard(task)
        self._inflight.add(task)
        try:
            if lease is not None:
                report = await self.service.poll(feed, parser=self._inline, lease=lease)
            else:
                known = self._states.pop(feed.url, None)
                report = await self.service.poll(
                    feed, parser=self._inline, state=known, batch=self._batch
                )
                if self._batch is not None and self._batch.rows and self._batch_timer is None:
                    self._batch_timer = asyncio.get_running_loop().call_later(
                        STATE_WRITE_SECONDS, self._write_states
                    )
        except asyncio.CancelledError:
            # Only shutdown cancels a poll. Nothing of it was written (the store's transaction
            # starts after the fetch), so the feed is simply due again at the next start.
            event(log, "poll.abandoned", level=logging.WARNING, feed=feed.url)
            return
        except Exception:
            # A bug must not end this feed's polling for good: log it, retry later.
            log.exception("poll crashed", extra={"monitor_kv": {"feed": feed.url}})
            report = None
        finally:
            self._inflight.discard(task)
            if lease is not None:
                self._fetch_slots.release()
                self._poll_done.set()
        if lease is not None and not (report is not None and report.lease_done):
            # The poll's write did not complete the lease (it crashed, or the database refused
            # the write): complete it here, also during a stop, so the feed is not polled again
            # before its time. Normally the poll's own transaction did it (a crash cannot
            # separate the two).
            now = self.service.clock()
            due = report.next_poll if report and report.next_poll else now + feed.interval
            due = max(due, now + timedelta(seconds=1))
            with suppress(Exception):
                if not self.service.storage.complete_lease(self.instance_id, feed.url, due):
                    event(log, "lease.lost", level=logging.WARNING, feed=feed.url)
        if report is not None and report.state is not None and not self.leased:
            self._states[feed.url] = report.state
        if self.stopping.is_set():
            return
        self._start_parse_workers()
        if self._first_delivery is not None or (report is not None and report.matches):
            self._deliver_soon()  # an alert goes out within the cycle that found its match
        if lease is not None:
            return
        when = report.next_poll if report and report.next_poll else None
        if when is None:
            when = self.service.clock() + feed.interval
        if late > 0:
            # Started late to start with others: the next poll keeps the feed's rhythm (due
            # as if this one had been on time), never sooner than min_interval after it.
            when = max(when - timedelta(seconds=late), started + feed.min_interval)
        when = max(when, self.service.clock() + timedelta(seconds=1))
        self._schedule(feed, when)

    def _start_parse_workers(self) -> None:
        parser = self.service.parser
        if self._inline is None or self._pool_starting or not isinstance(parser, ProcessParser):
            return
        self._pool_starting = True

        async def start() -> None:
            try:
                await self._in_thread(lambda: parser.start(wait=True))
            except Exception as exc:  # polls keep parsing inline; the log says why
                event(log, "parse_workers.failed", level=logging.ERROR, error=repr(exc))
                return
            self._inline = None
            event(log, "parse_workers.started", workers=parser.workers, level=logging.DEBUG)

        task = asyncio.get_running_loop().create_task(start(), name="parse-workers")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _guard(self, fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("background job failed", extra={"monitor_kv": {"job": name}})

        inner = fn.func if isinstance(fn, partial) else fn
        name = str(getattr(inner, "__name__", "job"))
        run.__name__ = name
        return run

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(
            signal.SIGHUP, lambda: self.service.rules.reload_if_changed(force=True)
        )

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        event(
            log,
            "daemon.stopping",
            signal=sig.name,
            inflight=len(self._inflight),
            background=len(self._threads) or None,
        )
        self.stop()

    def _start_health(self) -> None:
        http = self.service.settings.http
        if not http.enabled:
            return
        self._health = HealthServer(http.host, http.port, self.service.metrics, self.service.health)
        self._health.start()
        host, port = self._health.address
        event(log, "http.listening", url=f"http://{host}:{port}/")

    async def _start_web(self, loop: asyncio.AbstractEventLoop) -> None:
        """The web view on the daemon's loop and store: a retried delivery goes out at once,
        a saved rule file is reloaded at once (else: the outbox timer, the rule check)."""
        web = self.service.settings.web
        if not web.enabled:
            return
        from monitor.web.app import create_app

        svc = self.service

        def reload_rules() -> None:
            job = self._threaded(lambda: svc.rules.reload_if_changed(force=True))
            task = loop.create_task(job())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        app = create_app(
            svc.storage,
            now=svc.clock,
            credentials=self._web_credentials,
            rule_paths=svc.rules.paths,
            on_retry=lambda: self._soon(loop, self._request_delivery),
            on_rules_saved=lambda: self._soon(loop, reload_rules),
        )
        self._web = EmbeddedWeb(app, web.host, web.port)
        await self._web.start()
        host, port = self._web.address
        shown = f"[{host}]" if ":" in host else host
        event(log, "web.listening", url=f"http://{shown}:{port}/")

    @staticmethod
    def _soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
        loop.call_soon_threadsafe(fn)

    async def _shutdown(self) -> None:
        # Stop taking work first; shutting the scheduler down would cancel in-flight polls at once.
        self.scheduler.pause()
        if self._web is not None:
            await self._web.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self._due.clear()
        self._when.clear()
        if self._first_delivery is not None:
            self._first_delivery.cancel()
        if self._claimer is not None:
            await asyncio.gather(self._claimer, return_exceptions=True)
        queued = list(self._queued)
        for task in queued:  # claimed but not started: their leases go back below
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
        await asyncio.gather(self._finish_polls(), self._finish_threads())
        if self._batch_timer is not None:
            self._batch_timer.cancel()
        self._write_states()  # before the store closes
        self.scheduler.shutdown(wait=False)
        if self.leased:
            # Leases go back at once (not at expiry): other instances take the feeds now.
            with suppress(Exception):
                released = self.service.storage.retire_instance(self.instance_id)
                event(log, "leases.released", leases=released, id=self.instance_id)
        if self._health is not None:
            self._health.stop()
        event(log, "daemon.stopped")
        # Only now does ``run_daemon`` close the store: nothing that was let finish runs on.

    async def _finish_polls(self) -> None:
        if not self._inflight:
            return
        _done, pending = await asyncio.wait(set(self._inflight), timeout=self.grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            event(log, "daemon.abandoned", polls=len(pending))

    async def _finish_threads(self) -> None:
        """The delivery run (it stops after the message in flight), prune, rules reload."""
        if self._delivery_loop is not None:
            _done, late = await asyncio.wait({self._delivery_loop}, timeout=self.send_grace)
            if late:
                self._delivery_loop.cancel()
                event(
                    log,
                    "daemon.abandoned",
                    level=logging.WARNING,
                    delivery="the channel did not answer within the grace period",
                    seconds=self.send_grace,
                    note="the message in flight stays sending and goes again at the next start "
                    "(at most one repeat, under the same key)",
                )
        if self._threads:
            await asyncio.wait(set(self._threads), timeout=self.grace)


def _fields(record: InstanceRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in InstanceRecord.__slots__}


async def run_daemon(
    service: Service,
    stopped_early: Sequence[signal.Signals] = (),
    role: str = "all",
    web_credentials: Credentials | None = None,
) -> int:
    """``stopped_early``: stop signals that arrived during start-up (the daemon stops at once)."""
    send_grace = service.settings.delivery.stop_grace.total_seconds()
    async with service:
        daemon = Daemon(
            service,
            send_grace=send_grace,
            stopped_early=stopped_early,
            role=role,
            web_credentials=web_credentials,
        )
        return await daemon.run()
