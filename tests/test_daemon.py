"""`monitor run` as a real process: polls on schedule, serves /healthz and /metrics, stops
cleanly on SIGTERM (also mid-fetch), and a restart neither re-polls early nor ingests twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.store import open_storage
from tests.fixtures.feed_server import FeedServer
from tests.support import free_port, wait_for


class Daemon:
    def __init__(self, cwd: Path, config: Path) -> None:
        self.log = cwd / "daemon.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(config), "run"],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
            env={**os.environ, "NO_PROXY": "*"},
        )

    def text(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - started


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[[str], Daemon]]:
    started: list[Daemon] = []

    def start(config_text: str) -> Daemon:
        cfg = tmp_path / "monitor.yaml"
        cfg.write_text(config_text, encoding="utf-8")
        d = Daemon(tmp_path, cfg)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def entry_count(db: Path) -> int:
    store = open_storage(f"sqlite:///{db}")
    try:
        return sum(store.entry_counts().values())
    finally:
        store.close()


def test_daemon_polls_serves_health_and_stops_on_sigterm(
    tmp_path: Path, feed_server: FeedServer, start_daemon: Callable[[str], Daemon]
) -> None:
    port = free_port()
    d = start_daemon(
        f"""
database: sqlite:///{tmp_path / "m.db"}
defaults: {{interval: 1s, min_interval: 1s}}
http: {{enabled: true, port: {port}}}
feeds:
  - {feed_server.url("/feed.xml")}
  - {feed_server.url("/atom.xml")}
  - {feed_server.url("/status/500")}
"""
    )
    base = f"http://127.0.0.1:{port}"

    def polled_twice() -> bool:
        return len(feed_server.requests_for("/feed.xml")) >= 2

    wait_for(polled_twice)
    with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
        health = json.load(r)
    assert health["ok"] is True and health["feeds"] == 3 and health["feeds_failing"] == 1
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        metrics = r.read().decode()
    assert 'monitor_polls_total{status="ok"}' in metrics
    assert "monitor_feed_last_success_timestamp_seconds" in metrics
    # Later polls (304 / unchanged body) add no entries.
    count = entry_count(tmp_path / "m.db")
    assert count >= 3
    polls = len(feed_server.requests_for("/feed.xml"))
    wait_for(lambda: len(feed_server.requests_for("/feed.xml")) > polls + 1)
    assert entry_count(tmp_path / "m.db") == count

    code, seconds = d.stop()
    assert code == 0 and seconds < 5
    log = d.text()
    assert "daemon.stopped" in log and "Traceback" not in log
    assert "status=not_modified" in log and "status=error" in log


def test_sigterm_during_a_hanging_fetch_exits_quickly(
    tmp_path: Path, feed_server: FeedServer, start_daemon: Callable[[str], Daemon]
) -> None:
    d = start_daemon(
        f"""
database: sqlite:///{tmp_path / "m.db"}
fetch: {{read_timeout: 60s, total_timeout: 60s}}
feeds: [{feed_server.url("/hang")}]
"""
    )
    wait_for(lambda: bool(feed_server.requests_for("/hang")))
    code, seconds = d.stop()
    assert code == 0 and seconds < 8
    assert "daemon.abandoned" in d.text()


def test_restart_keeps_the_schedule_and_ingests_nothing_twice(
    tmp_path: Path, feed_server: FeedServer, start_daemon: Callable[[str], Daemon]
) -> None:
    config = f"""
database: sqlite:///{tmp_path / "m.db"}
defaults: {{interval: 1h}}
feeds: [{feed_server.url("/feed.xml")}]
"""
    first = start_daemon(config)
    wait_for(lambda: bool(feed_server.requests_for("/feed.xml")))
    wait_for(lambda: "status=ok" in first.text())
    assert first.stop()[0] == 0
    assert entry_count(tmp_path / "m.db") == 2

    second = start_daemon(config)
    wait_for(lambda: "daemon.started" in second.text())
    time.sleep(1.5)
    # The stored next poll is an hour away: a restart does not poll again now.
    assert len(feed_server.requests_for("/feed.xml")) == 1
    assert second.stop()[0] == 0
    assert entry_count(tmp_path / "m.db") == 2


def test_kill_9_leaves_a_consistent_database(
    tmp_path: Path, feed_server: FeedServer, start_daemon: Callable[[str], Daemon]
) -> None:
    config = f"""
database: sqlite:///{tmp_path / "m.db"}
defaults: {{interval: 1s, min_interval: 1s}}
feeds: [{feed_server.url("/feed.xml")}, {feed_server.url("/atom.xml")}]
"""
    d = start_daemon(config)
    wait_for(lambda: len(feed_server.requests_for("/feed.xml")) >= 2)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(5)
    count = entry_count(tmp_path / "m.db")
    again = start_daemon(config)
    wait_for(lambda: again.text().count("status=") >= 2)
    assert again.stop()[0] == 0
    assert entry_count(tmp_path / "m.db") == count


def test_daemon_on_the_offline_example_sends_a_first_digest(tmp_path: Path) -> None:
    """No config: the bundled example. The first poll's matches make the first digest at once
    (later ones follow the cron schedule)."""
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        wait_for(lambda: any((tmp_path / "outbox").glob("digest-morgen-*.eml")), timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    [eml] = (tmp_path / "outbox").glob("digest-morgen-*.eml")
    assert "Subject:" in eml.read_text(encoding="utf-8")
    assert "delivery.sent" in log.read_text()


def test_held_back_304_states_are_written_by_a_stop(
    tmp_path: Path, feed_server: FeedServer, start_daemon: Callable[[str], Daemon]
) -> None:
    db = tmp_path / "m.db"
    d = start_daemon(
        f"""
database: sqlite:///{db}
defaults: {{interval: 1s, min_interval: 1s}}
feeds: [{feed_server.url("/feed.xml")}]
"""
    )
    wait_for(lambda: d.text().count("status=not_modified") >= 2, timeout=30)
    assert d.stop()[0] == 0
    last = [line for line in d.text().splitlines() if "status=not_modified" in line][-1]
    store = open_storage(f"sqlite:///{db}")
    try:
        state = store.feed_state(feed_server.url("/feed.xml"))
    finally:
        store.close()
    # The last 304's state, held back for its one-second batch, was written at the stop.
    assert state is not None and state.next_poll is not None and state.error_count == 0
    assert f"next_poll={state.next_poll:%Y-%m-%dT%H:%M:%SZ}" in last, last
