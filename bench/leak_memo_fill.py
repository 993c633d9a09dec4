"""Fill the story features' memos from the shared news corpus and trace their size (issue 14).

MONITOR_SHARED=/work/shared .venv/bin/python bench/leak_memo_fill.py
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_soak import news_texts

import monitor.stories.features as features
from monitor.stories import StoryEntry


def main() -> None:
    texts = news_texts(200_000)
    print("texts", len(texts))
    tracemalloc.start(1)
    base = tracemalloc.get_traced_memory()[0]
    began = time.time()
    when = datetime(2026, 1, 1, tzinfo=UTC)
    for n, (title, summary) in enumerate(texts):
        features.extract(StoryEntry(f"e{n}", title, summary, "", when), False)
        if n % 5000 == 0 or n == len(texts) - 1:
            traced = (tracemalloc.get_traced_memory()[0] - base) / 2**20
            print(
                f"{n:6d} texts: term memo {len(features._TERM_MEMO)}, name memo "
                f"{len(features._NAME_MEMO)}, traced {traced:.1f} MB, {time.time() - began:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
