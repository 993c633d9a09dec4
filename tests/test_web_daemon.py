"""``monitor run`` with ``web.enabled: true``: the daemon serves the web view on its own loop and
store (real processes, a real feed server and webhook endpoint on 127.0.0.1). A delivery that
failed (the endpoint answered 500) is retried over HTTP and the daemon sends it at once (200);
a rule file saved in the playground is reloaded at once. Any address beyond loopback needs a
credential from the environment, checked at start with a message naming monitor.yaml."""

from __future__ import annotations

import base64
import email.utils
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.fixtures.feed_server import FeedServer
from tests.fixtures.http_sink import HttpSink, Reply
from tests.support import free_port, run_monitor, wait_for

MY_RULES = """\
rules:
  - id: my-gallium
    title: Gallium (mine)
    description: Gallium news.
    any: [gallium-germanium]
    priority: alert
"""


def fresh_feed() -> bytes:
    now = email.utils.format_datetime(datetime.now(UTC))
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Rohstoffe</title><link>https://example.org/</link>
<description>x</description><language>de</language>
<item><title>China stoppt Gallium-Exporte</title><link>https://example.org/g</link>
<guid>g1</guid><pubDate>{now}</pubDate><description>Gallium.</description></item>
</channel></rss>""".encode()


def config(tmp_path: Path, web: str, extra: str = "") -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "mine.yaml").write_text(MY_RULES, encoding="utf-8")
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        f"database: sqlite:///{tmp_path / 'monitor.db'}\nrules: [shipped, rules]\n{extra}{web}",
        encoding="utf-8",
    )
    return cfg


def start(cfg: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    log = cfg.parent / "daemon.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(cfg), "run"],
        cwd=cfg.parent,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        env={**os.environ, "NO_PROXY": "*", **(env or {})},
    )
    return proc, log


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def token_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_monitor_run_serves_the_web_view_sends_a_retry_and_reloads_a_saved_rule(
    tmp_path: Path, feed_server: FeedServer, http_sink: HttpSink
) -> None:
    feed_server.add("/fresh.xml", fresh_feed())
    port = free_port()
    extra = f"""feeds: [{feed_server.url("/fresh.xml")}]
channels:
  hook: {{type: webhook, url: "{http_sink.url}/in", retry_for: 1s}}
subscriptions:
  - {{name: eil, channel: hook, mode: alert, rules: [my-gallium]}}
"""
    cfg = config(tmp_path, f"web: {{enabled: true, port: {port}}}\n", extra)
    http_sink.script(Reply(500, body=b"down"))
    proc, log = start(cfg)
    try:
        wait_for(lambda: "web.listening" in log.read_text(), 30)
        assert f"http://127.0.0.1:{port}/" in log.read_text()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
            wait_for(lambda: 'class="delivery ' in web.get("/archive?state=failed").text, 30)
            [failed] = [r for r in http_sink.requests if r.status == 500]
            key = failed.headers["idempotency-key"]
            listing = web.get("/archive?state=failed").text
            did = listing.split('href="/archive/', 1)[1].split('"', 1)[0]
            page = web.get(f"/archive/{did}")
            assert "HTTP 500" in page.text
            asked = time.monotonic()
            r = web.post(f"/archive/{did}/retry", data={"csrf": token_of(page.text)})
            assert r.status_code == 303
            # The daemon sends it at once (not at its next outbox timer, 15 s away at most).
            wait_for(lambda: [x.status for x in http_sink.requests] == [500, 200], 10)
            took = time.monotonic() - asked
            assert http_sink.requests[-1].headers["idempotency-key"] == key
            wait_for(lambda: '<dd class="state">sent</dd>' in web.get(f"/archive/{did}").text)
            # The playground saves the user's file; the daemon reloads the rules at once.
            editor = web.get("/rules/0")
            assert "my-gallium" in editor.text
            edited = MY_RULES.replace("[gallium-germanium]", "[gallium-germanium, lithium]")
            saved = web.post(
                "/rules/0",
                data={"csrf": token_of(editor.text), "text": edited, "action": "save", "days": "3"},
            )
            assert saved.status_code == 200 and 'class="note ok saved"' in saved.text
            wait_for(lambda: "rules.reloaded" in log.read_text(), 10)
        assert (tmp_path / "rules" / "mine.yaml").read_text() == edited
    finally:
        stop(proc, log)
    print(f"retry to sent: {took:.2f} s")


def test_a_public_web_bind_needs_a_credential_at_start(tmp_path: Path) -> None:
    cfg = config(tmp_path, "web:\n  enabled: true\n  host: 0.0.0.0\n")
    out = run_monitor("-c", str(cfg), "run", cwd=tmp_path, env={"MONITOR_WEB_TOKEN": ""})
    assert out.returncode == 2, out.stderr
    assert f"{cfg}:5: web.host: binding 0.0.0.0 (not loopback) needs a credential" in out.stderr
    assert "MONITOR_WEB_USER and MONITOR_WEB_PASSWORD" in out.stderr
    assert "Traceback" not in out.stderr
    half = run_monitor("-c", str(cfg), "run", cwd=tmp_path, env={"MONITOR_WEB_USER": "ana"})
    assert half.returncode == 2 and "MONITOR_WEB_PASSWORD is not" in half.stderr, half.stderr


def test_a_public_web_bind_with_user_and_password_asks_for_them(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, f"web: {{enabled: true, host: 0.0.0.0, port: {port}}}\n")
    proc, log = start(cfg, {"MONITOR_WEB_USER": "ana", "MONITOR_WEB_PASSWORD": "s3cret pass"})
    try:
        wait_for(lambda: "web.listening" in log.read_text(), 30)
        url = f"http://127.0.0.1:{port}/"
        anonymous = httpx.get(url)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith('Basic realm="monitor"')
        wrong = base64.b64encode(b"ana:wrong").decode()
        assert httpx.get(url, headers={"Authorization": f"Basic {wrong}"}).status_code == 401
        assert httpx.get(url, auth=("ana", "s3cret pass")).status_code == 200
    finally:
        stop(proc, log)


def test_a_web_port_in_use_stops_the_start_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = config(tmp_path, f"web: {{enabled: true, port: {port}}}\n")
        out = run_monitor("-c", str(cfg), "run", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert f"web: cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr
