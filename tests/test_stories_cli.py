"""Stories end to end, as real processes over the local feed server: `monitor once` and `monitor
run` assign every new entry a story in its poll; `monitor stories` shows them; a kill -9 leaves no
entry without a story; `monitor stories backfill` assigns entries stored before stories."""

from __future__ import annotations

import itertools
import json
import os
import pty
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from monitor.store import open_storage
from tests.fixtures.feed_server import FeedServer
from tests.fixtures.storage import raw_execute
from tests.support import wait_for

EN = (
    "Glencore buys Kamoto cobalt mine in Congo for $2.5 billion",
    "Glencore agreed to pay 2.5 billion dollars for the Kamoto mine in Kolwezi, Congo, its chief "
    "executive Gary Nagle said on Tuesday.",
)
DE = (
    "Glencore kauft Kobaltmine Kamoto im Kongo für 2,5 Milliarden Dollar",
    "Der Rohstoffkonzern Glencore zahlt 2,5 Milliarden Dollar für die Kamoto-Mine bei Kolwezi im "
    "Kongo, sagte Konzernchef Gary Nagle am Dienstag.",
)
OTHER = (
    "Tungsten prices hit a record as the Panasqueira mine in Portugal restarts",
    "Scheelite output from Panasqueira resumes as demand from defence makers climbs.",
)


def rss(title: str, language: str, items: list[tuple[str, str, str, str, datetime]]) -> bytes:
    """items: (guid, link, title, summary, published)."""
    body = "".join(
        f"<item><title>{t}</title><guid>{g}</guid><link>{link}</link>"
        f"<description>{s}</description><pubDate>{format_datetime(p)}</pubDate></item>"
        for g, link, t, s, p in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>https://example.org/</link><description>x</description>"
        f"<language>{language}</language>{body}</channel></rss>"
    ).encode()


def serve_wire(feed_server: FeedServer) -> list[str]:
    """Wire copy in two outlets' feeds, a German report of the same event, an unrelated item."""
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    feed_server.add(
        "/a.xml",
        rss(
            "Wire A",
            "en",
            [
                ("a1", "https://www.wire-a.example/news/a1", *EN, t),
                ("a2", "https://www.wire-a.example/news/a2", *OTHER, t + timedelta(minutes=2)),
            ],
        ),
    )
    feed_server.add("/b.xml", rss("Wire B", "en", [("b1", "https://wire-b.example/b1", *EN, t)]))
    feed_server.add(
        "/b-de.xml",
        rss(
            "Wire B Deutsch",
            "de",
            [("b2", "https://de.wire-b.example/b2", *DE, t + timedelta(minutes=40))],
        ),
    )
    return [feed_server.url(p) for p in ("/a.xml", "/b.xml", "/b-de.xml")]


def monitor(
    *args: str, cwd: Path, stderr: Any = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "-c", str(cwd / "monitor.yaml"), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=120,
        env={**os.environ, "NO_PROXY": "*"},
    )


def on_a_terminal(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], bytes]:
    """Run with stderr on a pseudo-terminal; returns what the terminal showed."""
    primary, replica = pty.openpty()
    try:
        out = monitor(*args, cwd=cwd, stderr=replica)
    finally:
        os.close(replica)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    return out, shown


def write_config(tmp_path: Path, feeds: list[str], extra: str = "") -> str:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    (tmp_path / "monitor.yaml").write_text(
        f"database: {url}\nfeeds: [{', '.join(feeds)}]\n{extra}", encoding="utf-8"
    )
    return url


def without_story(url: str) -> int:
    rows = raw_execute(
        url,
        "SELECT count(*) FROM entries e LEFT JOIN story_members m "
        "ON m.feed_url = e.feed_url AND m.entry_id = e.entry_id WHERE m.entry_id IS NULL",
    )
    return int(rows[0][0])


def check_wire_story(tmp_path: Path) -> None:
    out = monitor("stories", "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    stories = json.loads(out.stdout)["stories"]
    assert sorted(s["size"] for s in stories) == [1, 3]
    wire = next(s for s in stories if s["size"] == 3)
    assert wire["outlets"] == ["wire-a.example", "wire-b.example"]
    assert wire["languages"] == ["de", "en"]
    assert {m["id"] for m in wire["members"]} == {"a1", "b1", "b2"}
    assert wire["representative"]["title"] == EN[0]


def test_once_groups_a_wire_copy_and_its_german_report_into_one_story(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = write_config(
        tmp_path, serve_wire(feed_server), "stories: {preferred_sources: [wire-b.example]}\n"
    )
    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert without_story(url) == 0
    check_wire_story_preferring_b(tmp_path)
    table = monitor("stories", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "3 entries, 2 outlets (wire-a.example, wire-b.example), de/en" in table.stdout
    assert EN[0] in table.stdout and DE[0] in table.stdout
    lines = monitor("stories", "--format", "jsonl", "--limit", "1", cwd=tmp_path)
    assert len(lines.stdout.splitlines()) == 1
    old = monitor("stories", "--since", "1m", cwd=tmp_path)
    assert old.returncode == 0 and "No story in the last 1m" in old.stdout
    bad = monitor("stories", "--since", "soon", cwd=tmp_path)
    assert bad.returncode == 2 and "--since" in bad.stderr


def check_wire_story_preferring_b(tmp_path: Path) -> None:
    out = monitor("stories", "--format", "json", cwd=tmp_path)
    stories = json.loads(out.stdout)["stories"]
    wire = next(s for s in stories if s["size"] == 3)
    assert wire["outlets"] == ["wire-a.example", "wire-b.example"]
    assert wire["languages"] == ["de", "en"]
    # Preferred source: wire-b's earliest copy, not wire-a's (which was first in the feed list).
    assert (wire["representative"]["id"], wire["representative"]["title"]) == ("b1", EN[0])


def test_the_daemon_assigns_stories_and_a_restart_continues_them(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feeds = serve_wire(feed_server)
    every = "defaults: {interval: 2s, min_interval: 1s}\n"  # start-up spreads over the interval
    url = write_config(tmp_path, feeds[:2], every)
    log = tmp_path / "daemon.log"

    def run_daemon(polled: list[str]) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(tmp_path / "monitor.yaml"), "run"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            env={**os.environ, "NO_PROXY": "*"},
        )
        try:
            wait_for(lambda: all(f"feed={f} status=ok" in log.read_text() for f in polled), 30)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    run_daemon(feeds[:2])
    assert without_story(url) == 0
    # A restart with one more feed: the German report joins the story
    # the first run stored, through the window rebuilt from the store.
    write_config(tmp_path, feeds, every)
    run_daemon(feeds[2:])
    assert "stories.window" in log.read_text()
    assert without_story(url) == 0
    check_wire_story(tmp_path)


def test_kill_9_mid_cycle_leaves_no_entry_without_a_story(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    counter = itertools.count()
    paths = [f"/fresh{i}.xml" for i in range(4)]

    def fresh(h: Any) -> None:
        # Every request brings new items (some copies of one another), so each poll stores.
        n = next(counter)
        t = datetime.now(UTC).replace(microsecond=0)
        items = [
            (f"{h.path}-{n}-{i}", f"https://o{i % 3}.example/{n}/{i}", *(EN if i % 2 else OTHER), t)
            for i in range(30)
        ]
        h.respond(200, rss("Fresh", "en", items), {"Content-Type": "application/rss+xml"})

    for path in paths:
        feed_server.route(path, fresh)
    feeds = [feed_server.url(p) for p in paths]
    url = write_config(tmp_path, feeds, "defaults: {interval: 1s, min_interval: 1s}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(tmp_path / "monitor.yaml"), "run"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_PROXY": "*"},
    )
    try:
        wait_for(lambda: sum(len(feed_server.requests_for(p)) for p in paths) >= 12, 30)
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store = open_storage(url)
    try:
        stored = sum(store.entry_counts().values())
    finally:
        store.close()
    assert stored > 0
    assert without_story(url) == 0
    out = monitor("once", "--all", "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert without_story(url) == 0


def test_backfill_assigns_a_store_filled_without_stories(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = write_config(tmp_path, serve_wire(feed_server), "stories: {enabled: false}\n")
    assert monitor("once", cwd=tmp_path).returncode == 0
    assert without_story(url) == 4
    empty = monitor("stories", cwd=tmp_path)
    assert "No story" in empty.stdout and "backfill" in empty.stdout
    # Not a terminal (cron): silent.
    quiet = monitor("stories", "backfill", "--since", "30d", cwd=tmp_path)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert without_story(url) == 0
    check_wire_story(tmp_path)
    members = raw_execute(
        url, "SELECT feed_url, entry_id, story_id FROM story_members ORDER BY 1, 2"
    )
    # Idempotent: again, on a terminal this time, nothing to do and nothing changed.
    again, shown = on_a_terminal("stories", "backfill", cwd=tmp_path)
    assert again.returncode == 0
    assert b"Assigned 0 entries" in shown
    assert (
        raw_execute(url, "SELECT feed_url, entry_id, story_id FROM story_members ORDER BY 1, 2")
        == members
    )
    help_text = monitor("stories", "backfill", "--help", cwd=tmp_path).stdout
    assert "--since" in help_text and "idempotent" in help_text
    assert "backfill" in monitor("stories", "--help", cwd=tmp_path).stdout


def test_backfill_shows_progress_on_a_terminal(tmp_path: Path, feed_server: FeedServer) -> None:
    url = write_config(tmp_path, serve_wire(feed_server), "stories: {enabled: false}\n")
    assert monitor("once", cwd=tmp_path).returncode == 0
    # (--config after `stories` is taken too, as for every command.)
    config = str(tmp_path / "monitor.yaml")
    out, shown = on_a_terminal("stories", "-c", config, "backfill", cwd=tmp_path)
    assert out.returncode == 0
    assert b"Assigning stories" in shown and b"4/4" in shown
    assert b"Assigned 4 entries without a story: 2 started a story, 2 joined one." in shown
    assert without_story(url) == 0
