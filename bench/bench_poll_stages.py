"""The first poll's story and store stages alone, on entries parsed and matched beforehand: CPU
per entry, a cProfile of one stage, or a fixed workload for callgrind.

    MONITOR_SEMANTIC=off .venv/bin/python bench/bench_poll_stages.py prepare [--feeds-dir DIR]
    MONITOR_SEMANTIC=off .venv/bin/python bench/bench_poll_stages.py run [--stage stories|store|
        both|none] [--profile out.prof] [--database postgresql://...] [--code CHECKOUT]

``prepare`` parses the generated feeds (``bench/gen_feeds.py``, default bench/_work/feeds-200)
with ``parse_feed``, gives them languages and matches them as a first poll would, and pickles
the result (bench/_work/stages.pickle). ``run`` places every feed's entries with a fresh
``StoryTracker`` (stories), then writes each feed's poll with ``record_poll`` into a fresh store
(store), and prints the CPU time of each stage and a digest of what it produced (the story
assignments; the rows of entries, matches and story_members), so that two checkouts can be
compared for cost and for output in the same session. ``--stage none`` loads the same inputs
and stops (the callgrind baseline to subtract).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PICKLE = HERE / "_work" / "stages.pickle"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def prepare(feeds_dir: Path) -> None:
    from monitor.app.pipeline import select_candidates, with_languages
    from monitor.app.service import Service
    from monitor.config.settings import load_settings
    from monitor.ingest.parse import parse_feed

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "c.yaml"
        cfg.write_text(f"database: sqlite:///{tmp}/x.db\nfeeds:\n  - http://x/\n", "utf-8")
        svc = Service(load_settings(cfg))
        matcher = svc.rules.matcher
        polls = []
        for path in sorted(feeds_dir.glob("*.xml")):
            url = f"http://127.0.0.1/{path.name}"
            parsed = parse_feed(path.read_bytes(), feed_url=url, now=NOW)
            entries = with_languages(select_candidates(parsed.entries, {}))
            matches = {e.id: matcher.match(e, None) for e in entries}
            polls.append((url, parsed.title or "", entries, matches))
        svc.storage.close()
    PICKLE.parent.mkdir(parents=True, exist_ok=True)
    PICKLE.write_bytes(pickle.dumps(polls))
    n = sum(len(p[2]) for p in polls)
    print(f"{len(polls)} feeds, {n} entries -> {PICKLE}")


def _rows_digest(storage: Any) -> str:
    h = hashlib.sha256()
    with storage._transaction("digest", write=False) as tx:
        for query in (
            "SELECT feed_url, entry_id, title, link, summary, content, published, updated, "
            "author, language, fingerprint, first_seen, last_changed, change_count FROM entries "
            "ORDER BY feed_url, entry_id",
            "SELECT feed_url, entry_id, rule_id, score, priority, hits, matched_at FROM matches "
            "ORDER BY feed_url, entry_id, rule_id",
            "SELECT feed_url, entry_id, story_id, published, language, outlet, masthead, new, "
            "score, reason FROM story_members ORDER BY feed_url, entry_id",
            "SELECT id, first_seen, last_seen, updated FROM stories ORDER BY id",
            "SELECT url, title, last_document FROM feeds ORDER BY url",
        ):
            for row in tx.rows(query):
                h.update(repr(tuple(str(v) for v in row)).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def run(
    stage: str, profile: Path | None, database: str | None, repeat: int = 1, feeds: int = 10**9
) -> None:
    from monitor.app.stories import StoryTracker
    from monitor.model import FeedState
    from monitor.store import open_storage

    polls = pickle.loads(PICKLE.read_bytes())[:feeds]
    n = sum(len(p[2]) for p in polls)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    prof = None
    if profile is not None:
        import cProfile

        prof = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        url = database or f"sqlite:///{tmp}/stages.db"
        if database is not None:
            _fresh_database(database)
        storage = open_storage(url)
        storage.sync_feeds(p[0] for p in polls)
        t_stories = float("inf")
        for _ in range(repeat):
            tracker = StoryTracker(storage)
            assert len(tracker.window) == 0  # the (empty) rebuild outside the timing
            assigned = []
            t0 = time.process_time()
            if prof is not None and stage in ("stories", "both"):
                prof.enable()
            for _url, masthead, entries, _matches in polls if stage != "none" else ():
                assigned.append(tracker.assign(entries, masthead))
            if prof is not None:
                prof.disable()
            t_stories = min(t_stories, time.process_time() - t0)
        h = hashlib.sha256()
        for poll in assigned:
            for a in poll:
                h.update(repr(a).encode("utf-8", "surrogatepass"))
        t_store = 0.0
        rows = "-"
        if stage in ("store", "both"):
            t0 = time.process_time()
            if prof is not None:
                prof.enable()
            for poll, stories in zip(polls, assigned, strict=True):
                feed_url, masthead, entries, matches = poll
                state = FeedState(url=feed_url, title=masthead, last_poll=NOW, last_success=NOW)
                storage.record_poll(state, entries, matches, NOW, stories=stories)
            if prof is not None:
                prof.disable()
            t_store = time.process_time() - t0
            rows = _rows_digest(storage)
        storage.close()
    if prof is not None and profile is not None:
        prof.dump_stats(str(profile))
    import monitor

    print(
        f"{Path(monitor.__file__).parent.parent}: load {load}; {n} entries; "
        f"stories {t_stories:.2f} s ({1e6 * t_stories / n:.0f} us/entry), "
        f"store {t_store:.2f} s ({1e6 * t_store / n:.0f} us/entry); "
        f"assignments {h.hexdigest()[:16]}, rows {rows}"
    )


def _fresh_database(url: str) -> None:
    """Drop and create the PostgreSQL database ``url`` names (it must be this bench's own)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    if not name.startswith("storycost"):
        raise SystemExit("--database must name a database of this bench's own (storycost...)")
    admin = url.rsplit("/", 1)[0] + "/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["prepare", "run"])
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds-200")
    ap.add_argument("--stage", choices=["stories", "store", "both", "none"], default="both")
    ap.add_argument("--profile", type=Path, default=None)
    ap.add_argument("--database", default=None, help="a PostgreSQL URL (emptied before/after)")
    ap.add_argument("--feeds", type=int, default=10**9, help="only the first N feeds")
    ap.add_argument("--repeat", type=int, default=1, help="stories: best of N fresh windows")
    ap.add_argument("--code", type=Path, default=None, help="another checkout's root")
    args = ap.parse_args()
    sys.path.insert(0, str(args.code or HERE.parent))
    if args.what == "prepare":
        prepare(args.feeds_dir)
    else:
        run(args.stage, args.profile, args.database, args.repeat, args.feeds)


if __name__ == "__main__":
    main()
