"""Semantic layer cost: model load time, headlines embedded per second, memory (issue 11).

Embeds the titles (+ summary, first 300 chars) of a stated sample of /work/shared/corpus/news,
in batches of --batch, with the default embedder (USE v3). Prints wall and process CPU time
beside each other, and a baseline in the same run: the same texts only lower-cased and split
(what the lexical matcher's normalisation roughly costs), so the ratio says what embedding adds.

    .venv/bin/python bench/bench_semantic.py --sample 2000
    .venv/bin/python bench/bench_semantic.py --pipeline --sample 3000 --poll 20

``--pipeline`` measures what the semantic layer adds per new entry where the daemon pays it:
the shipped pack's lexical matcher alone (the baseline, in the same run) against embedding
each entry's headline (in batches of ``--poll``, the new entries of one poll) + matching with
its vector + storing the vector in SQLite. Wall beside CPU (this process; USE v3 runs with one
thread, no child processes).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from monitor.embed import load_embedder
from monitor.embed.layer import semantic_matcher
from monitor.matching.loader import load_rules
from monitor.matching.match import Matcher
from monitor.matching.rules import RuleSet
from monitor.model import Entry, FeedState
from monitor.resources import shipped_rules_dir
from monitor.store import open_storage

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


def entries(sample: int) -> list[Entry]:
    """A slice of the corpus as entries: every k-th item of each file, so all nine are in it."""
    out: list[Entry] = []
    files = sorted(CORPUS.glob("*.jsonl"))
    lines = [(p, line) for p in files for line in p.read_text(encoding="utf-8").splitlines()]
    step = max(1, len(lines) // sample)
    when = datetime(2026, 12, 2, tzinfo=UTC)
    for n, (path, line) in enumerate(lines[::step][:sample]):
        item = json.loads(line)
        out.append(
            Entry(
                f"bench:{path.stem}",
                f"{n}:{item['id']}",
                item.get("title") or "",
                None,
                (item.get("summary") or "")[:500],
                "",
                when,
            )
        )
    return out


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def pipeline(sample: int, poll: int) -> None:
    items = entries(sample)
    rules = load_rules([shipped_rules_dir()])
    print(
        f"sample: {len(items)} entries of {CORPUS} (every k-th line), shipped pack, "
        f"{len(rules.semantic_rules)} rules with semantic:, poll batch {poll}"
    )
    w0, c0 = time.perf_counter(), cpu()
    lexical = Matcher(rules)
    base = [lexical.match(e) for e in items]
    bw, bc = time.perf_counter() - w0, cpu() - c0

    rss0 = rss_mb()
    w0, c0 = time.perf_counter(), cpu()
    setup = semantic_matcher(rules)
    assert setup.layer is not None, setup.notice
    layer, matcher = setup.layer, setup.matcher
    lw, lc = time.perf_counter() - w0, cpu() - c0

    # The gate's effect: the same rules with `ungated` at their threshold (no gate word needed).
    loose = RuleSet(
        tuple(
            replace(r, semantic=replace(r.semantic, ungated=r.semantic.threshold))
            if r.semantic is not None
            else r
            for r in rules.rules
        ),
        rules.concepts,
    )
    ungated = Matcher(loose, layer.index(loose))
    embed_w = embed_c = match_w = match_c = 0.0
    vectors = []
    semantic_hits = ungated_hits = 0
    for i in range(0, len(items), poll):
        batch = items[i : i + poll]
        w1, c1 = time.perf_counter(), cpu()
        got = layer.vectors(batch)
        embed_w += time.perf_counter() - w1
        embed_c += cpu() - c1
        w1, c1 = time.perf_counter(), cpu()
        for entry, vector in zip(batch, got, strict=True):
            semantic_hits += sum(m.semantic for m in matcher.match(entry, vector))
        match_w += time.perf_counter() - w1
        match_c += cpu() - c1
        vectors += got
        for entry, vector in zip(batch, got, strict=True):
            ungated_hits += sum(m.semantic for m in ungated.match(entry, vector))

    with tempfile.TemporaryDirectory() as tmp:
        storage = open_storage(f"sqlite:///{tmp}/bench.db")
        now = datetime(2026, 12, 2, tzinfo=UTC)
        by_feed: dict[str, list[int]] = {}
        for n, e in enumerate(items):
            by_feed.setdefault(e.feed_url, []).append(n)
        for feed, ns in by_feed.items():
            storage.record_poll(FeedState(url=feed), [items[n] for n in ns], {}, now)
        w1, c1 = time.perf_counter(), cpu()
        for i in range(0, len(items), poll):
            layer.save(storage, items[i : i + poll], vectors[i : i + poll], now)
        save_w, save_c = time.perf_counter() - w1, cpu() - c1
        storage.close()
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())

    n = len(items)
    sem_w, sem_c = embed_w + match_w + save_w, embed_c + match_c + save_c
    lexical_matches = sum(map(len, base))
    print(f"model load + example sentences embedded: wall {lw:.2f} s, CPU {lc:.2f} s")
    print(
        f"layer off (lexical matcher only): wall {bw:.2f} s, CPU {bc:.2f} s = "
        f"{1000 * bw / n:.3f} ms/entry wall, {1000 * bc / n:.3f} ms CPU; {lexical_matches} matches"
    )
    for name, w, c in (
        ("embed (headline + lead)", embed_w, embed_c),
        ("match with vector", match_w, match_c),
        ("store vector (SQLite)", save_w, save_c),
    ):
        print(f"  {name:24} {1000 * w / n:8.3f} ms/entry wall, {1000 * c / n:8.3f} ms CPU")
    print(
        f"layer on, per entry: {1000 * (bw + sem_w) / n:.2f} ms wall, "
        f"{1000 * (bc + sem_c) / n:.2f} ms CPU; ratio to off: wall {(bw + sem_w) / bw:.0f}x, "
        f"CPU {(bc + sem_c) / max(bc, 1e-9):.0f}x; {n / (embed_w + match_w):.0f} entries/s "
        f"embedded+matched; {semantic_hits} semantic matches ({ungated_hits} without the gate)"
    )
    print(
        f"database: {size / n / 1024:.1f} KiB per entry in SQLite (entry + vector); "
        f"max RSS {rss_mb():.0f} MB (before the model {rss0:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--pipeline", action="store_true")
    parser.add_argument("--poll", type=int, default=20)
    args = parser.parse_args()
    if args.pipeline:
        pipeline(args.sample, args.poll)
        return
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
