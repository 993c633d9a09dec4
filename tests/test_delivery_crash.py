"""`monitor once` killed with SIGKILL while it sends a digest, then run again: real processes, a
real SMTP server that stops answering at the chosen moment, the store on disk.

Killed before the server accepted: the message arrives exactly once. Killed after the server
accepted but before the process recorded it (the documented window): it arrives a second time,
under the same Message-ID, and never a third. The same for story alerts: each story once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.feed_server import FeedServer
from tests.fixtures.smtp_server import ReceivedMail, SmtpServer, start
from tests.fixtures.storage import raw_execute
from tests.story_feeds import EVENTS, rss, story_items


class StallingSmtp(SmtpServer):
    """Stalls at DATA while ``stall`` is set: before accepting, or after (reply never sent)."""

    def __init__(self) -> None:
        super().__init__()
        self.stall: str | None = None  # "before" | "after" | None
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall is None:
            return await super().handle_DATA(server, session, envelope)
        if self.stall == "after":
            with self._lock:
                self.received.append(
                    ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content)
                )
        self.entered.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return "451 4.3.0 too late"


@pytest.fixture
def stalling_smtp() -> Iterator[StallingSmtp]:
    server = start(StallingSmtp())
    yield server
    server.release.set()
    server.stop()


def write_config(tmp_path: Path, db_url: str, feed_server: FeedServer, smtp: SmtpServer) -> Path:
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        f"""
database: {db_url}
feeds: [{feed_server.url("/feed.xml")}]
channels:
  mail: {{type: email, host: 127.0.0.1, port: {smtp.port}, security: none, timeout: 20,
          from: monitor@example.org, to: [analyst@example.org]}}
subscriptions:
  - {{name: morgen, channel: mail, mode: digest, schedule: "0 7 * * *", lookback: 3650d}}
""",
        encoding="utf-8",
    )
    return cfg


def monitor(cfg: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(cfg), *args],
        cwd=cfg.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_PROXY": "*"},
    )


def states(db_url: str) -> list[tuple[str, int]]:
    rows = raw_execute(db_url, "SELECT state, attempts FROM deliveries ORDER BY id")
    return [(str(state), int(attempts)) for state, attempts in rows]


@pytest.mark.parametrize("moment", ["before", "after"])
def test_killed_while_sending_then_restarted(
    moment: str,
    tmp_path: Path,
    storage_url: str,
    feed_server: FeedServer,
    stalling_smtp: StallingSmtp,
) -> None:
    """On SQLite and on PostgreSQL (``storage_url`` is parametrized over both)."""
    cfg = write_config(tmp_path, storage_url, feed_server, stalling_smtp)
    stalling_smtp.stall = moment
    first = monitor(cfg, "once")
    try:
        assert stalling_smtp.entered.wait(60), "the digest never reached the SMTP server"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert states(storage_url) == [("sending", 1)]  # claimed, then the process died

    stalling_smtp.stall = None
    stalling_smtp.release.set()
    second = monitor(cfg, "once")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "Delivered 1 digest" in out and "Traceback" not in err
    assert "send.recovered" in err
    assert states(storage_url) == [("sent", 2)]
    mails = stalling_smtp.messages()
    expected = 1 if moment == "before" else 2  # "after": the one documented repeat
    assert len(mails) == expected
    assert len({m["Message-ID"] for m in mails}) == 1
    assert "gallium" in mails[-1].get_body(("plain",)).get_content().lower()  # type: ignore[union-attr]

    third = monitor(cfg, "once", "--all")
    third.communicate(timeout=60)
    assert len(stalling_smtp.messages()) == expected  # never once more


# --- story alerts: one alert per story, killed while one of them is being sent -----------------

STORIES, OUTLETS = 3, 3


def write_alert_config(
    tmp_path: Path, db_url: str, feed_server: FeedServer, smtp: SmtpServer
) -> Path:
    feed_server.add(
        "/stories.xml", rss([item for _, _, item in story_items(STORIES, OUTLETS, tag="k")])
    )
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        f"""
database: {db_url}
feeds: [{feed_server.url("/stories.xml")}]
channels:
  mail: {{type: email, host: 127.0.0.1, port: {smtp.port}, security: none, timeout: 20,
          from: monitor@example.org, to: [analyst@example.org]}}
subscriptions:
  - {{name: eil, channel: mail, mode: alert, rules: [gallium-germanium], updates: thread,
      update_interval: 0s}}
""",
        encoding="utf-8",
    )
    return cfg


def story_of_mail(mail: Any) -> str:
    """The event a mail is about (its subject names the alerting entry's title)."""
    subject = str(mail["Subject"])
    return next(title for title, _ in EVENTS[:STORIES] if title in subject)


@pytest.mark.parametrize("moment", ["before", "after"])
def test_story_alerts_killed_while_sending_then_restarted(
    moment: str,
    tmp_path: Path,
    storage_url: str,
    feed_server: FeedServer,
    stalling_smtp: StallingSmtp,
) -> None:
    """Nine entries, three stories: three alerts, whatever the kill; no story alerted twice
    (the "after" window repeats one message under its own Message-ID), none lost."""
    cfg = write_alert_config(tmp_path, storage_url, feed_server, stalling_smtp)
    stalling_smtp.stall = moment
    first = monitor(cfg, "once")
    try:
        assert stalling_smtp.entered.wait(60), "no alert reached the SMTP server"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert sorted(states(storage_url)) == [("pending", 0)] * (STORIES - 1) + [("sending", 1)]

    stalling_smtp.stall = None
    stalling_smtp.release.set()
    second = monitor(cfg, "once")
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "Traceback" not in err and "send.recovered" in err
    assert sorted(s for s, _ in states(storage_url)) == ["sent"] * STORIES  # no update: all new
    mails = stalling_smtp.messages()
    by_id: dict[str, set[str]] = {}
    for m in mails:
        by_id.setdefault(m["Message-ID"], set()).add(story_of_mail(m))
    assert len(by_id) == STORIES and all(len(s) == 1 for s in by_id.values())
    assert {s for ss in by_id.values() for s in ss} == {t for t, _ in EVENTS[:STORIES]}
    assert len(mails) == STORIES + (moment == "after")  # the one documented repeat

    third = monitor(cfg, "once", "--all")
    third.communicate(timeout=60)
    assert len(stalling_smtp.messages()) == len(mails)  # never once more
