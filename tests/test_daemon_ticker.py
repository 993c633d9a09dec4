"""The daemon's one ticker for feed polls (not leased): polls due close together start together,
none starts before its time nor more than ``TICK_SECONDS`` after it, a feed scheduled again
polls once, and a poll started late keeps its feed's rhythm (never below min_interval)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app.daemon import TICK_SECONDS, Daemon
from monitor.app.pipeline import PollReport
from monitor.app.service import Service
from monitor.config.settings import Settings
from monitor.model import UTC, Feed


def _settings(tmp_path: Path, feeds: int) -> Settings:
    return Settings.model_validate(
        {
            "database": f"sqlite:///{tmp_path / 'm.db'}",
            "parse_workers": 0,
            "defaults": {"interval": "10s", "min_interval": "2s"},
            "feeds": [f"http://127.0.0.1:9/feed{i}.xml" for i in range(feeds)],
        }
    )


def test_polls_due_close_together_start_together_and_never_early(tmp_path: Path) -> None:
    offsets = [0.0, 0.05, 0.10, 0.30, 0.32, 1.0]
    started: list[tuple[str, float, float]] = []  # (url, loop time, late as reported)
    svc = Service(_settings(tmp_path, len(offsets)))

    async def go() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        daemon = Daemon(svc)

        def record(feed: Feed, late: float = 0.0) -> None:
            started.append((feed.url, loop.time(), late))

        daemon._start_poll = record  # type: ignore[method-assign]
        base_clock = svc.clock()
        base = loop.time()
        due = {}
        for feed, offset in zip(svc.feeds, offsets, strict=True):
            daemon._schedule(feed, base_clock + timedelta(seconds=offset))
            due[feed.url] = base + offset
        # Scheduled again before its time: polled once, at the new time.
        again = svc.feeds[3]
        daemon._schedule(again, base_clock + timedelta(seconds=0.6))
        due[again.url] = base + 0.6
        await asyncio.sleep(1.6)
        assert daemon._ticker is None and not daemon._when
        return due

    try:
        due = asyncio.run(go())
    finally:
        svc.close()
    assert sorted(url for url, _, _ in started) == sorted(due)  # each once
    for url, at, late in started:
        slack = 0.02  # reading the clock around a timer is not exact
        assert at >= due[url] - slack, (url, at, due[url])  # never early
        assert at - due[url] <= TICK_SECONDS + 0.2, (url, at, due[url])  # a loaded machine
        assert 0.0 <= late <= TICK_SECONDS
        assert abs(late - max(0.0, at - due[url])) < 0.05
    ticks: list[list[tuple[str, float, float]]] = []  # the polls one tick started
    for poll in sorted(started, key=lambda p: p[1]):
        if ticks and poll[1] - ticks[-1][0][1] < 0.01:
            ticks[-1].append(poll)
        else:
            ticks.append([poll])
    # 6 polls in 5 ticks (fewer if the machine is slow), at least TICK_SECONDS apart; the polls
    # due at +0.05 and +0.10 together.
    assert len(ticks) <= 5, ticks
    starts = [tick[0][1] for tick in ticks]
    assert all(b - a >= TICK_SECONDS - 1e-3 for a, b in itertools.pairwise(starts))
    assert {svc.feeds[1].url, svc.feeds[2].url} <= {url for url, _, _ in ticks[1]}


@pytest.mark.parametrize(
    ("late", "next_in", "expected_in"),
    [
        (0.0, 10.0, 10.0),  # on time: the pipeline's next poll
        (0.2, 10.0, 9.8),  # 0.2 s late: due as if it had been on time
        (0.2, 2.1, 2.0),  # but never sooner than min_interval after this poll started
    ],
)
def test_a_poll_started_late_keeps_the_feeds_rhythm(
    tmp_path: Path, late: float, next_in: float, expected_in: float
) -> None:
    t0 = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    svc = Service(_settings(tmp_path, 1), clock=lambda: t0)
    [feed] = svc.feeds
    scheduled: list[datetime] = []

    async def poll(feed: Feed, **_: Any) -> PollReport:
        return PollReport(feed.url, "not_modified", next_poll=t0 + timedelta(seconds=next_in))

    async def go() -> None:
        daemon = Daemon(svc)
        svc.poll = poll  # type: ignore[method-assign]

        def schedule(feed: Feed, when: datetime) -> None:
            scheduled.append(when)

        daemon._schedule = schedule  # type: ignore[method-assign]
        await daemon._poll_job(feed, late)

    try:
        asyncio.run(go())
    finally:
        svc.close()
    assert scheduled == [t0 + timedelta(seconds=expected_in)]
