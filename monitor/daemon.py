"""The long-running daemon: APScheduler 3 timers per feed and per digest, signals, health endpoint.

Each feed is one date-triggered job that reschedules itself to the next poll time the pipeline
stored, so the schedule lives in the database and survives restarts. SIGTERM/SIGINT stop taking
work, give in-flight polls a short grace period, cancel the rest (a cancelled poll writes nothing:
its transaction never started) and exit 0. SIGHUP reloads the rules.

Delivery runs in a worker thread (sending blocks): the outbox job every ``OUTBOX_SECONDS`` (and at
once after a poll that stored matches) makes alerts and sends what is due; each digest subscription
has a cron job in its time zone. At start the outbox job runs at once: it puts back what a crash
left ``sending`` and makes the digests whose time passed while the daemon was down. A stop lets
the message in flight finish (and be recorded), then sends nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.health import HealthServer
from monitor.logs import event
from monitor.model import UTC, Feed
from monitor.pipeline import policy_for
from monitor.schedule import initial_schedule
from monitor.service import Service

log = logging.getLogger("monitor.daemon")

GRACE_SECONDS = 3.0
RULES_CHECK_SECONDS = 30
PRUNE_HOURS = 6
OUTBOX_SECONDS = 15


class Daemon:
    def __init__(self, service: Service, *, grace: float = GRACE_SECONDS) -> None:
        self.service = service
        self.grace = grace
        self.stopping = asyncio.Event()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._inflight: set[asyncio.Task[Any]] = set()
        self._health: HealthServer | None = None
        # Delivery jobs run in worker threads; one at a time keeps the sends in order.
        self._delivering = threading.Lock()

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> int:
        svc = self.service
        loop = asyncio.get_running_loop()
        self.scheduler.configure(event_loop=loop)
        now = svc.clock()
        states = svc.storage.feed_states()
        plan = initial_schedule(
            {f.url: (s.next_poll if (s := states.get(f.url)) else None) for f in svc.feeds},
            {f.url: policy_for(f) for f in svc.feeds},
            now,
            svc.rng,
        )
        for feed in svc.feeds:
            self._schedule(feed, plan[feed.url])
        self.scheduler.add_job(
            self._guard(svc.prune), IntervalTrigger(hours=PRUNE_HOURS), id="prune"
        )
        self.scheduler.add_job(
            self._guard(svc.rules.reload_if_changed),
            IntervalTrigger(seconds=RULES_CHECK_SECONDS),
            id="rules-reload",
        )
        self._schedule_delivery(now)
        self._install_signals(loop)
        self._start_health()
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

    def _schedule_delivery(self, now: datetime) -> None:
        if not self.service.settings.subscriptions:
            return
        self.scheduler.add_job(
            self._guard(self._deliver),
            IntervalTrigger(seconds=OUTBOX_SECONDS),
            id="outbox",
            next_run_time=now,  # at once: recover, catch up missed digests, send what waits
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        for sub in self.service.deliverer.digest_subscriptions():
            assert sub.schedule is not None
            name = sub.name

            def digest_job(name: str = name) -> None:
                self._deliver(only=name)

            digest_job.__name__ = f"digest:{name}"
            self.scheduler.add_job(
                self._guard(digest_job),
                CronTrigger.from_crontab(sub.schedule, timezone=ZoneInfo(sub.timezone)),
                id=f"digest:{name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )

    def _deliver(self, only: str | None = None) -> None:
        """Alerts, then digests that are due (``only``: that subscription's), then sending."""
        with self._delivering:
            if self.stopping.is_set():
                return
            deliverer = self.service.deliverer
            deliverer.enqueue_alerts()
            deliverer.make_digests(only=only)
            deliverer.send_due(stop=self.stopping.is_set)
            self.service.health()  # refreshes the delivery gauges

    def _wait_for_delivery(self) -> None:
        if self._delivering.acquire(timeout=self.grace):
            self._delivering.release()

    def _deliver_soon(self) -> None:
        if self.scheduler.get_job("outbox") is not None:
            self.scheduler.modify_job("outbox", next_run_time=self.service.clock())

    def _schedule(self, feed: Feed, when: datetime) -> None:
        self.scheduler.add_job(
            self._poll_job,
            DateTrigger(run_date=when),
            args=[feed],
            id=f"feed:{feed.url}",
            replace_existing=True,
            misfire_grace_time=None,  # a late poll is still wanted
            coalesce=True,
            max_instances=1,
        )

    async def _poll_job(self, feed: Feed) -> None:
        if self.stopping.is_set():
            return
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            report = await self.service.poll(feed)
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
        if self.stopping.is_set():
            return
        if report is not None and report.matches:
            self._deliver_soon()  # an alert goes out within the cycle that found its match
        when = report.next_poll if report and report.next_poll else None
        if when is None:
            when = self.service.clock() + feed.interval
        self._schedule(feed, max(when, self.service.clock() + timedelta(seconds=1)))

    def _guard(self, fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("background job failed", extra={"monitor_kv": {"job": fn.__name__}})

        run.__name__ = getattr(fn, "__name__", "job")
        return run

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(
            signal.SIGHUP, lambda: self.service.rules.reload_if_changed(force=True)
        )

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        event(log, "daemon.stopping", signal=sig.name, inflight=len(self._inflight))
        self.stopping.set()

    def _start_health(self) -> None:
        http = self.service.settings.http
        if not http.enabled:
            return
        self._health = HealthServer(http.host, http.port, self.service.metrics, self.service.health)
        self._health.start()
        host, port = self._health.address
        event(log, "http.listening", url=f"http://{host}:{port}/")

    async def _shutdown(self) -> None:
        # Stop taking work first; shutting the scheduler down would cancel in-flight polls at once.
        self.scheduler.pause()
        if self._inflight:
            _done, pending = await asyncio.wait(set(self._inflight), timeout=self.grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                event(log, "daemon.abandoned", polls=len(pending))
        # A delivery run in a worker thread stops between messages once `stopping` is set: let
        # it finish, so that the store is not closed under it (a "storage is closed" traceback).
        await asyncio.to_thread(self._wait_for_delivery)
        await asyncio.sleep(0)  # let the scheduler see its job end
        self.scheduler.shutdown(wait=False)
        if self._health is not None:
            self._health.stop()
        event(log, "daemon.stopped")


async def run_daemon(service: Service) -> int:
    async with service:
        return await Daemon(service).run()
