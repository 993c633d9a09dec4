"""Story assignment speed and window memory on the real news corpus (../shared/corpus/news).

    python bench/bench_stories.py [../shared/corpus/news]

All 22k items (undated ones at a fixed time) go through ``assign`` in publication order; prints
the median and p99 per entry beside the baseline in the same run (folding + tokenizing the same
text, the floor any text comparison pays), the window's peak size and memory (tracemalloc), and
then the wall and CPU time (all processes) of ``monitor stories --format jsonl`` over the same
files.

"1,000 feeds": the same items re-timed one after another at 20,000 a day (1,000 feeds x 20
entries), so the window fills as a daemon's would; prints the bytes the window retains per story
and per entry, and that figure scaled to a full ``Settings.span``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.matching.text import fold, tokens  # noqa: E402
from monitor.stories import StoryEntry, Window, assign  # noqa: E402

UNDATED = datetime(2026, 1, 1, tzinfo=UTC)


def load(news: Path) -> list[dict[str, str]]:
    rows = []
    for path in sorted(news.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            rows.append(
                {
                    "id": d["id"],
                    "title": d["title"],
                    "summary": d["summary"],
                    "language": d["language"],
                    "published": d["date"],
                    "source": d["source"],
                    "link": d["link"],
                }
            )
    return rows


def entry(d: dict[str, str]) -> StoryEntry:
    raw = d["published"]
    when = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else UNDATED
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return StoryEntry(d["id"], d["title"], d["summary"], d["language"], when, d["source"])


def cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    news = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "corpus" / "news"
    rows = load(news)
    entries = sorted((entry(d) for d in rows), key=lambda e: (e.published, e.id))
    print(f"{len(entries)} entries from {news.name}/, load avg {os.getloadavg()[0]:.2f}")

    base = []
    for e in entries:
        t = time.perf_counter()
        tokens(fold(f"{e.title} {e.summary}"))
        base.append(time.perf_counter() - t)

    window = Window()
    times, peak_stories = [], 0
    new = 0
    tracemalloc.start()
    for e in entries:
        t = time.perf_counter()
        d = assign(e, window)
        times.append(time.perf_counter() - t)
        new += d.new
        peak_stories = max(peak_stories, len(window))
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Timing again without tracemalloc (it slows allocation down).
    window, times = Window(), []
    for e in entries:
        t = time.perf_counter()
        assign(e, window)
        times.append(time.perf_counter() - t)
    med, p99 = statistics.median(times), sorted(times)[int(len(times) * 0.99)]
    bmed = statistics.median(base)
    print(f"baseline fold+tokens   median {bmed * 1e6:7.1f} us")
    print(
        f"assign                 median {med * 1e6:7.1f} us  p99 {p99 * 1e6:7.1f} us  "
        f"({med / bmed:.1f}x baseline)  total {sum(times):.2f} s"
    )
    print(
        f"stories {new} for {len(entries)} entries; window peak {peak_stories} stories, "
        f"traced peak {peak_bytes / 2**20:.1f} MiB "
        f"({peak_bytes / max(peak_stories, 1):.0f} B/story)"
    )

    feeds_day = 1000 * 20
    step = timedelta(days=1) / feeds_day
    timed = [replace(e, published=UNDATED + i * step) for i, e in enumerate(entries)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    window = Window()
    for e in timed:
        assign(e, window)
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    filled, window, times = len(window), Window(), []  # timing again without tracemalloc
    for e in timed:
        t = time.perf_counter()
        assign(e, window)
        times.append(time.perf_counter() - t)
    hours = (timed[-1].published - timed[0].published) / timedelta(hours=1)
    span_h = window.settings.span / timedelta(hours=1)
    per_story = kept / max(filled, 1)
    full = kept * min(span_h / hours, 10.0) if hours else 0.0
    med, p99 = statistics.median(times), sorted(times)[int(len(times) * 0.99)]
    print(
        f"1,000 feeds x 20/day   {len(timed)} entries over {hours:.1f} h: window {filled} "
        f"stories, retained {kept / 2**20:.1f} MiB ({per_story:.0f} B/story, "
        f"{kept / len(timed):.0f} B/entry); full {span_h:.0f} h span ~{full / 2**20:.0f} MiB; "
        f"assign median {med * 1e6:.1f} us p99 {p99 * 1e6:.1f} us"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "all.jsonl"
        path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in rows))
        exe = [sys.executable, "-m", "monitor", "stories", "--format", "jsonl", str(path)]
        c0, t0 = cpu(), time.perf_counter()
        out = subprocess.run(exe, capture_output=True, check=False, cwd=ROOT)
        wall, used = time.perf_counter() - t0, cpu() - c0
        lines = out.stdout.count(b"\n")
        print(
            f"monitor stories        {lines} lines, exit {out.returncode}, wall {wall:.2f} s, "
            f"CPU {used:.2f} s ({len(rows) / wall:.0f} entries/s)"
        )


if __name__ == "__main__":
    main()
