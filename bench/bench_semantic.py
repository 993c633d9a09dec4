"""Semantic layer cost: model load time, headlines embedded per second, memory (issue 11).

Embeds the titles (+ summary, first 300 chars) of a stated sample of /work/shared/corpus/news,
in batches of --batch, with the default embedder (USE v3). Prints wall and process CPU time
beside each other, and a baseline in the same run: the same texts only lower-cased and split
(what the lexical matcher's normalisation roughly costs), so the ratio says what embedding adds.

    .venv/bin/python bench/bench_semantic.py --sample 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from monitor.embed import load_embedder

CORPUS = Path("/work/shared/corpus/news")


def texts(sample: int) -> list[str]:
    out: list[str] = []
    files = sorted(CORPUS.glob("*.jsonl"))
    per_file = max(1, sample // len(files))
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if n >= per_file:
                    break
                item = json.loads(line)
                out.append(f"{item.get('title', '')}. {(item.get('summary') or '')[:300]}")
    return out[:sample]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    items = texts(args.sample)
    print(f"sample: {len(items)} items from {CORPUS} (equal share per file)")

    w0, c0 = time.perf_counter(), time.process_time()
    base = [t.lower().split() for t in items]
    bw, bc = time.perf_counter() - w0, time.process_time() - c0
    assert len(base) == len(items)

    rss0 = rss_mb()
    w0, c0 = time.perf_counter(), time.process_time()
    embedder = load_embedder()
    embedder.embed(["warm-up"])
    lw, lc = time.perf_counter() - w0, time.process_time() - c0
    print(f"model load + first embed: wall {lw:.2f} s, CPU {lc:.2f} s, max RSS {rss_mb():.0f} MB")

    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(items), args.batch):
        embedder.embed(items[i : i + args.batch])
    ew, ec = time.perf_counter() - w0, time.process_time() - c0
    w1, c1 = time.perf_counter(), time.process_time()
    embedder.embed([items[0]])
    one_w, one_c = time.perf_counter() - w1, time.process_time() - c1
    print(f"baseline (lower+split): wall {bw:.3f} s, CPU {bc:.3f} s")
    print(
        f"embed {len(items)} items, batch {args.batch}: wall {ew:.2f} s, CPU {ec:.2f} s, "
        f"{len(items) / ew:.0f} items/s wall, {len(items) / max(ec, 1e-9):.0f} items/s CPU; "
        f"ratio to baseline wall {ew / max(bw, 1e-9):.0f}x"
    )
    print(
        f"one new entry alone (daemon, batch 1): wall {one_w * 1000:.0f} ms, "
        f"CPU {one_c * 1000:.0f} ms"
    )
    print(f"max RSS {rss_mb():.0f} MB (before model {rss0:.0f} MB)")


if __name__ == "__main__":
    main()
