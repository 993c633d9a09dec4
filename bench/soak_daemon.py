"""`monitor run` for the soak, with bench-only knobs (issue 14). Not a product entry point.

    python bench/soak_daemon.py [--span-minutes M] [--trim-every S] [--trim-log PATH] -- ARGS

Runs ``monitor.cli.main(ARGS)`` in this process after:

- ``--span-minutes``: the story window's span set to M minutes, below the configurable minimum
  (1 h), so that an accelerated soak has a full window after a few minutes;
- ``--trim-every``: a thread that calls glibc's ``malloc_trim(0)`` every S seconds and appends
  ``seconds rss_before_kib rss_after_kib`` to ``--trim-log`` (to measure what the allocator
  holds that Python freed);
- ``--known``: the story tracker remembers N members instead of ``FOLLOW_KNOWN`` (50,000), so
  that an accelerated soak reaches that cap too within its run;
- ``--trace-every``: ``tracemalloc`` on (3 frames), and every S seconds the traced total and the
  15 lines whose traced memory grew most since the first snapshot and since the last one
  appended to ``--trace-log``
  (what Python objects a growth is made of; tracing costs CPU and some memory of its own).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def trimmer(every: float, log: Path) -> None:
    libc = ctypes.CDLL("libc.so.6")
    began = time.time()
    while True:
        time.sleep(every)
        before = rss_kib()
        libc.malloc_trim(0)
        after = rss_kib()
        with log.open("a") as f:
            f.write(f"{time.time() - began:.0f} {before} {after}\n")


def tracer(every: float, log: Path) -> None:
    import tracemalloc

    first = last = None
    began = time.time()
    while True:
        time.sleep(every)
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        current, peak = tracemalloc.get_traced_memory()
        lines = [
            f"--- {time.time() - began:.0f} s: traced {current / 2**20:.1f} MiB, "
            f"peak {peak / 2**20:.1f} MiB, rss {rss_kib() / 1024:.1f} MiB"
        ]
        if first is None or last is None:
            first = snap
        else:
            for title, base in (("since the first snapshot", first), ("since the last", last)):
                lines.append(f"  grew most {title}:")
                for stat in snap.compare_to(base, "lineno")[:15]:
                    lines.append(f"{stat.size_diff / 2**20:+8.2f} MiB {stat.count_diff:+8d} {stat}")
        last = snap
        with log.open("a") as f:
            f.write("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--span-minutes", type=float, default=0.0)
    ap.add_argument("--trim-every", type=float, default=0.0)
    ap.add_argument("--trim-log", default="trim.log")
    ap.add_argument("--known", type=int, default=0)
    ap.add_argument("--trace-every", type=float, default=0.0)
    ap.add_argument("--trace-log", default="trace.log")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    if args.span_minutes:
        import monitor.app.stories as stories

        init = stories.StoryTracker.__init__
        span = timedelta(minutes=args.span_minutes)

        def patched(self: Any, *a: Any, **k: Any) -> None:
            init(self, *a, **k)
            self.settings = dataclasses.replace(self.settings, span=span)

        stories.StoryTracker.__init__ = patched  # type: ignore[method-assign]
    if args.known:
        import monitor.app.stories as tracker

        tracker.FOLLOW_KNOWN = args.known
    if args.trim_every:
        threading.Thread(
            target=trimmer, args=(args.trim_every, Path(args.trim_log)), daemon=True
        ).start()
    if args.trace_every:
        import tracemalloc

        tracemalloc.start(3)
        threading.Thread(
            target=tracer, args=(args.trace_every, Path(args.trace_log)), daemon=True
        ).start()
    from monitor.cli import main as cli

    sys.argv = ["monitor", *rest]
    cli(rest)


if __name__ == "__main__":
    main()
