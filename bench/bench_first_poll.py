"""First poll, whole path, one core: where the CPU goes (parse / convert / match / stories /
store / rest), against bare ``feedparser.parse`` of the same bytes in the same process.

    .venv/bin/python bench/bench_first_poll.py [--feeds-dir DIR] [--parser feedparser-rs]
        [--code OTHER_CHECKOUT] [--profile out.html] [--repeat 1]

``--code`` runs another checkout's ``monitor`` package (e.g. a ``git archive`` of the commit
before) with this script, so that before and after are measured by the same code, in the same
session. The feed server is a separate process (its CPU is not counted); parsing is inline
(``parse_workers: 0``), so every figure is this one process's CPU time (``process_time``).

The split is taken by timers around ``feedparser.parse``/``feedparser_rs.parse`` (parse),
``_convert_feed`` (convert: parse.py's conversion, the feedparser-rs shim counted under parse),
``Matcher.match`` (match), ``StoryTracker.assign`` (stories) and ``record_poll`` (store:
entries, matches, stories, search index, commit). "rest" is everything else: fetching, the
event loop, ``known_entries``, languages, logging.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _setup_path(code: Path | None) -> None:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(code if code is not None else HERE.parent))


TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
_STACK: list[str] = []


def _timed(name: str, fn: Any) -> Any:
    """``fn`` with its CPU time added to TIMES[name] (not to the enclosing timer's)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        _STACK.append(name)
        try:
            return fn(*args, **kwargs)
        finally:
            _STACK.pop()
            spent = time.process_time() - t0
            TIMES[name] += spent
            CALLS[name] += 1
            if _STACK:
                TIMES[_STACK[-1]] -= spent

    return wrapper


def instrument() -> None:
    import feedparser

    from monitor.app.stories import StoryTracker
    from monitor.ingest import parse
    from monitor.matching.match import Matcher
    from monitor.store.sql import SQLStorage

    feedparser.parse = _timed("parse", feedparser.parse)
    try:
        import feedparser_rs

        feedparser_rs.parse = _timed("parse", feedparser_rs.parse)
    except ImportError:
        pass
    parse.parse_feed = _timed("parse", parse.parse_feed)
    parse._convert_feed = _timed("convert", parse._convert_feed)
    # Patched on the classes for the benchmark's split (a profiler's job, done by hand).
    setattr(Matcher, "match", _timed("match", Matcher.match))  # noqa: B010
    setattr(StoryTracker, "assign", _timed("stories", StoryTracker.assign))  # noqa: B010
    setattr(SQLStorage, "record_poll", _timed("store", SQLStorage.record_poll))  # noqa: B010


def bare_feedparser(files: list[Path]) -> tuple[int, float]:
    import feedparser

    blobs = [f.read_bytes() for f in files]
    t0 = time.process_time()
    n = sum(len(feedparser.parse(b).entries) for b in blobs)
    return n, time.process_time() - t0


async def first_poll(config: Path, profile: Path | None) -> tuple[Any, float, float]:
    from monitor.app.service import Service
    from monitor.config.settings import load_settings

    settings = load_settings(config)
    async with Service(settings) as svc:
        # The workers module may have bound parse_feed before instrument() ran.
        from monitor.ingest import workers

        if hasattr(workers, "parse_feed"):
            from monitor.ingest import parse

            workers.parse_feed = parse.parse_feed
        TIMES.clear()
        CALLS.clear()
        profiler = None
        if profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.002)
            profiler.start()
        w0, c0 = time.perf_counter(), time.process_time()
        report = await svc.cycle(svc.feeds)
        w1, c1 = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.stop()
            assert profile is not None
            profile.write_text(profiler.output_html(), encoding="utf-8")
            text = profiler.output_text(unicode=False, color=False, show_all=False)
            profile.with_suffix(".txt").write_text(text, encoding="utf-8")
    return report, w1 - w0, c1 - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds-200")
    ap.add_argument("--parser", choices=["feedparser", "feedparser-rs"], default=None)
    ap.add_argument("--code", type=Path, default=None, help="another checkout's root")
    ap.add_argument("--profile", type=Path, default=None, help="write a pyinstrument HTML")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    _setup_path(args.code)
    from bench_ingest import ServerProcess, feed_files, write_config

    _setup_path(args.code)  # bench_ingest put this checkout first: the one asked for goes first

    files = feed_files(args.feeds_dir)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    n_fp, t_fp = bare_feedparser(files)
    instrument()
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(files[0].parent, validators=True) as s:
        work = Path(tmp)
        db, cfg = work / "first.db", work / "first.yaml"
        write_config(cfg, [s.base + f.name for f in files], db, 0, args.parser)
        report, wall, cpu = asyncio.run(first_poll(cfg, args.profile))
    rest = cpu - sum(TIMES.values())
    parts = " ".join(
        f"{k} {TIMES[k]:.2f}" for k in ("parse", "convert", "match", "stories", "store")
    )
    import monitor

    print(
        f"{args.label} ({Path(monitor.__file__).parent.parent}): load {load}; "
        f"{len(files)} feeds, {report.new} entries stored (bare feedparser {n_fp}); "
        f"bare feedparser {t_fp:.2f} s CPU; ours {cpu:.2f} s CPU ({wall:.2f} s wall) = "
        f"{cpu / t_fp:.2f}x; split s: {parts} rest {rest:.2f}; "
        f"per entry us: match {1e6 * TIMES['match'] / max(1, report.new):.0f} "
        f"stories {1e6 * TIMES['stories'] / max(1, report.new):.0f} "
        f"store {1e6 * TIMES['store'] / max(1, report.new):.0f}; "
        f"errors {report.count('error')}, matches {report.matches}"
    )


if __name__ == "__main__":
    main()
