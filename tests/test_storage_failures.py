"""Text the database cannot hold never reaches it, and a write the database refuses fails only
its feed: recorded as that feed's error with back-off, shown in `status` and `/healthz`, while
the other feeds are stored and their alerts and digests delivered. Real processes, real SQLite
and PostgreSQL; the refusal is a trigger or CHECK constraint added with raw SQL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import fields
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from monitor.ingest.parse import Engine, parse_feed
from monitor.model import Entry, FeedState
from monitor.store import open_storage
from monitor.store.sql import SQLStorage
from tests.fixtures.feed_server import FeedServer
from tests.fixtures.http_sink import HttpSink, Reply
from tests.fixtures.storage import raw_execute, sqlite_url
from tests.support import free_port, wait_for
from tests.support import run_monitor as monitor
from tests.test_daemon import Daemon

UNSTORABLE = {chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))} | {
    "\ufffe",
    "\uffff",
    *(chr(c) for c in range(0xD800, 0xE000)),
}

# Raw NUL bytes where feedparser passes them through (guid, link, author, channel title), and
# controls in the text; the document is not well-formed, so both engines end in feedparser's
# loose parser.
NUL_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Roh\x00stoff-Ticker</title><link>https://nul.example/</link>
<item><title>Lithium\x00: neue Mine genehmigt</title><link>https://nul.example/a\x00b</link>
<guid>nul\x00-1</guid><author>Ann\x00 Smith</author>
<description>Spodumen \x01ab 2027 \x0b</description></item>
<item><title>Zweite Meldung</title><guid>\x00</guid><description>ohne Id</description></item>
</channel></rss>
"""
# Character references: &#0; everywhere (feedparser and feedparser-rs decode it to NUL), and
# a lone surrogate, on which feedparser's loose parser used to crash.
NUL_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Cobalt&#0; Watch</title>
<id>urn:cobalt</id><link href="https://atom.example/"/><updated>2025-03-04T09:00:00Z</updated>
<entry><title type="text">DRC&#0; cobalt &#xFFFE;ban&#xD800;</title><id>urn:e&#0;1</id>
<link href="https://atom.example/c"/><author><name>Jo&#0;e</name></author>
<updated>2025-03-04T09:00:00Z</updated><summary type="text">Prices&#0; &#1;rose</summary>
<content type="html">&lt;p&gt;Kobalt&#0;preise&lt;/p&gt;</content></entry></feed>
"""


def _texts(record: Any) -> list[str]:
    return [v for f in fields(record) if isinstance(v := getattr(record, f.name), str)]


def test_unstorable_code_points_are_removed_and_the_entries_stored(
    engine: Engine, storage: SQLStorage
) -> None:
    now = datetime(2025, 3, 5, tzinfo=UTC)
    rss = parse_feed(NUL_RSS, feed_url="https://nul.example/feed", now=now, engine=engine)
    atom = parse_feed(NUL_ATOM, feed_url="https://atom.example/feed", now=now, engine=engine)
    for parsed in (rss, atom):
        assert parsed.entries
        for text in (*_texts(parsed), *(t for e in parsed.entries for t in _texts(e))):
            assert not UNSTORABLE & set(text), repr(text)
    first = rss.entries[0]
    assert rss.title == "Rohstoff-Ticker" and first.id == "nul-1"
    assert first.title == "Lithium: neue Mine genehmigt" and first.author == "Ann Smith"
    assert first.link == "https://nul.example/ab" and "ab 2027" in first.summary
    assert rss.entries[1].id.startswith("hash:")  # a guid of NUL alone is no identity
    [cobalt] = atom.entries
    assert atom.title == "Cobalt Watch" and cobalt.id == "urn:e1" and cobalt.author == "Joe"
    assert cobalt.summary == "Prices rose" and cobalt.content == "Kobaltpreise"
    assert cobalt.fingerprint == Entry(**{
        f.name: getattr(cobalt, f.name) for f in fields(Entry) if f.name != "fingerprint"
    }).fingerprint  # fmt: skip

    for url, parsed in (("https://nul.example/feed", rss), ("https://atom.example/feed", atom)):
        state = FeedState(url, title=parsed.title)
        result = storage.record_poll(state, parsed.entries, {}, now)
        assert len(result.new) == len(parsed.entries)
        stored = storage.get_entry(url, parsed.entries[0].id)
        assert stored is not None and stored.title == parsed.entries[0].title
        assert storage.feed_state(url) == state


def _fresh(guid: str, title: str) -> bytes:
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Eilmeldungen</title><link>https://good.example/</link>
<item><title>{title}</title><link>https://good.example/{guid}</link><guid>{guid}</guid>
<pubDate>{now}</pubDate><description>Peking verlangt Lizenzen für Gallium.</description></item>
</channel></rss>""".encode()


GOOD_TITLE = "China verschärft Exportkontrollen für Gallium und Germanium"


def _refuse_entries_of(url: str, feed: str) -> None:
    """The database refuses every entry row of ``feed`` (and nothing else)."""
    if url.startswith("sqlite:///"):
        raw_execute(
            url,
            "CREATE TRIGGER refuse_feed BEFORE INSERT ON entries "
            f"WHEN NEW.feed_url = '{feed}' BEGIN SELECT RAISE(ABORT, 'refused by test'); END",
        )
    else:
        raw_execute(
            url, f"ALTER TABLE entries ADD CONSTRAINT refuse_feed CHECK (feed_url <> '{feed}')"
        )


def test_once_with_a_refused_feed_stores_and_delivers_the_others(
    tmp_path: Path, feed_server: FeedServer, storage_url: str
) -> None:
    feed_server.add("/good.xml", _fresh("eil-1", GOOD_TITLE))
    feed_server.add("/bad.xml", _fresh("bad-1", "Germanium: Ausfuhr gestoppt"))
    feed_server.add("/nul.xml", NUL_RSS)
    good, bad, nul = (feed_server.url(p) for p in ("/good.xml", "/bad.xml", "/nul.xml"))
    (tmp_path / "monitor.yaml").write_text(
        f"""
database: "{storage_url}"
feeds: [{good}, {bad}, {nul}]
channels:
  files: {{type: file, path: {tmp_path / "out"}, formats: [data]}}
subscriptions:
  - {{name: eil, channel: files, mode: alert}}
  - {{name: morgen, channel: files, mode: digest, schedule: "0 7 * * *"}}
""",
        encoding="utf-8",
    )
    open_storage(storage_url).close()  # the tables, so that the test can break them
    _refuse_entries_of(storage_url, bad)

    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr  # README: a refused write exits 1
    assert "Traceback" not in out.stderr
    assert "Polled 3 feeds" in out.stdout and "1 failed" in out.stdout
    assert "storing this poll failed" in out.stdout and "refuse" in out.stdout
    alerts = [json.loads(p.read_text("utf-8")) for p in (tmp_path / "out").glob("alert-*.json")]
    tagged = [a for a in alerts if "gallium-germanium" in {t["rule_id"] for t in a["tags"]}]
    assert [a["item"]["link"] for a in tagged] == ["https://good.example/eil-1"]
    [digest] = [json.loads(p.read_text("utf-8")) for p in (tmp_path / "out").glob("digest-*")]
    links = {i["link"] for s in digest["stories"] for i in s["items"]}
    assert "https://good.example/eil-1" in links and "https://nul.example/ab" in links
    assert not any("bad-1" in link for link in links)

    rows = {r["feed"]: r for r in json.loads(monitor("status", "--format", "json",
                                                     cwd=tmp_path).stdout)["feeds"]}  # fmt: skip
    assert rows[good]["entries"] == 1 and rows[nul]["entries"] == 2
    assert rows[good]["error_count"] == 0 and rows[nul]["name"] == "Rohstoff-Ticker"
    assert rows[bad]["entries"] == 0 and rows[bad]["error_count"] == 1
    assert "storing this poll failed" in rows[bad]["last_error"] and rows[bad]["next_poll"]
    assert rows[bad]["last_success"] is None
    table = monitor("status", cwd=tmp_path).stdout
    assert "last error: feed " + bad in table

    # Backed off like any failing feed: not due at once, and not polled by a plain `once`.
    again = monitor("once", cwd=tmp_path)
    assert "No feed is due" in again.stdout and again.returncode == 0
    forced = monitor("once", "--all", cwd=tmp_path)
    assert forced.returncode == 1 and "Traceback" not in forced.stderr
    rows = {r["feed"]: r for r in json.loads(monitor("status", "--format", "json",
                                                     cwd=tmp_path).stdout)["feeds"]}  # fmt: skip
    assert rows[bad]["error_count"] == 2 and rows[good]["error_count"] == 0


def _health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)
    except urllib.error.URLError:  # not listening yet
        return 0, {}


def test_healthz_is_503_while_a_write_fails_or_a_delivery_failed(
    tmp_path: Path, feed_server: FeedServer, http_sink: HttpSink
) -> None:
    feed_server.add("/good.xml", _fresh("eil-1", GOOD_TITLE))
    feed_server.add("/bad.xml", _fresh("bad-1", "Germanium: Ausfuhr gestoppt"))
    good, bad = feed_server.url("/good.xml"), feed_server.url("/bad.xml")
    url = sqlite_url(tmp_path, "m.db")
    open_storage(url).close()
    _refuse_entries_of(url, bad)
    port = free_port()
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        f"""
database: {url}
defaults: {{interval: 1s, min_interval: 1s}}
http: {{enabled: true, port: {port}}}
feeds: [{good}, {bad}]
channels:
  files: {{type: file, path: {tmp_path / "out"}, formats: [data]}}
  hook: {{type: webhook, url: "{http_sink.url}/in"}}
subscriptions:
  - {{name: eil, channel: files, mode: alert}}
  - {{name: hook, channel: hook, mode: alert, rules: [gallium-germanium]}}
""",
        encoding="utf-8",
    )
    d = Daemon(tmp_path, cfg)
    try:
        # The refused feed makes the daemon unhealthy; the good feed's alert goes out anyway.
        wait_for(lambda: _health(port)[1].get("storage_failed") == [bad], timeout=20)
        code, health = _health(port)
        assert code == 503 and health["ok"] is False and health["deliveries_failed"] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert "monitor_storage_failed 1.0" in r.read().decode()
        wait_for(lambda: any((tmp_path / "out").glob("alert-eil-*.json")), timeout=20)
        wait_for(lambda: len(http_sink.accepted()) == 1, timeout=20)

        # The database takes the feed again: the next poll (after back-off) stores it, healthy.
        raw_execute(url, "DROP TRIGGER refuse_feed")
        wait_for(lambda: _health(port)[0] == 200, timeout=20)
        assert _health(port)[1]["storage_failed"] == []

        # A delivery that failed for good makes it unhealthy until someone looks at it.
        http_sink.script(Reply(404, {}, b"no such hook"))
        feed_server.add("/good.xml", _fresh("eil-2", "Germanium-Exporte aus China eingebrochen"))
        wait_for(lambda: _health(port)[0] == 503, timeout=20)
        code, health = _health(port)
        assert health["deliveries_failed"] == 1 and health["storage_failed"] == []
        assert health["problems"] == ["1 deliveries failed"]
        code, _ = d.stop()
        assert code == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
    log = d.text()
    assert "storing this poll failed" in log and "Traceback" not in log
