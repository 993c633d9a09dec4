"""Parse workers as real processes: a feed that does not parse fails alone, a worker killed with
-9 fails only the feed it held, and a `monitor run` killed with -9 leaves no process behind.
Every exception class of the package survives the pickle round trip that carries it home."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import pickle
import pkgutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import monitor
from monitor.app.service import Service
from monitor.config.settings import Settings
from monitor.errors import ConfigError, DeliveryError, FetchError, MonitorError, RuleError
from monitor.ingest.parse import parse_feed
from monitor.ingest.workers import ParseJob, ProcessParser, make_parser
from monitor.model import UTC
from tests.fixtures.feed_server import RSS, FeedServer
from tests.support import log_kv, wait_for

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

# --- every exception pickles ----------------------------------------------------------------


def _all_exception_classes() -> list[type[BaseException]]:
    """Exception classes defined anywhere in the package, and every MonitorError subclass."""
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(monitor.__path__, "monitor."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("monitor")
            ):
                found.add(value)
    todo: list[type[BaseException]] = [MonitorError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


# Keyword arguments that fill the optional attributes, so that they are checked too.
_RICH: dict[type[BaseException], dict[str, Any]] = {
    ConfigError: {"file": "monitor.yaml", "line": 3, "key": "fetch.max_body", "hint": "h"},
    RuleError: {"file": "r.yaml", "line": 7, "rule": "lithium", "key": "terms", "hint": "h"},
    FetchError: {"status": 429, "retry_after": 120.0, "temporary": False},
    DeliveryError: {"temporary": False, "retry_after": 60.0},
}


def _instance(cls: type[BaseException]) -> BaseException:
    """``cls`` made with a string for each required parameter (and the extras above)."""
    params = inspect.signature(cls.__init__).parameters.values()
    args = [
        f"<{p.name}>"
        for p in params
        if p.name != "self"
        and p.default is p.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    kwargs: dict[str, Any] = {
        p.name: f"<{p.name}>" for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    }
    accepted = inspect.signature(cls.__init__).parameters
    for c in reversed(cls.__mro__):
        kwargs.update((k, v) for k, v in _RICH.get(c, {}).items() if k in accepted)
    return cls(*args, **kwargs)


def test_the_walk_finds_the_exception_classes() -> None:
    names = {c.__name__ for c in _all_exception_classes()}
    assert {"MonitorError", "FeedError", "FetchError", "ParseError", "RuleError"} <= names
    assert "Unusable" in names  # fastparse's private one, found by the module walk


@pytest.mark.parametrize("cls", _all_exception_classes(), ids=lambda c: c.__qualname__)
def test_every_exception_class_survives_a_pickle_round_trip(cls: type[BaseException]) -> None:
    error = _instance(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)


# --- failures stay with their feed ----------------------------------------------------------


def _job(url: str, body: bytes) -> ParseJob:
    return ParseJob(body, url, None, None, NOW, None)


@pytest.fixture
def pool() -> Iterator[ProcessParser]:
    parser = ProcessParser(2)
    parser.start(wait=True)
    yield parser
    parser.close()


def _slow_body() -> bytes:
    """Not XML: feedparser's loose parser takes seconds over it (~0.5 MB/s)."""
    return b"<rss><channel><item><title>" + b"<p>Lithium &amp; <b>Kobalt</b> " * 200_000


async def _parse_all(parser: ProcessParser, jobs: list[ParseJob]) -> list[Any]:
    return await asyncio.gather(*(parser.parse(j) for j in jobs), return_exceptions=True)


def test_bad_bodies_in_workers_fail_alone_with_their_own_message(pool: ProcessParser) -> None:
    jobs = [_job(f"https://ok.example/{i}", RSS) for i in range(12)]
    jobs[3] = _job("https://bad.example/html", b"<!doctype html><html><body>Hi</body></html>")
    jobs[7] = _job("https://bad.example/gzip", b"\x1f\x8b\x08\x00" + os.urandom(200))
    jobs[9] = _job("https://bad.example/junk", RSS + b"<junk/>")
    results = asyncio.run(_parse_all(pool, jobs))
    errors = {
        j.feed_url: str(r) for j, r in zip(jobs, results, strict=True) if isinstance(r, Exception)
    }
    assert sorted(errors) == ["https://bad.example/gzip", "https://bad.example/html"]
    assert "the body is an HTML page" in errors["https://bad.example/html"]
    assert "gzip-compressed" in errors["https://bad.example/gzip"]
    assert pool.stats.in_workers == 12 and pool.stats.deaths == 0


def test_a_killed_worker_fails_only_the_feed_it_held(pool: ProcessParser) -> None:
    before = set(pool.pids())
    slow = _job("https://slow.example/feed", _slow_body())
    others = [_job(f"https://ok.example/{i}", RSS) for i in range(10)]

    async def go() -> tuple[Any, list[Any]]:
        doomed = asyncio.ensure_future(pool.parse(slow))
        await asyncio.to_thread(wait_for, lambda: slow.feed_url in pool.busy(), 10)
        rest = asyncio.ensure_future(_parse_all(pool, others))  # in flight beside it
        await asyncio.sleep(0.2)
        os.kill(pool.busy()[slow.feed_url], signal.SIGKILL)
        results = await rest
        return await asyncio.gather(doomed, return_exceptions=True), results

    [doomed], results = asyncio.run(go())
    assert isinstance(doomed, MonitorError)
    assert "the parser process died on this feed (killed by SIGKILL)" in str(doomed)
    assert all(not isinstance(r, BaseException) and r.entries for r in results), results
    assert pool.stats.deaths == 1
    after = set(pool.pids())
    assert len(after) == 2 and len(after - before) == 1  # one replacement, already serving
    again = asyncio.run(_parse_all(pool, others[:4]))
    assert all(not isinstance(r, BaseException) for r in again)


def test_a_worker_killed_while_idle_costs_no_feed(pool: ProcessParser) -> None:
    for pid in pool.pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    results = asyncio.run(
        _parse_all(pool, [_job(f"https://ok.example/{i}", RSS) for i in range(6)])
    )
    assert all(not isinstance(r, BaseException) for r in results), results
    assert pool.stats.deaths == 0 and pool.stats.started == 4


def test_until_workers_are_ready_bodies_parse_inline() -> None:
    parser = ProcessParser(2)
    try:
        feed = asyncio.run(parser.parse(_job("https://ok.example/", RSS)))
        assert feed.entries and parser.stats.inline == 1  # no wait for the start-up
        assert parser.started
        parser.start(wait=True)
        asyncio.run(parser.parse(_job("https://ok.example/", RSS)))
        assert parser.stats.in_workers == 1
    finally:
        parser.close()
    assert parser.pids() == []


def test_close_ends_the_worker_processes(pool: ProcessParser) -> None:
    pids = pool.pids()
    assert len(pids) == 2
    pool.close()
    assert not any(_running(pid) for pid in pids)


# --- the default configuration, real feeds over HTTP ----------------------------------------


def _good_corpus_feeds(corpus_dir: Path, n: int) -> list[Path]:
    """The first ``n`` corpus feeds (by name) that parse inline with entries."""
    good = []
    for path in sorted((corpus_dir / "feeds").glob("*.xml")):
        try:
            feed = parse_feed(path.read_bytes(), feed_url="https://x.example/", now=NOW)
        except MonitorError:
            continue
        if feed.entries:
            good.append(path)
        if len(good) == n:
            return good
    raise AssertionError(f"fewer than {n} parseable feeds in the corpus")


@pytest.mark.shared
@pytest.mark.slow
def test_default_settings_30_real_feeds_and_3_broken_give_exactly_3_failures(
    corpus_dir: Path,
    feed_server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not isinstance(make_parser(None), ProcessParser):
        pytest.skip("one core: the default parses inline")
    monkeypatch.setenv("NO_PROXY", "*")
    urls = []
    for path in _good_corpus_feeds(corpus_dir, 30):
        feed_server.add(f"/real/{path.name}", path.read_bytes())
        urls.append(feed_server.url(f"/real/{path.name}"))
    head = RSS[: RSS.index(b"<item>")]  # cut before the first entry
    broken = {
        "/html": (b"<!DOCTYPE html><html><head><title>Moved</title></head><body/></html>", "HTML"),
        "/truncated": (head, "broken rss20 document, no entries"),
        "/empty": (b"", "empty body"),
    }
    for route, (body, _) in broken.items():
        feed_server.add(route, body)
        urls.append(feed_server.url(route))
    settings = Settings.model_validate(
        {"database": f"sqlite:///{tmp_path / 'm.db'}", "feeds": urls}
    )
    assert settings.parse_workers is None  # the default: one worker per core

    async def go() -> Any:
        async with Service(settings) as svc:
            assert isinstance(svc.parser, ProcessParser)
            svc.parser.start(wait=True)  # all of them through the workers
            report = await svc.cycle()
            return report, svc.parser.stats

    report, stats = asyncio.run(go())
    failed = {p.feed: p.error for p in report.polls if p.status == "error"}
    assert len(failed) == 3, failed
    for route, (_, message) in broken.items():
        error = failed[feed_server.url(route)]
        assert message in error and "parser process died" not in error, error
    assert report.count("ok") == 30
    assert stats.in_workers == 33 and stats.deaths == 0


# --- one body limit -------------------------------------------------------------------------


def _big_rss(size: int) -> bytes:
    text = "Kobalt Lithium Nickel Gallium " * (size // 30 // 9 + 1)
    items = "".join(
        f"<item><guid>g{k}</guid><title>Lithium {k}</title><description>{text}</description></item>"
        for k in range(9)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>'
        f"{items}</channel></rss>"
    ).encode()


def _cycle(settings: Settings) -> Any:
    async def go() -> Any:
        async with Service(settings) as svc:
            return await svc.cycle()

    return asyncio.run(go())


def test_a_9_mib_feed_parses_with_the_default_limits(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "*")
    body = _big_rss(9 * 1024 * 1024)
    assert 9 * 1024 * 1024 < len(body) < 10 * 1024 * 1024
    feed_server.add("/big.xml", body)
    settings = Settings.model_validate(
        {"database": f"sqlite:///{tmp_path / 'm.db'}", "feeds": [feed_server.url("/big.xml")]}
    )
    [poll] = _cycle(settings).polls
    assert (poll.status, poll.entries, poll.error) == ("ok", 9, None)


def test_a_body_above_a_lowered_max_body_fails_naming_fetch_max_body(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "*")
    feed_server.add("/big.xml", _big_rss(200_000))
    local = tmp_path / "big.xml"
    local.write_bytes(_big_rss(200_000))
    settings = Settings.model_validate(
        {
            "database": f"sqlite:///{tmp_path / 'm.db'}",
            "feeds": [feed_server.url("/big.xml"), str(local), feed_server.url("/feed.xml")],
            "fetch": {"max_body": "100KiB"},
        }
    )
    polls = {p.feed: p for p in _cycle(settings).polls}
    for url in (feed_server.url("/big.xml"), str(local)):
        assert polls[url].status == "error"
        assert "raise fetch.max_body" in (polls[url].error or "")
    assert polls[feed_server.url("/feed.xml")].status == "ok"
    # and the parser applies the limit it is given, with the same hint
    job = ParseJob(_big_rss(200_000), "https://x.example/", None, None, NOW, None, max_body=1000)
    with pytest.raises(MonitorError, match=r"more than fetch\.max_body \(1,000\).*fetch\.max_body"):
        job.run()


def test_the_key_the_hints_name_exists() -> None:
    settings = Settings.model_validate({"fetch": {"max_body": "100KiB"}})
    assert settings.fetch.max_body == 100 * 1024


# --- kill -9 of a real daemon ---------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # state, ppid, ...


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie holds no memory; its parent reaps it)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.slow
def test_kill_9_of_monitor_run_leaves_no_process_behind(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    for i in range(12):
        feed_server.add(f"/k{i}.xml", RSS.replace(b"Rohstoff-News", f"Feed {i}".encode()))
    feeds = ", ".join(feed_server.url(f"/k{i}.xml") for i in range(12))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path / 'm.db'}\nparse_workers: 2\n"
        f"defaults: {{interval: 1s, min_interval: 1s}}\nfeeds: [{feeds}]\n",
        encoding="utf-8",
    )
    log = tmp_path / "daemon.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(config), "run"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "NO_PROXY": "*"},
        )
    try:
        # Polls every second: the workers start at the first one and stay busy.
        wait_for(
            lambda: sum("worker_main" in _cmdline(p) for p in _descendants(proc.pid)) == 2,
            timeout=30,
        )
        tree = _descendants(proc.pid)
        wait_for(lambda: log.read_text().count("status=") >= 24, timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_running(p) for p in tree):
            time.sleep(0.05)
        left = {p: _cmdline(p) for p in tree if _running(p)}
        assert not left, f"still running after the daemon's kill -9: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_that_cannot_start_leave_parsing_inline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")  # a worker that exits at once
    parser = ProcessParser(2)
    try:
        parser.start(wait=True)
        assert "exited at start (exit status 1)" in (parser.unavailable or "")
        feeds = asyncio.run(
            _parse_all(parser, [_job(f"https://ok.example/{i}", RSS) for i in range(3)])
        )
    finally:
        parser.close()
    assert all(not isinstance(f, BaseException) and f.entries for f in feeds), feeds
    assert parser.stats.inline == 3
    [logged] = [r for r in caplog.records if r.getMessage() == "parse.workers_unavailable"]
    assert "exited at start" in log_kv(logged)["error"]  # once, however many feeds follow
