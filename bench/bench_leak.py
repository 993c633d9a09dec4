"""Where does the daemon's memory go? tracemalloc on an in-process daemon (issue 14).

    MONITOR_SHARED=/work/shared .venv/bin/python bench/bench_leak.py \
        [--feeds 200] [--every 30] [--minutes 20] [--span-minutes 5] [--at 10] [--novel K]

Runs the daemon's own code (``monitor.app.daemon.Daemon`` on a ``Service``, the default
settings but ``stories.span``) in this process against bench_soak's local feeds, with
tracemalloc tracing (6 frames). The story window's span is set below the configurable minimum
(``--span-minutes``) so that it is full after a few minutes. A snapshot is taken at ``--at``
minutes and at the end; the script prints the top growth between them grouped by traceback
and by file, and the sizes of the daemon's long-lived structures at both times.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_soak import LiveFeeds, news_texts, write_config  # noqa: E402


def sizes(svc: Any, daemon: Any) -> dict[str, int]:
    """Lengths of the structures that could grow without bound."""
    import monitor.matching.scan as scan
    import monitor.matching.text as text
    import monitor.stories.features as features
    import monitor.stories.window as window

    out: dict[str, int] = {}
    tr = svc.stories
    if tr is not None and tr._window is not None:
        w = tr._window
        out |= {
            "window.stories": len(w.stories),
            "window._index": len(w._index),
            "window._ids": len(w._ids),
            "window._ends": len(w._ends),
            "tracker._known": len(tr._known),
        }
    out |= {
        "daemon._due": len(daemon._due),
        "daemon._when": len(daemon._when),
        "daemon._states": len(daemon._states),
        "daemon._background": len(daemon._background),
        "scheduler jobs": len(daemon.scheduler.get_jobs()),
        "svc.storage_failures": len(svc.storage_failures),
        "features._TERM_MEMO": len(features._TERM_MEMO),
        "features._NAME_MEMO": len(features._NAME_MEMO),
        "window._WEIGHT": len(window._WEIGHT.__self__),  # type: ignore[attr-defined]
        "text._FOLD_MEMO": len(text._FOLD_MEMO),
        "text._FOLDED_TOKENS": len(text._FOLDED_TOKENS),
    }
    # The old generations (``monitor.memo.Generations``), where the memos have two.
    for name in ("_TERMS", "_NAMES"):
        if hasattr(features, name):
            out[f"features.{name}.old"] = len(getattr(features, name).old)
    weights = window._WEIGHT.__self__  # type: ignore[attr-defined]
    if hasattr(weights, "old"):
        out["window._WEIGHT.old"] = len(weights.old)
    if hasattr(text, "_FOLDED"):
        out["text._FOLDED.old"] = len(text._FOLDED.old)
    found: list[Any] = []
    top = svc.rules.matcher
    for holder in (top, getattr(top, "matcher", None)):
        if holder is not None and hasattr(holder, "__dict__"):
            found += [v for v in vars(holder).values() if isinstance(v, scan.Scanner)]
    for i, sc in enumerate(found):
        out[f"scanner{i}.memo+pairs"] = len(sc.memo) + len(sc.pairs)
        if hasattr(sc, "_memo"):
            out[f"scanner{i}.old"] = len(sc._memo.old) + len(sc._pairs.old)

    for name in dir(scan):
        obj = getattr(scan, name)
        if isinstance(obj, dict):
            out[f"scan.{name}"] = len(obj)
    out["gc objects"] = len(gc.get_objects())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--every", type=float, default=30.0)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--span-minutes", type=float, default=5.0)
    ap.add_argument("--at", type=float, default=10.0, help="first snapshot, minutes")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--novel", type=int, default=0, help="made-up words per item (bench_soak)")
    args = ap.parse_args()

    from monitor.app.daemon import Daemon
    from monitor.app.service import Service
    from monitor.config.settings import load_settings

    live = LiveFeeds(args.feeds, args.every, news_texts(), args.novel)
    tmp = tempfile.mkdtemp(prefix="leak-")
    folder = Path(tmp)
    config = write_config(folder, [live.url(i) for i in range(args.feeds)])
    import os

    os.chdir(folder)
    settings = load_settings(config)
    tracemalloc.start(6)
    svc = Service(settings)
    if svc.stories is not None:
        svc.stories.settings = dataclasses.replace(
            svc.stories.settings, span=timedelta(minutes=args.span_minutes)
        )
    shots: list[tuple[float, tracemalloc.Snapshot, dict[str, int]]] = []

    async def go() -> None:
        async with svc:
            daemon = Daemon(svc)
            loop = asyncio.get_running_loop()

            def sampler() -> None:
                began = time.time()
                for at in (args.at, args.minutes):
                    while time.time() - began < at * 60:
                        time.sleep(1)
                    done = threading.Event()

                    def take(at: float = at, done: threading.Event = done) -> None:
                        gc.collect()
                        shots.append((at, tracemalloc.take_snapshot(), sizes(svc, daemon)))
                        cur, _peak = tracemalloc.get_traced_memory()
                        print(
                            f"{at:.0f} min: traced {cur / 2**20:.1f} MB, bodies "
                            f"{live.bodies}, 304s {live.not_modified}",
                            flush=True,
                        )
                        done.set()

                    loop.call_soon_threadsafe(take)
                    done.wait()
                loop.call_soon_threadsafe(daemon.stop)

            threading.Thread(target=sampler, daemon=True).start()
            await daemon.run()

    asyncio.run(go())
    (t0, s0, z0), (t1, s1, z1) = shots
    hours = (t1 - t0) / 60
    filt = [tracemalloc.Filter(False, tracemalloc.__file__)]
    s0, s1 = s0.filter_traces(filt), s1.filter_traces(filt)
    total = sum(st.size_diff for st in s1.compare_to(s0, "filename"))
    print(
        f"\ntraced growth {t0:.0f}->{t1:.0f} min: {total / 2**20:+.2f} MB "
        f"({total / 2**20 / hours:+.1f} MB/h)"
    )
    print("\nby file:")
    for st in s1.compare_to(s0, "filename")[: args.top]:
        print(f"  {st.size_diff / 1024:+9.1f} KiB {st.count_diff:+8d}  {st.traceback[0]}")
    print("\nby line:")
    for st in s1.compare_to(s0, "lineno")[: args.top]:
        print(f"  {st.size_diff / 1024:+9.1f} KiB {st.count_diff:+8d}  {st.traceback[0]}")
    print("\nby traceback (top 12):")
    for st in s1.compare_to(s0, "traceback")[:12]:
        print(f"  {st.size_diff / 1024:+9.1f} KiB {st.count_diff:+8d}")
        for fr in st.traceback.format()[-12:]:
            print(f"      {fr}")
    print("\nstructures:")
    for k in z1:
        print(f"  {k:28s} {z0.get(k, 0):>9d} -> {z1[k]:>9d}")


if __name__ == "__main__":
    main()
