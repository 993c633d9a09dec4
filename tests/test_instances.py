"""Several `monitor run` processes on one real PostgreSQL share the feeds through leases.

Three instances, 60 feeds on a loopback server, 2 s interval, 6 s lease (3 s flaked on a loaded
machine: a stalled heartbeat let a lease lapse mid-poll): every feed is polled about once per
interval across all of them (never twice within half an interval), SIGTERM
releases an instance's leases at once, and after ``kill -9`` its feeds come back within lease
expiry + one interval."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from tests.fixtures.feed_server import RSS, FeedServer, RequestHandler
from tests.fixtures.storage import postgres_schema_url, raw_execute
from tests.support import wait_for

pytestmark = pytest.mark.postgres

FEEDS = 60
INTERVAL = 2.0
LEASE = 6.0
ETAG = '"v1"'


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    with postgres_schema_url(postgres_url) as url:
        yield url


class Stamps:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: dict[str, list[float]] = defaultdict(list)

    def install(self, server: FeedServer, path: str) -> None:
        def handler(h: RequestHandler) -> None:
            with self.lock:
                self.at[path].append(time.monotonic())
            headers = h.headers
            if headers.get("If-None-Match") == ETAG:
                h.respond(304, b"", {"ETag": ETAG})
            else:
                h.respond(200, RSS, {"ETag": ETAG, "Content-Type": "application/rss+xml"})

        server.route(path, handler)

    def after(self, when: float) -> set[str]:
        with self.lock:
            return {p for p, ts in self.at.items() if any(t > when for t in ts)}

    def closest_gap(self) -> float:
        with self.lock:
            gaps = [b - a for ts in self.at.values() for a, b in itertools.pairwise(ts)]
        return min(gaps, default=INTERVAL)


def start(tmp_path: Path, config: Path, n: int, role: str = "poll") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(config), "run", "--role", role],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / f"i{n}.log").open("w"),
        env={**os.environ, "NO_PROXY": "*"},
    )


def owners(url: str) -> dict[str, int]:
    rows = raw_execute(
        url,
        "SELECT owner, count(*) FROM feed_leases WHERE owner IS NOT NULL GROUP BY owner",
    )
    return {r[0]: int(r[1]) for r in rows}


def test_three_instances_share_sixty_feeds_and_survive_sigterm_and_kill_9(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
) -> None:
    stamps = Stamps()
    paths = [f"/lease/{i:02d}.xml" for i in range(FEEDS)]
    for p in paths:
        stamps.install(feed_server, p)
    feeds = "\n".join(f"  - {feed_server.url(p)}" for p in paths)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""
database: "{pg_url}"
defaults: {{interval: 2s, min_interval: 1s}}
instances: {{lease: 6s, batch: 20, heartbeat: 250ms}}
fetch: {{per_host: 6}}  # 60 feeds on one host every 2 s: the shared limit (2) would bound them
http: {{enabled: true, port: 0}}
feeds:
{feeds}
""",
        encoding="utf-8",
    )
    procs = [start(tmp_path, config, n) for n in range(3)]
    sender = start(tmp_path, config, 3, role="send")  # visible, polls nothing
    try:
        wait_for(lambda: len(stamps.after(0)) == FEEDS, timeout=30)
        t0 = time.monotonic()
        time.sleep(3 * INTERVAL)
        window = time.monotonic() - t0
        # Once per interval across the three: a single instance would poll window/INTERVAL.
        with stamps.lock:
            counts = [sum(1 for t in ts if t > t0) for ts in stamps.at.values()]
        single = window / INTERVAL
        assert max(counts) <= single + 1.5, counts
        assert min(counts) >= single - 1.5, counts
        assert stamps.closest_gap() > INTERVAL / 2

        # `monitor status` shows the three, each with a fresh heartbeat.
        out = subprocess.run(
            [sys.executable, "-m", "monitor", "-c", str(config), "status", "--format", "json"],
            cwd=tmp_path,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
        shown = json.loads(out)["instances"]
        assert sorted(i["pid"] for i in shown) == sorted(p.pid for p in [*procs, sender])
        assert {i["role"] for i in shown} == {"poll", "send"}
        now = datetime.now(UTC)
        assert all(
            now - datetime.fromisoformat(i["heartbeat"]) < timedelta(seconds=5) for i in shown
        )

        # /metrics of any instance lists all three with their heartbeats.
        found = re.search(r"http.listening url=(\S+)", (tmp_path / "i2.log").read_text())
        assert found is not None
        with urllib.request.urlopen(found.group(1) + "metrics", timeout=10) as r:
            metrics = r.read().decode()
        assert metrics.count("monitor_instance_heartbeat_timestamp_seconds{") == 4
        assert metrics.count("monitor_instance_leases{") == 4

        # SIGTERM: the instance's leases are gone as soon as it has exited.
        term = procs[0]
        term.send_signal(signal.SIGTERM)
        assert term.wait(10) == 0
        assert not any(f":{term.pid}:" in owner for owner in owners(pg_url))
        assert not any(
            f":{term.pid}:" in r[0] for r in raw_execute(pg_url, "SELECT id FROM instances")
        )

        # kill -9: its feeds return within lease expiry + one interval.
        killed = procs[1]
        killed.kill()
        killed.wait(10)
        t_kill = time.monotonic()
        wait_for(lambda: len(stamps.after(t_kill)) == FEEDS, timeout=LEASE + INTERVAL + 3)
        back = time.monotonic() - t_kill
        assert back <= LEASE + INTERVAL + 3
        assert stamps.closest_gap() > INTERVAL / 2
        log = "".join((tmp_path / f"i{n}.log").read_text() for n in range(4))
        assert "Traceback" not in log
        assert "status=" not in (tmp_path / "i3.log").read_text()  # the sender polled nothing
        assert "status=not_modified" in log
    finally:
        for proc in [*procs, sender]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_three_full_instances_send_each_story_alert_once(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
) -> None:
    """Three `monitor run` (role all: each polls, enqueues and sends) on one PostgreSQL, eight
    feeds with one story each: eight alerts, each story in exactly one, none sent twice, also
    after further intervals of re-polls."""
    from tests.story_feeds import distinct_items, rss

    items = distinct_items(8)
    paths = [f"/alerts/{k}.xml" for k in range(len(items))]
    for path, (_, _, item) in zip(paths, items, strict=True):
        feed_server.add(path, rss([item]))
    out = tmp_path / "out"
    feeds = "\n".join(f"  - {feed_server.url(p)}" for p in paths)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""
database: "{pg_url}"
defaults: {{interval: 2s, min_interval: 1s}}
instances: {{lease: 6s, batch: 4, heartbeat: 250ms}}
channels:
  files: {{type: file, path: {out}, formats: [data]}}
subscriptions:
  - {{name: eil, channel: files, mode: alert, rules: [gallium-germanium]}}
feeds:
{feeds}
""",
        encoding="utf-8",
    )
    procs = [start(tmp_path, config, n, role="all") for n in range(3)]
    try:
        wait_for(lambda: len(list(out.glob("alert-eil-*.json"))) >= len(items), timeout=60)
        time.sleep(3 * INTERVAL)  # re-polls (304s) and delivery rounds of all three
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            assert p.wait(20) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    files = sorted(out.glob("alert-eil-*.json"))
    assert len(files) == len(items), [f.name for f in files]
    events = [re.findall(r"\((\d+)\)", f.read_text(encoding="utf-8")) for f in files]
    assert sorted(int(e[0]) for e in events) == list(range(len(items)))
    rows = raw_execute(pg_url, "SELECT state, count(*) FROM deliveries GROUP BY state")
    assert {r[0]: int(r[1]) for r in rows} == {"sent": len(items)}
    polled = {p: len(feed_server.requests_for(p)) for p in paths}
    assert all(n >= 2 for n in polled.values()), polled  # re-polled, not only the first poll
    log = "".join((tmp_path / f"i{n}.log").read_text() for n in range(3))
    assert "Traceback" not in log


def test_sigterm_hands_the_claimed_feeds_to_another_instance_at_once(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
) -> None:
    """A claims all 20 feeds (a 30 s lease) and polls them one at a time on a slow server; B
    waits with nothing to claim. SIGTERM A: the feeds A had not polled yet are B's within a
    few heartbeats, far before A's leases would have expired, and no feed is polled twice."""
    paths = [f"/term/{i:02d}.xml" for i in range(20)]

    def slow(h: RequestHandler) -> None:
        time.sleep(0.4)
        h.respond(200, RSS, {"ETag": ETAG, "Content-Type": "application/rss+xml"})

    for p in paths:
        feed_server.route(p, slow)
    feeds = "\n".join(f"  - {feed_server.url(p)}" for p in paths)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""
database: "{pg_url}"
defaults: {{interval: 1h}}
fetch: {{concurrency: 1, per_host: 1}}
instances: {{lease: 30s, batch: 20, heartbeat: 250ms}}
feeds:
{feeds}
""",
        encoding="utf-8",
    )

    def polled() -> int:
        return sum(len(feed_server.requests_for(p)) for p in paths)

    a = start(tmp_path, config, 0)
    b: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: polled() >= 2, timeout=30)
        held = owners(pg_url)
        assert len(held) == 1 and sum(held.values()) >= 15, held  # A holds (nearly) all
        b = start(tmp_path, config, 1)
        wait_for(lambda: len(raw_execute(pg_url, "SELECT id FROM instances")) == 2, timeout=30)
        assert polled() < len(paths) - 5  # A is still busy: most of its feeds wait for it
        a.send_signal(signal.SIGTERM)
        t_term = time.monotonic()
        assert a.wait(15) == 0
        wait_for(lambda: polled() == len(paths), timeout=20)
        handed = time.monotonic() - t_term
        # 30 s lease: only the release at the stop makes B take them over this soon (about
        # 0.4 s per feed, one at a time, plus B's next heartbeat).
        assert handed < 15, handed
        assert all(len(feed_server.requests_for(p)) == 1 for p in paths)  # none twice
        log_b = (tmp_path / "i1.log").read_text()
        assert log_b.count("status=ok") >= 5, log_b  # B did poll the rest
        assert "leases.released" in (tmp_path / "i0.log").read_text()
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


class Feeds:
    """Feeds whose body can change mid-test (a new ETag each time); every request stamped."""

    def __init__(self, server: FeedServer, paths: list[str], body: bytes) -> None:
        self.lock = threading.Lock()
        self.at: dict[str, list[float]] = {p: [] for p in paths}
        self.body = dict.fromkeys(paths, (body, '"0"'))
        for p in paths:
            server.route(p, partial(self._serve, p))

    def _serve(self, path: str, h: RequestHandler) -> None:
        with self.lock:
            self.at[path].append(time.monotonic())
            body, etag = self.body[path]
        if h.headers.get("If-None-Match") == etag:
            h.respond(304, b"", {"ETag": etag})
        else:
            h.respond(200, body, {"ETag": etag, "Content-Type": "application/rss+xml"})

    def change(self, path: str, body: bytes) -> None:
        with self.lock:
            self.body[path] = (body, f'"{time.monotonic_ns()}"')

    def counts(self, since: float, until: float) -> list[int]:
        with self.lock:
            return [sum(1 for t in ts if since < t <= until) for ts in self.at.values()]

    def polled_after(self, when: float) -> int:
        with self.lock:
            return sum(1 for ts in self.at.values() if any(t > when for t in ts))

    def closest_gap(self, since: float) -> float:
        with self.lock:
            gaps = [
                b - a
                for ts in self.at.values()
                for a, b in itertools.pairwise([t for t in ts if t > since])
            ]
        return min(gaps, default=INTERVAL)


QUIET = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hafen</title>
<link>https://example.org/</link><item><title>Hafenbericht: Umschlag stabil</title>
<link>https://example.org/hafen</link><guid>hafen-1</guid>
<description>Nichts Neues im Hafen.</description></item></channel></rss>"""


def test_three_instances_sixty_feeds_as_one_alerts_and_digests_once_and_kill_9(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
) -> None:
    """The issue's test. One `--role all` instance alone first: its polls per feed per interval
    are the single-instance figure. Then three: within one of it, never twice within half an
    interval. Eight feeds turn up a story each while three run (four before, four just before a
    `kill -9` of one of them): eight alerts, each story once; digests once per slot (the first
    "at once", then the next minute's cron slot, which the remaining instances race for), each
    story in exactly one; every feed polled again within lease + one interval after the kill."""
    from tests.story_feeds import distinct_items, rss

    paths = [f"/issue/{i:02d}.xml" for i in range(FEEDS)]
    feeds = Feeds(feed_server, paths, QUIET)
    stories = [rss([item]) for _, _, item in distinct_items(8)]
    out = tmp_path / "out"
    listed = "\n".join(f"  - {feed_server.url(p)}" for p in paths)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""
database: "{pg_url}"
defaults: {{interval: 2s, min_interval: 1s}}
instances: {{lease: 6s, batch: 20, heartbeat: 250ms}}
fetch: {{per_host: 6}}  # 60 feeds on one host every 2 s: the shared limit (2) would bound them
channels:
  files: {{type: file, path: {out}, formats: [data]}}
subscriptions:
  - {{name: eil, channel: files, mode: alert, rules: [gallium-germanium]}}
  - {{name: tag, channel: files, mode: digest, schedule: "* * * * *", timezone: UTC,
     rules: [gallium-germanium]}}
feeds:
{listed}
""",
        encoding="utf-8",
    )
    procs = [start(tmp_path, config, 0, role="all")]
    try:
        t_start = time.monotonic()
        wait_for(lambda: feeds.polled_after(t_start) == FEEDS, timeout=30)
        # Phase 1, one instance: its polls per feed in three intervals.
        t1 = time.monotonic()
        time.sleep(3 * INTERVAL)
        t2 = time.monotonic()
        single = feeds.counts(t1, t2)
        single_rate = sum(single) / len(single) / ((t2 - t1) / INTERVAL)

        # Phase 2, three instances.
        procs += [start(tmp_path, config, n, role="all") for n in (1, 2)]
        wait_for(lambda: len(raw_execute(pg_url, "SELECT id FROM instances")) == 3, timeout=30)
        for k in range(4):
            feeds.change(paths[k], stories[k])
        t3 = time.monotonic()
        time.sleep(3 * INTERVAL)
        t4 = time.monotonic()
        three = feeds.counts(t3, t4)
        three_rate = sum(three) / len(three) / ((t4 - t3) / INTERVAL)
        assert abs(three_rate - single_rate) <= 1.0, (single_rate, three_rate)
        assert max(three) <= max(single) + 1, (single, three)
        assert min(three) >= min(single) - 1, (single, three)
        assert feeds.closest_gap(t1) > INTERVAL / 2  # never polled twice in one interval
        # Every instance polled (the work is shared, not taken by one).
        logs = [(tmp_path / f"i{n}.log").read_text() for n in range(3)]
        assert all(text.count("status=not_modified") > 5 for text in logs)

        # kill -9 one of the three, just after four more feeds turned up a story.
        for k in range(4, 8):
            feeds.change(paths[k], stories[k])
        time.sleep(0.3)
        procs[1].kill()
        procs[1].wait(10)
        t_kill = time.monotonic()
        wait_for(lambda: feeds.polled_after(t_kill) == FEEDS, timeout=LEASE + INTERVAL + 2)
        assert time.monotonic() - t_kill <= LEASE + INTERVAL + 2
        assert feeds.closest_gap(t1) > INTERVAL / 2

        # Nothing lost: eight alerts; the digest of the minute slot after the eight stories.
        wait_for(lambda: len(list(out.glob("alert-eil-*.json"))) >= 8, timeout=30)

        def in_digests() -> list[int]:
            return [
                int(n)
                for f in sorted(out.glob("digest-tag-*.json"))
                for n in re.findall(r"Gallium \((\d+)\)", f.read_text(encoding="utf-8"))
            ]

        # The stories of the last four go into the digest of the next minute's slot (made by
        # one of the two survivors): wait for it.
        wait_for(lambda: sorted(set(in_digests())) == list(range(8)), 75)
        time.sleep(INTERVAL)  # more delivery rounds of both survivors: still no duplicate
        for p in (procs[0], procs[2]):
            p.send_signal(signal.SIGTERM)
        for p in (procs[0], procs[2]):
            assert p.wait(20) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    alerts = sorted(out.glob("alert-eil-*.json"))
    assert len(alerts) == 8, [f.name for f in alerts]
    seen = sorted(int(re.findall(r"\((\d+)\)", f.read_text(encoding="utf-8"))[0]) for f in alerts)
    assert seen == list(range(8))
    rows = raw_execute(pg_url, "SELECT kind, state, count(*) FROM deliveries GROUP BY kind, state")
    by_state = {(r[0], r[1]): int(r[2]) for r in rows}
    digest_files = sorted(out.glob("digest-tag-*.json"))
    # The first digest at once, then at least one cron slot inside the test (the minute after
    # the last four stories); one digest per slot, each story in exactly one of them.
    assert by_state == {("alert", "sent"): 8, ("digest", "sent"): len(digest_files)}, by_state
    assert len(digest_files) >= 2, [f.name for f in digest_files]
    assert sorted(in_digests()) == list(range(8)), in_digests()
    entries = raw_execute(pg_url, "SELECT feed_url, count(*) FROM entries GROUP BY feed_url")
    assert len(entries) == FEEDS  # every feed's entries stored, the eight stories too
    assert sum(int(r[1]) for r in entries) == FEEDS + 8
    log = "".join((tmp_path / f"i{n}.log").read_text() for n in range(3))
    assert "Traceback" not in log


def test_the_per_host_limit_holds_across_three_instances(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
) -> None:
    """`fetch.per_host: 2` with three instances (each allowed 8 fetches at once) and 60 slow
    feeds on two host names: never more than 2 requests in flight to one host over all of
    them (per process it would be up to 6), and the limit is reached (it is a limit, not a
    serialisation)."""
    lock = threading.Lock()
    now: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = defaultdict(int)

    def slow(h: RequestHandler) -> None:
        host = getattr(h, "headers").get("Host", "").split(":")[0]  # noqa: B009
        with lock:
            now[host] += 1
            peak[host] = max(peak[host], now[host])
        try:
            time.sleep(0.3)
            h.respond(200, RSS, {"ETag": ETAG, "Content-Type": "application/rss+xml"})
        finally:
            with lock:
                now[host] -= 1

    paths = [f"/host/{i:02d}.xml" for i in range(FEEDS)]
    for p in paths:
        feed_server.route(p, slow)
    hosts = ["127.0.0.1", "localhost"]
    listed = "\n".join(f"  - {feed_server.url(p, host=hosts[i % 2])}" for i, p in enumerate(paths))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""
database: "{pg_url}"
defaults: {{interval: 1h}}
fetch: {{concurrency: 8, per_host: 2}}
instances: {{lease: 30s, batch: 20, heartbeat: 250ms}}
feeds:
{listed}
""",
        encoding="utf-8",
    )
    procs = [start(tmp_path, config, n) for n in range(3)]
    try:
        wait_for(lambda: sum(len(feed_server.requests_for(p)) for p in paths) == FEEDS, 60)
        time.sleep(0.5)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert dict(peak) == {"127.0.0.1": 2, "localhost": 2}, dict(peak)
    assert all(len(feed_server.requests_for(p)) == 1 for p in paths)
    logs = [(tmp_path / f"i{n}.log").read_text() for n in range(3)]
    assert sum(1 for text in logs if "status=ok" in text) >= 2  # the work was shared
    assert not any("Traceback" in text or "host_slots.unavailable" in text for text in logs)


def test_feeds_made_due_reach_idle_instances_at_once_not_at_their_heartbeat(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
) -> None:
    """Two idle instances with a 5 s heartbeat; a feed made due now (``make_due``, as a
    stopping instance's release or a new instance's feeds do) is polled within a fraction of
    a second: LISTEN/NOTIFY, not the next heartbeat."""
    from monitor.store import open_storage

    stamps = Stamps()
    paths = [f"/wake/{i}.xml" for i in range(6)]
    for p in paths:
        stamps.install(feed_server, p)
    urls = [feed_server.url(p) for p in paths]
    listed = "\n".join(f"  - {u}" for u in urls)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""
database: "{pg_url}"
defaults: {{interval: 1h}}
instances: {{lease: 30s, batch: 20, heartbeat: 5s}}
feeds:
{listed}
""",
        encoding="utf-8",
    )
    procs = [start(tmp_path, config, n) for n in range(2)]
    latencies = []
    try:
        wait_for(lambda: len(stamps.after(0)) == len(paths), timeout=30)
        wait_for(lambda: len(raw_execute(pg_url, "SELECT id FROM instances")) == 2, timeout=30)
        time.sleep(1.0)
        with open_storage(pg_url) as store:
            for path, url in zip(paths, urls, strict=True):
                t = time.monotonic()
                assert store.make_due([url], datetime.now(UTC)) == 1
                wait_for(lambda p=path, t=t: p in stamps.after(t), timeout=10)  # type: ignore[misc]
                with stamps.lock:
                    latencies.append(stamps.at[path][-1] - t)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    latencies.sort()
    # Without NOTIFY every one took 3.6-5 s (the heartbeat). Most within a second; on a loaded
    # machine (the full suite beside five other agents) one or two took 2.6-4.2 s once.
    assert latencies[3] < 1.0, latencies
