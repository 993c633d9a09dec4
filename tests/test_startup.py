"""What `monitor run` does before its first poll: only what the poll needs (bench/bench_startup.py
measures how long it takes)."""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from monitor.cli import LAZY_COMMANDS, cli
from tests.fixtures.feed_server import FeedServer
from tests.support import wait_for

DEFERRED = (
    "apprise",
    "css_inline",
    "jinja2",
    "psycopg",
    "monitor.delivery.deliver",
    "monitor.delivery.render",
    "monitor.notify.email",
    "monitor.cli.matching",
    "monitor.cli.backtest",
    "monitor.cli.delivery",
)
"""Not needed for a poll: imported at the first delivery, or never by `monitor run`."""


def test_every_command_is_registered_by_the_module_lazy_loading_names() -> None:
    for module in set(LAZY_COMMANDS.values()):
        importlib.import_module(module)
    registered = {name: cmd.callback.__module__ for name, cmd in cli.commands.items()}
    assert registered == LAZY_COMMANDS


def test_monitor_run_polls_before_importing_the_delivery_stack(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        f"""
database: sqlite:///{tmp_path / "m.db"}
feeds: [{feed_server.url("/feed.xml")}]
channels:
  mail: {{type: email, host: 127.0.0.1, port: 9, security: none,
          from: monitor@example.org, to: [analyst@example.org]}}
  files: {{type: file, path: {tmp_path / "out"}}}
subscriptions:
  - {{name: eil, channel: files, mode: alert}}
  - {{name: morgen, channel: mail, mode: digest, schedule: "0 7 * * *"}}
""",
        encoding="utf-8",
    )
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "monitor", "-c", str(cfg), "run"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        env={**os.environ, "NO_PROXY": "*"},
    )
    try:
        wait_for(lambda: " poll feed=" in log.read_text(), timeout=30)
        # The delivery stack comes after the poll, with the first delivery run.
        wait_for(
            lambda: (
                re.search(r"\|\s*monitor\.delivery\.deliver$", log.read_text(), re.M) is not None
            )
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    before_poll = text[: text.index(" poll feed=")]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", before_poll, re.M))
    assert "monitor.app.pipeline" in imported and "feedparser" in imported  # what a poll needs
    early = sorted(m for m in imported if m.split(".")[0] in DEFERRED or m in DEFERRED)
    assert early == []
    assert "Traceback" not in text
