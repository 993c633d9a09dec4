"""A flood of new entries in one poll is capped (``max_new_entries``): the newest are stored, the
oldest dropped with a warning and remembered, and the other feeds' alerts go out in the same
cycle. (The time it saves is measured in bench/bench_hugefeed.py, not here.)"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.config.settings import load_settings
from monitor.errors import ConfigError
from monitor.store import open_storage
from tests.fixtures.feed_server import FeedServer
from tests.support import run_monitor as monitor
from tests.test_storage_failures import GOOD_TITLE, _fresh

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def flood(numbers: list[int]) -> bytes:
    """Items n = 1..: item n published n minutes after START (a higher n is newer)."""
    items = "".join(
        f"<item><title>Marktbericht {n}</title><guid>flood-{n}</guid>"
        f"<pubDate>{format_datetime(START + timedelta(minutes=n), usegmt=True)}</pubDate></item>"
        for n in numbers
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Flood</title>'
        f"<link>https://flood.example/</link>{items}</channel></rss>"
    ).encode()


def stored_ids(db: Path, feed: str) -> set[str]:
    store = open_storage(f"sqlite:///{db}")
    try:
        return {e.id for e in store.iter_entries(feed_url=feed)}
    finally:
        store.close()


def test_a_flood_is_capped_and_the_other_feeds_alert_goes_out(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    numbers = list(range(1, 31))
    random.Random(7).shuffle(numbers)  # newest by date, not by position in the document
    feed_server.add("/flood.xml", flood(numbers))
    feed_server.add("/eil.xml", _fresh("eil-1", GOOD_TITLE))
    huge, eil = feed_server.url("/flood.xml"), feed_server.url("/eil.xml")
    (tmp_path / "monitor.yaml").write_text(
        f"""
database: sqlite:///{tmp_path / "m.db"}
defaults: {{max_new_entries: 3}}
feeds:
  - {{url: {huge}, max_new_entries: 10}}
  - {eil}
channels:
  files: {{type: file, path: {tmp_path / "out"}, formats: [data]}}
subscriptions:
  - {{name: eil, channel: files, mode: alert}}
""",
        encoding="utf-8",
    )
    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "10 new, 0 changed of 30, 20 oldest new dropped (max_new_entries)" in out.stdout
    assert (
        "capped: 30 new entries, more than max_new_entries (10): stored the newest 10, "
        "dropped the 20 oldest"
    ) in out.stderr
    assert stored_ids(tmp_path / "m.db", huge) == {f"flood-{n}" for n in range(21, 31)}
    alerts = [json.loads(p.read_text("utf-8")) for p in (tmp_path / "out").glob("alert-*.json")]
    assert "https://good.example/eil-1" in {a["item"]["link"] for a in alerts}

    # The dropped ones are remembered: a newer item is the only new one next time.
    feed_server.add("/flood.xml", flood([31, *numbers]))
    again = monitor("once", "--all", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "1 new, 0 changed of 31" in again.stdout and "dropped" not in again.stdout
    assert stored_ids(tmp_path / "m.db", huge) == {f"flood-{n}" for n in range(21, 32)}


def test_max_new_entries_is_inherited_overridden_and_checked(tmp_path: Path) -> None:
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text("feeds: [a.xml, {url: b.xml, max_new_entries: 20}]\n", encoding="utf-8")
    a, b = load_settings(cfg).feed_list()
    assert (a.max_new_entries, b.max_new_entries) == (500, 20)
    cfg.write_text("defaults: {max_new_entries: 0}\nfeeds: [a.xml]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert err.value.line == 1 and err.value.key == "defaults.max_new_entries"
