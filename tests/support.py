"""Small helpers shared by tests that drive real processes and servers."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def log_kv(record: logging.LogRecord) -> dict[str, Any]:
    """The key-values ``monitor.logs.event`` attached to ``record`` (``extra={"monitor_kv": ...}``);
    a KeyError if it has none."""
    kv = record.__dict__["monitor_kv"]
    assert isinstance(kv, dict)
    return kv


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``check`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


# --- a user's own monitor (monitor init), as the init and wheel tests use it -------------------
TUNGSTEN_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
<channel>
  <title>Rohstoff-Ticker</title>
  <link>https://example.org/</link>
  <description>Metals</description>
  <language>de</language>
  <item>
    <title>Wolframpreis auf Rekordhoch: Mine in Portugal nimmt Betrieb wieder auf</title>
    <guid>https://example.org/news/wolfram</guid>
    <pubDate>Tue, 04 Mar 2025 08:00:00 GMT</pubDate>
    <description>Scheelit aus Panasqueira deckt die steigende Nachfrage.</description>
  </item>
  <item>
    <title>Lithium: neue Förderung in Portugal genehmigt</title>
    <guid>https://example.org/news/lithium</guid>
    <pubDate>Tue, 04 Mar 2025 07:00:00 GMT</pubDate>
    <description>Die Mine soll ab 2027 Spodumen liefern.</description>
  </item>
</channel>
</rss>
""".encode().replace(
    # Dated today: a digest takes what was published within its look-back (2 days).
    b"Tue, 04 Mar 2025",
    format_datetime(datetime.now(UTC), usegmt=True)[:16].encode(),
)


def add_feed_to_starter(config: Path, url: str) -> None:
    """What a user does after `monitor init`: replace the starter's `feeds: []` with a feed."""
    text = config.read_text(encoding="utf-8")
    assert text.count("\nfeeds: []\n") == 1, "the starter's feeds line changed"
    config.write_text(text.replace("\nfeeds: []\n", f"\nfeeds:\n  - {url}\n"), encoding="utf-8")


def matched_rules(once_stdout: str) -> dict[str, set[str]]:
    """`monitor once` output -> {entry title: rule ids it matched}."""
    out: dict[str, set[str]] = {}
    lines = once_stdout.splitlines()
    for title, rules in itertools.pairwise(lines):
        if title.startswith("  * ") and rules.strip().startswith("["):
            ids = rules.strip().strip("[]").split(", ")
            out[title[4:]] = {i.rsplit(" ", 1)[0] for i in ids}
    return out


def run_monitor(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m monitor ARGS`` as a real process in ``cwd``: its exit code, stdout, stderr."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_PROXY": "*", **(env or {})},
    )
