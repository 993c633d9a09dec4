"""One monitor at a time on an SQLite file: a second `monitor run` (or a `monitor once` beside
it) is refused at once with exit 2 naming the first one's pid and host; a `kill -9` of the first
never blocks the next start, because the kernel drops the lock with the process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.app.instance import instance_lock, lock_path
from monitor.errors import AlreadyRunningError
from tests.fixtures.feed_server import FeedServer
from tests.support import wait_for


def _config(folder: Path, db: Path | str, feed: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "monitor.yaml"
    cfg.write_text(
        f"database: sqlite:///{db}\ndefaults: {{interval: 1h}}\nfeeds: [{feed}]\n",
        encoding="utf-8",
    )
    return cfg


class Proc:
    def __init__(self, cfg: Path, *args: str) -> None:
        self.log = cfg.parent / f"{args[0]}-{os.urandom(3).hex()}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(cfg), *args],
            cwd=cfg.parent,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
            env={**os.environ, "NO_PROXY": "*"},
        )

    def text(self) -> str:
        return self.log.read_text()


@pytest.fixture
def start() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def _running(started: list[Proc], cfg: Path, *args: str) -> Proc:
    p = Proc(cfg, *args)
    started.append(p)
    return p


def test_a_second_daemon_is_refused_and_kill_9_never_blocks_a_restart(
    tmp_path: Path, feed_server: FeedServer, start: list[Proc]
) -> None:
    db = tmp_path / "m.db"
    cfg = _config(tmp_path, db, feed_server.url("/feed.xml"))
    first = _running(start, cfg, "run")
    wait_for(lambda: "status=ok" in first.text(), 30)
    polls = len(feed_server.requests_for("/feed.xml"))

    second = _running(start, cfg, "run")
    assert second.proc.wait(30) == 2
    err = second.text()
    assert f"another monitor is already running on {db}" in err
    assert f"monitor run, pid {first.proc.pid} on host {socket.gethostname()}, since " in err
    assert "use PostgreSQL to run several instances" in err and "Traceback" not in err
    assert len(feed_server.requests_for("/feed.xml")) == polls  # it polled nothing
    assert first.proc.poll() is None  # and the first one runs on

    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    lock = tmp_path / "m.db-daemon.lock"
    assert json.loads(lock.read_text())["pid"] == first.proc.pid  # left behind by kill -9

    third = _running(start, cfg, "run")
    wait_for(lambda: "daemon.started" in third.text() or "status=" in third.text(), 30)
    wait_for(lambda: json.loads(lock.read_text() or "{}").get("pid") == third.proc.pid, 10)
    assert third.proc.poll() is None
    third.proc.send_signal(signal.SIGTERM)
    assert third.proc.wait(15) == 0
    assert lock.read_text() == ""  # a clean stop leaves no one named as running


def test_once_beside_a_daemon_is_refused_on_the_same_file_by_another_path(
    tmp_path: Path, feed_server: FeedServer, start: list[Proc]
) -> None:
    db = tmp_path / "data" / "m.db"
    db.parent.mkdir()
    feed = feed_server.url("/feed.xml")
    daemon = _running(start, _config(tmp_path / "a", db, feed), "run")
    wait_for(lambda: "status=ok" in daemon.text(), 30)

    # The same database through a symlinked folder and a relative path: still the same file.
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "link").symlink_to(tmp_path / "data")
    cfg_b = _config(tmp_path / "b", "link/m.db", feed)
    once = _running(start, cfg_b, "once", "--all")
    assert once.proc.wait(30) == 2
    assert f"(monitor run, pid {daemon.proc.pid} on host" in once.text()

    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(15) == 0
    again = _running(start, cfg_b, "once", "--all")
    assert again.proc.wait(60) == 0, again.text()


def test_the_lock_in_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with instance_lock(url, "once"):
        info = json.loads((tmp_path / "m.db-daemon.lock").read_text())
        assert info["pid"] == os.getpid() and info["command"] == "monitor once"
        # Another open file description in this very process is refused like another process.
        with pytest.raises(AlreadyRunningError) as refused, instance_lock(url):
            pass
        assert refused.value.exit_code == 2
        assert f"pid {os.getpid()}" in str(refused.value)
    with instance_lock(url):  # released on leaving
        pass
    # Nothing to lock: PostgreSQL (not this lock's business) and an in-memory database.
    assert lock_path("postgresql://127.0.0.1/test") is None
    assert lock_path("sqlite:///:memory:") is None
    with instance_lock("sqlite:///:memory:"), instance_lock("sqlite:///:memory:"):
        pass
