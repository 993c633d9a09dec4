"""Digests of the story layer's output on the whole real news corpus: for a cost change, the
same digests before and after show that no decision moved.

    MONITOR_SEMANTIC=off .venv/bin/python bench/check_story_outputs.py [--code CHECKOUT]

Prints three SHA-256 digests:

- ``cli``: the bytes of ``monitor stories --format jsonl`` over every corpus file (id, story,
  new, score, reason per entry; undated entries are placed at the command's "now", which the
  digest does not depend on unless an undated entry's decision does);
- ``decisions``: every ``Decision`` field (story, new, score, reason, best, signals) of
  ``stories.assign`` over the same entries in publication order, undated ones at a fixed time;
- ``features``: ``extract`` of every entry (words, title, names, action, sorted).

``--code`` runs another checkout's ``monitor`` package, so that before and after are computed by
the same script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNDATED = datetime(2026, 1, 1, tzinfo=UTC)


def news_dir() -> Path:
    shared = os.environ.get("MONITOR_SHARED") or str(HERE.parent.parent / "shared")
    return Path(shared) / "corpus" / "news"


def cli_digest(code: Path, news: Path) -> str:
    files = [str(p) for p in sorted(news.glob("*.jsonl"))]
    env = dict(os.environ, PYTHONPATH=str(code), MONITOR_SEMANTIC="off")
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "stories", "--format", "jsonl", *files],
        capture_output=True,
        check=False,
        env=env,
        cwd=str(code),
    )
    if out.returncode not in (0, 1):
        raise SystemExit(out.stderr.decode("utf-8", "replace"))
    return hashlib.sha256(out.stdout).hexdigest()


def library_digests(news: Path) -> tuple[str, str, int]:
    from monitor.stories import StoryEntry, Window, assign, extract

    entries = []
    for path in sorted(news.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            raw = d.get("date") or ""
            when = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else UNDATED
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            entries.append(
                StoryEntry(
                    d["id"],
                    d.get("title") or "",
                    d.get("summary") or "",
                    d.get("language") or "",
                    when,
                    d.get("source") or "",
                    d.get("link") or "",
                )
            )
    entries.sort(key=lambda e: (e.published, e.id))
    feats = hashlib.sha256()
    for e in entries:
        f = extract(e)
        parts = [sorted(f.words), sorted(f.title), sorted(f.names), sorted(f.action)]
        feats.update(json.dumps(parts, ensure_ascii=False).encode("utf-8") + b"\n")
    window = Window()
    dec = hashlib.sha256()
    for e in entries:
        d = assign(e, window)
        row = [e.id, d.story, d.new, repr(d.score), d.reason, d.best, sorted(d.signals.items())]
        dec.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return dec.hexdigest(), feats.hexdigest(), len(entries)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", type=Path, default=HERE.parent)
    ap.add_argument("--no-cli", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(args.code))
    news = news_dir()
    decisions, features, n = library_digests(news)
    import monitor

    print(f"code {Path(monitor.__file__).parent.parent}, {n} entries")
    print(f"decisions {decisions}")
    print(f"features  {features}")
    if not args.no_cli:
        print(f"cli       {cli_digest(args.code, news)}")


if __name__ == "__main__":
    main()
