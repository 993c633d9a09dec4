"""Delivery as a user meets it: `monitor once` on the offline example, `digest preview`,
`digest send`, `deliveries`, `status`, and the daemon sending an alert, all as real processes."""

from __future__ import annotations

import email
import json
import signal
import urllib.request
from datetime import UTC, datetime
from email import policy
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast

from tests.fixtures.feed_server import FeedServer
from tests.fixtures.http_sink import HttpSink, Reply
from tests.support import free_port, wait_for
from tests.support import run_monitor as monitor
from tests.test_daemon import Daemon


def test_the_first_command_leaves_a_digest_in_outbox(tmp_path: Path) -> None:
    """README: `monitor once` in an empty folder runs the bundled example into ./outbox/."""
    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Delivered 1 digest." in out.stdout and "digest morgen -> outbox" in out.stdout
    files = sorted((tmp_path / "outbox").iterdir())
    stems = {f.name.split(".")[0] for f in files}
    assert len(stems) == 1 and next(iter(stems)).startswith("digest-morgen-")
    suffixes = sorted("".join(f.suffixes) for f in files)
    assert suffixes == [".eml", ".html", ".json", ".slack.json", ".txt"]
    stem = next(iter(stems))
    mail = email.message_from_bytes((tmp_path / "outbox" / f"{stem}.eml").read_bytes(),
                                    policy=policy.default)  # fmt: skip
    assert mail["Subject"].startswith("Rohstoff-Digest morgen")
    data = json.loads((tmp_path / "outbox" / f"{stem}.json").read_text("utf-8"))
    titles = [s["title"] for s in data["stories"]]
    assert "Klingbeil will mehr Kooperation bei kritischen Rohstoffen" in titles
    # Stories, not hits: an entry stands once however many rules it matched.
    entries = [(i["feed_url"], i["entry_id"]) for s in data["stories"] for i in s["items"]]
    assert len(titles) == data["stories_total"] < data["total"] == len(entries)
    owner: dict[tuple[str, str], str] = {}
    for story in data["stories"]:
        for i in story["items"]:
            assert (
                owner.setdefault((i["feed_url"], i["entry_id"]), story["story_id"])
                == (story["story_id"])
            ), "an entry stands in two stories"
    assert {t["rule_id"] for s in data["stories"] for t in s["tags"]} >= {"seltene-erden"}
    assert "china" not in {c["rule_id"] for c in data["counts"]}  # context only: not in "*"
    html = (tmp_path / "outbox" / f"{stem}.html").read_text("utf-8")
    assert "<mark" in html and "Seltene Erden" in html
    assert json.loads((tmp_path / "outbox" / f"{stem}.slack.json").read_text("utf-8"))[0]["blocks"]

    again = monitor("once", "--all", cwd=tmp_path)
    assert again.returncode == 0 and "Delivered" not in again.stdout
    assert len(list((tmp_path / "outbox").iterdir())) == 5  # the next one waits for 07:00

    listed = json.loads(monitor("deliveries", "--format", "json", cwd=tmp_path).stdout)
    [row] = listed["deliveries"]
    assert row["state"] == "sent" and row["items"] == data["total"] and row["attempts"] == 1
    assert "No such deliveries." in monitor("deliveries", "--failed", cwd=tmp_path).stdout
    status = monitor("status", cwd=tmp_path).stdout
    assert "Deliveries: 0 pending, 0 failed, 1 sent." in status


def test_preview_writes_html_and_prints_text_without_recording(tmp_path: Path) -> None:
    monitor("once", cwd=tmp_path)
    out = monitor("digest", "preview", "--out", str(tmp_path / "p.html"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "=== morgen -> outbox (default/de/digest)" in out.stdout
    assert "Keine neuen Meldungen" in out.stdout  # all went out in the first digest
    assert (tmp_path / "p.html").read_text("utf-8").startswith("<!DOCTYPE html>")
    listed = json.loads(monitor("deliveries", "--format", "json", cwd=tmp_path).stdout)
    assert len(listed["deliveries"]) == 1
    unknown = monitor("digest", "preview", "-s", "abends", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no digest subscription named 'abends' (digest subscriptions: morgen)" in unknown.stderr


def _config(tmp_path: Path, feed_url: str, hook: str) -> None:
    (tmp_path / "monitor.yaml").write_text(
        f"""
feeds: [{feed_url}]
channels:
  hook: {{type: webhook, url: "{hook}"}}
subscriptions:
  - {{name: team, channel: hook, mode: digest, schedule: "0 7 * * mon-fri", language: en,
      lookback: 3650d}}
""",
        encoding="utf-8",
    )


def test_a_failed_digest_is_shown_retried_and_sent(
    tmp_path: Path, feed_server: FeedServer, http_sink: HttpSink
) -> None:
    _config(tmp_path, feed_server.url("/feed.xml"), f"{http_sink.url}/in")
    http_sink.script(Reply(404, {}, b"no such hook"))  # permanent: failed at once
    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "FAILED after 1 attempts: channel hook: rejected with HTTP 404" in out.stdout
    status = monitor("status", cwd=tmp_path)
    assert "Deliveries: 0 pending, 1 failed, 0 sent." in status.stdout
    assert "channel hook: rejected with HTTP 404" in status.stdout and "hint:" in status.stdout
    health = json.loads(monitor("status", "--format", "json", cwd=tmp_path).stdout)
    assert health["deliveries"]["failed"] == 1
    failed = json.loads(monitor("deliveries", "--failed", "--format", "json", cwd=tmp_path).stdout)
    [row] = failed["deliveries"]
    assert row["kind"] == "digest" and row["items"] >= 2

    retried = monitor("deliveries", "--retry", str(row["id"]), cwd=tmp_path)
    assert f"delivery {row['id']}: queued again" in retried.stdout
    sent = monitor("digest", "send", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert "Delivered 1 digest." in sent.stdout
    [body] = [r.json() for r in http_sink.accepted()]
    assert body["key"] == row["key"] and body["kind"] == "digest"
    assert "team: no new matches for a digest" in monitor("digest", "send", cwd=tmp_path).stdout
    assert len(http_sink.accepted()) == 1


def _fresh_rss() -> bytes:
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Eilmeldungen</title><link>https://example.org/</link>
<item><title>China verschärft Exportkontrollen für Gallium und Germanium</title>
<link>https://example.org/eil/1</link><guid>eil-1</guid><pubDate>{now}</pubDate>
<description>Peking verlangt ab sofort Lizenzen für die Ausfuhr von Gallium.</description></item>
</channel></rss>""".encode()


def test_the_daemon_sends_an_alert_within_the_cycle(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add("/eil.xml", _fresh_rss())
    port = free_port()
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        f"""
database: sqlite:///{tmp_path / "m.db"}
http: {{enabled: true, port: {port}}}
feeds: [{feed_server.url("/eil.xml")}]
channels:
  files: {{type: file, path: {tmp_path / "out"}, formats: [txt, data]}}
subscriptions:
  - {{name: eil, channel: files, mode: alert}}
""",
        encoding="utf-8",
    )
    d = Daemon(tmp_path, cfg)

    def health() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return cast(dict[str, Any], json.load(r))

    try:
        wait_for(lambda: any((tmp_path / "out").glob("alert-eil-*.json")), timeout=20)
        wait_for(lambda: health()["deliveries_pending"] == 0)
        # One story, one alert: the entry's priority rules are its tags.
        [alert] = [json.loads(p.read_text("utf-8"))
                   for p in (tmp_path / "out").glob("alert-eil-*.json")]  # fmt: skip
        tags = {t["rule_id"] for t in alert["tags"]}
        assert "gallium-germanium" in tags and "china" not in tags  # priority rules only
        assert alert["item"]["rule_id"] == alert["tags"][0]["rule_id"]
        assert health()["ok"] is True and health()["deliveries_failed"] == 0
        code, _ = d.stop(signal.SIGTERM)
        assert code == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
    log = d.text()
    assert "delivery.sent kind=alert" in log and "Traceback" not in log
