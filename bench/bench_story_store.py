"""Stories in the store: what assigning in the poll's transaction costs, and what rebuilding the
window at start costs, on the real news corpus (../shared/corpus/news).

    python bench/bench_story_store.py [--per-day 20000] [../shared/corpus/news]

The corpus items are re-timed one after another at ``--per-day`` entries a day (1,000 feeds x 20
entries is 20,000 a day), spread over 1,000 feeds, and written poll by poll (20 entries) into a
fresh SQLite store twice in the same run: the baseline without stories, then with a
``StoryTracker`` assigning each poll's new entries inside ``record_poll``. Then a new tracker
rebuilds its window from the store (what a restarted daemon or each `monitor once` pays at its
first poll), beside the baseline of only reading the same rows. Wall and CPU time (all processes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.app.stories import StoryTracker  # noqa: E402
from monitor.model import Entry, FeedState  # noqa: E402
from monitor.store.sqlite import SQLiteStorage  # noqa: E402
from monitor.stories import Settings  # noqa: E402

FEEDS = 1000
PER_POLL = 20
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def load(news: Path, per_day: int) -> list[Entry]:
    rows = []
    for path in sorted(news.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            rows.append(json.loads(line))
    rows = list({d["id"]: d for d in rows}.values())  # an id once (a feed repeats none)
    rows.sort(key=lambda d: (d.get("date") or "", d["id"]))
    step = timedelta(days=1) / per_day
    out = []
    for n, d in enumerate(rows):
        out.append(
            Entry(
                feed_url=f"https://feed{(n // PER_POLL) % FEEDS}.example/rss",
                id=d["id"],
                title=d["title"],
                link=d.get("link") or None,
                summary=d["summary"],
                content="",
                published=T0 + n * step,
                language=d["language"],
            )
        )
    return out


def fill(db: Path, entries: list[Entry], tracker_on: bool) -> tuple[float, float, float]:
    """(wall, CPU, wall of the assignment alone)."""
    store = SQLiteStorage(db)
    tracker = StoryTracker(store) if tracker_on else None
    wall, c = time.perf_counter(), cpu()
    assigning = 0.0
    for start in range(0, len(entries), PER_POLL):
        batch = entries[start : start + PER_POLL]
        feed = batch[0].feed_url
        batch = [e for e in batch if e.feed_url == feed]
        t = time.perf_counter()
        stories = tracker.assign(batch) if tracker is not None else []
        assigning += time.perf_counter() - t
        store.record_poll(FeedState(url=feed), batch, {}, batch[-1].published, stories=stories)
    result = time.perf_counter() - wall, cpu() - c, assigning
    store.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("news", nargs="?", default=str(ROOT.parent / "shared" / "corpus" / "news"))
    ap.add_argument("--per-day", type=int, default=20000)
    args = ap.parse_args()
    entries = load(Path(args.news), args.per_day)
    span = Settings().span
    print(
        f"{len(entries)} entries at {args.per_day:,}/day over {FEEDS} feeds, "
        f"polls of {PER_POLL}; span {span}; load avg {os.getloadavg()[0]:.2f}, "
        f"{os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = fill(Path(tmp) / "base.db", entries, False)
        with_stories = fill(Path(tmp) / "stories.db", entries, True)
        n = len(entries)
        print(
            f"  record_poll, baseline      wall {base[0]:7.2f} s  CPU {base[1]:7.2f} s  "
            f"({1e3 * base[0] / n:.3f} ms/entry)"
        )
        print(
            f"  record_poll + stories      wall {with_stories[0]:7.2f} s  "
            f"CPU {with_stories[1]:7.2f} s  "
            f"({1e3 * with_stories[0] / n:.3f} ms/entry, {with_stories[0] / base[0]:.2f}x baseline)"
        )
        writing = with_stories[0] - with_stories[2]
        print(
            f"    of which assign (pure)   wall {with_stories[2]:7.2f} s; the store's part "
            f"{writing:.2f} s ({writing / base[0]:.2f}x baseline)"
        )
        store = SQLiteStorage(Path(tmp) / "stories.db")
        wall, c = time.perf_counter(), cpu()
        rows = store.story_window(span)
        read = time.perf_counter() - wall, cpu() - c
        tracker = StoryTracker(store)
        wall, c = time.perf_counter(), cpu()
        window = tracker.window
        rebuilt = time.perf_counter() - wall, cpu() - c
        print(
            f"  window read (baseline)     wall {read[0]:7.2f} s  CPU {read[1]:7.2f} s  "
            f"({len(rows)} members)"
        )
        print(
            f"  window rebuild             wall {rebuilt[0]:7.2f} s  CPU {rebuilt[1]:7.2f} s  "
            f"({len(window)} stories, {len(rows)} members; {rebuilt[0] / max(read[0], 1e-9):.1f}x "
            "the read)"
        )
        store.close()


if __name__ == "__main__":
    main()
