"""The conversion layer alone (parsed result -> entries), us per entry, both engines, one core.

    .venv/bin/python bench/bench_convert.py [FEEDS_DIR] [--repeat 3]

FEEDS_DIR defaults to the real corpus, ../shared/corpus/feeds (MONITOR_SHARED overrides
../shared). Feeds are parsed beforehand; only ``_convert_feed`` is timed (process CPU time,
best of ``--repeat``), and for feedparser-rs also its shim (its objects -> feedparser's shape).
Bodies that feedparser-rs cannot use (it reports a problem, parse_feed falls back) are left out
of its figures. For counts that do not depend on the machine's load, run the conversion under
``valgrind --tool=callgrind`` with PYTHONHASHSEED=0 (see bench/RESULTS.md, part 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_parse  # noqa: E402

from monitor.errors import MonitorError  # noqa: E402
from monitor.ingest import fastparse  # noqa: E402
from monitor.ingest import parse as parse_module  # noqa: E402

SHARED = Path(os.environ.get("MONITOR_SHARED", HERE.parent.parent / "shared"))


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return min(times)


def convert(raws: list[fastparse.RawFeed], blobs: list[bytes]) -> None:
    for raw, blob in zip(raws, blobs, strict=True):
        parse_module._convert_feed(
            raw, blob, bench_parse.URL, bench_parse.URL, bench_parse.NOW, None, []
        )


def converts(raw: fastparse.RawFeed, blob: bytes) -> bool:
    try:
        convert([raw], [blob])
    except MonitorError:
        return False
    return True


def rs_parsed(blobs: list[bytes]) -> tuple[list[bytes], list[fastparse.RawFeed]]:
    """The bodies feedparser-rs can read (the others fall back to feedparser), and its results."""
    usable: list[bytes] = []
    raws: list[fastparse.RawFeed] = []
    for blob in blobs:
        try:
            raws.append(fastparse.parse(blob, {}))
        except fastparse.Unusable:
            continue
        usable.append(blob)
    return usable, raws


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("feeds_dir", nargs="?", type=Path, default=SHARED / "corpus" / "feeds")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    blobs = [b for f in sorted(args.feeds_dir.glob("*.xml")) if (b := f.read_bytes()).strip()]
    if not blobs:
        raise SystemExit(f"no feeds in {args.feeds_dir}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{len(blobs)} feeds from {args.feeds_dir}, best of {args.repeat}, load {load}")
    # Bodies that are no feed at all (parse_feed raises) have nothing to convert.
    kept = [(bench_parse.feedparser_raw(b), b) for b in blobs]
    kept = [(r, b) for r, b in kept if converts(r, b)]
    raws, blobs = [r for r, _ in kept], [b for _, b in kept]
    n = sum(len(r.entries) for r in raws)
    fp = best(lambda: convert(raws, blobs), args.repeat)
    print(f"  after feedparser:    conversion {fp / n * 1e6:6.1f} us per entry ({n} entries)")
    if not fastparse.available():
        print("  feedparser-rs is not installed: pip install -e '.[fast]' to compare it")
        return
    usable, rs_raws = rs_parsed(blobs)
    m = sum(len(r.entries) for r in rs_raws)
    bare = best(lambda: [bench_parse.rs_bare(b) for b in usable], args.repeat)
    shimmed = best(lambda: [fastparse.parse(b, {}) for b in usable], args.repeat)
    rs = best(lambda: convert(rs_raws, usable), args.repeat)
    shim = max(shimmed - bare, 0.0)
    print(
        f"  after feedparser-rs: conversion {rs / m * 1e6:6.1f} us per entry, shim "
        f"{shim / m * 1e6:.1f} us, both {(shim + rs) / m * 1e6:.1f} us "
        f"({m} entries, {len(usable)} of {len(blobs)} bodies usable)"
    )


if __name__ == "__main__":
    main()
