"""What the story and matching memos save, by cap (issue 14).

    MONITOR_SHARED=/work/shared .venv/bin/python bench/bench_memo_caps.py \
        [--entries 30000] [--novel 8] [--caps 0,5000,20000,50000,200000]

Streams the shared news corpus (pseudo-random order, as ``bench_soak`` serves it) through what
the daemon does per new entry: story assignment (``assign`` into a 1 h window, entries 0.15 s
apart: 24,000 an hour, ``bench_soak --feeds 200 --every 30``) and matching (the shipped rules).
``--novel K`` adds K words never seen before to each entry (two capitalized in the title, the
rest in the summary), as a real stream's open vocabulary does; without it the corpus's ~21.5k
texts repeat and the vocabulary is closed.

For each cap (the same number for the features' term and name memos, the window's weight memo
and the scanner's token and pair memos; 0 = the memo emptied before every entry, i.e. none) it
prints the CPU per entry (``time.process_time``) of story assignment and of matching over the
second half of the stream (the memos at their steady size), the memos' sizes at the end, their
approximate bytes (``sys.getsizeof`` of the tables, keys and values), and the calls that missed
(the work the memo did not save) per entry. Configurations run interleaved, ``--repeat`` times,
best CPU shown. The code measured is whatever ``monitor`` imports (``PYTHONPATH`` selects
another checkout); ``--caps`` is the most keys a memo holds, whatever its scheme.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MONITOR_SHARED", ROOT.parent / "shared"))
sys.path.append(str(ROOT))  # after PYTHONPATH: another checkout can be measured

from bench_soak import with_novel  # noqa: E402  (the soak's made-up words, the same)

import monitor.matching.scan as scan  # noqa: E402
import monitor.matching.text as mtext  # noqa: E402
import monitor.stories.features as features  # noqa: E402
import monitor.stories.window as window  # noqa: E402
from monitor.matching.loader import load_rules  # noqa: E402
from monitor.matching.match import Matcher, compile_rules  # noqa: E402
from monitor.model import Entry  # noqa: E402
from monitor.resources import shipped_rules_dir  # noqa: E402
from monitor.stories import Settings, StoryEntry, Window, assign  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=0.15)


def corpus() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((SHARED / "corpus" / "news").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            if d.get("title"):
                out.append((d["title"], (d.get("summary") or "")[:600], d.get("language") or ""))
    if not out:
        raise SystemExit(f"no corpus under {SHARED}/corpus/news")
    return out


def stream(texts: list[tuple[str, str, str]], n: int, novel: int) -> Iterator[StoryEntry]:
    for i in range(n):
        title, summary, lang = texts[(i * 104_729) % len(texts)]
        title, summary = with_novel(title, summary, i * novel, novel)
        yield StoryEntry(f"e{i}", title, summary, lang, START + i * STEP, f"s{i % 200}")


def memos(matcher: Matcher) -> dict[str, Any]:
    """The memo dicts by name (both generations where there are two: ``monitor.memo``)."""
    out: dict[str, Any] = {
        "features._TERM_MEMO": features._TERM_MEMO,
        "features._NAME_MEMO": features._NAME_MEMO,
    }
    for name in ("_TERMS", "_NAMES"):
        if hasattr(features, name):
            out[f"features.{name}.old"] = getattr(features, name).old
    w = window._WEIGHT.__self__  # type: ignore[attr-defined]
    out["window._WEIGHT"] = w
    if hasattr(w, "old"):
        out["window._WEIGHT.old"] = w.old
    out["text._FOLDED_TOKENS"] = mtext._FOLDED_TOKENS
    if hasattr(mtext, "_FOLDED"):
        out["text._FOLDED.old"] = mtext._FOLDED.old
    for i, sc in enumerate(scanners(matcher)):
        out[f"scanner{i}.memo"] = sc.memo
        out[f"scanner{i}.pairs"] = sc.pairs
        for attr in ("_memo", "_pairs"):
            if hasattr(sc, attr):
                out[f"scanner{i}.{attr}.old"] = getattr(sc, attr).old
    return out


def scanners(matcher: Matcher) -> list[scan.Scanner]:
    found = []
    for v in vars(matcher).values():
        if isinstance(v, scan.Scanner):
            found.append(v)
    return found


def set_caps(cap: int, matcher: Matcher) -> None:
    """The same cap, the most keys held, for every memo measured: main's clear-when-full memos
    read module constants at each insertion; two generations (``monitor.memo``) hold up to
    twice their ``limit``, which is set to half the cap."""
    limit = max(cap, 1)
    features.MEMO_LIMIT = limit
    window.WEIGHT_MEMO_LIMIT = limit
    scan.MEMO_LIMIT = limit
    half = max(cap // 2, 1)
    gens = [getattr(features, n) for n in ("_TERMS", "_NAMES") if hasattr(features, n)]
    gens += [
        getattr(sc, a) for sc in scanners(matcher) for a in ("_memo", "_pairs") if hasattr(sc, a)
    ]
    w = window._WEIGHT.__self__  # type: ignore[attr-defined]
    for g in [*gens, w]:
        if hasattr(g, "limit"):
            g.limit = half


def clear(matcher: Matcher) -> None:
    for d in memos(matcher).values():
        d.clear()


def deep_bytes(d: dict[Any, Any]) -> int:
    seen: set[int] = set()
    total = sys.getsizeof(d)
    for k, v in d.items():
        for o in (k, v):
            if id(o) not in seen:
                seen.add(id(o))
                total += sys.getsizeof(o)
                if isinstance(o, tuple):
                    for x in o:
                        if id(x) not in seen and not isinstance(x, scan.Unit):
                            seen.add(id(x))
                            total += sys.getsizeof(x)
    return total


class Counting:
    """Counts calls of the compute functions behind the memos (a miss each, near enough)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._saved: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str) -> None:
        fn = getattr(owner, name)
        calls = self.calls
        calls[name] = 0

        def counted(*a: Any, **k: Any) -> Any:
            calls[name] += 1
            return fn(*a, **k)

        self._saved.append((owner, name, fn))
        setattr(owner, name, counted)

    def undo(self) -> None:
        for owner, name, fn in reversed(self._saved):
            setattr(owner, name, fn)


def run(
    entries: list[StoryEntry], rows: list[Entry], matcher: Matcher, cap: int, count: bool
) -> dict[str, Any]:
    set_caps(cap, matcher)
    clear(matcher)
    win = Window(Settings(span=timedelta(hours=1)))
    counting = Counting()
    if count:
        counting.wrap(features, "_term")
        counting.wrap(features, "_name_terms")
        counting.wrap(window, "weight")
        counting.wrap(scan.Scanner, "_units_for")
        counting.wrap(scan, "_resolve")
    half = len(entries) // 2
    story_cpu = match_cpu = 0.0
    emptied: Callable[[], None] = (lambda: clear(matcher)) if cap == 0 else (lambda: None)
    pt = time.process_time
    for i, (e, row) in enumerate(zip(entries, rows, strict=True)):
        if i == half:
            story_cpu = match_cpu = 0.0
            for k in counting.calls:
                counting.calls[k] = 0
        emptied()
        t0 = pt()
        assign(e, win)
        t1 = pt()
        matcher.match(row)
        t2 = pt()
        story_cpu += t1 - t0
        match_cpu += t2 - t1
    counting.undo()
    n = len(entries) - half
    out: dict[str, Any] = {
        "story_us": story_cpu / n * 1e6,
        "match_us": match_cpu / n * 1e6,
        "sizes": {k: len(v) for k, v in memos(matcher).items()},
    }
    if count:
        out["misses"] = {k: v / n for k, v in counting.calls.items()}
        out["bytes"] = {k: deep_bytes(v) for k, v in memos(matcher).items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=30_000)
    ap.add_argument("--novel", type=int, default=8)
    ap.add_argument("--caps", default="0,5000,20000,50000,200000")
    ap.add_argument("--repeat", type=int, default=2, help="timed passes (after a counting one)")
    args = ap.parse_args()
    caps = [int(c) for c in args.caps.split(",")]
    texts = corpus()
    entries = list(stream(texts, args.entries, args.novel))
    rows = [Entry("news", e.id, e.title, None, e.summary, "", e.published) for e in entries]
    matcher = compile_rules(load_rules([shipped_rules_dir()]))
    print(
        f"{len(entries)} entries ({len(texts)} corpus texts), novel words {args.novel} per "
        f"entry, load {os.getloadavg()[0]:.2f}, scanners {len(scanners(matcher))}",
        flush=True,
    )
    best: dict[int, dict[str, Any]] = {}
    # Pass 0 counts the misses (wrapped functions: slower); the CPU shown is the best of the
    # passes after it.
    for rep, cap in itertools.product(range(args.repeat + 1), caps):
        r = run(entries, rows, matcher, cap, count=rep == 0)
        if rep == 0:
            best[cap] = r
            r["story_us"] = r["match_us"] = float("inf")
        else:
            b = best[cap]
            for k in ("story_us", "match_us"):
                b[k] = min(b[k], r[k])
        print(
            f"  pass {rep} cap {cap:>7}: story {r['story_us']:6.1f} us, match "
            f"{r['match_us']:6.1f} us per entry (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    print(f"\n{'cap':>7} {'story us':>9} {'match us':>9}  sizes / MB / misses per entry")
    for cap in caps:
        b = best[cap]
        print(f"{cap:>7} {b['story_us']:9.1f} {b['match_us']:9.1f}")
        for k, v in b["sizes"].items():
            mb = b["bytes"].get(k, 0) / 2**20
            print(f"          {k:28s} {v:>8d} {mb:6.1f} MB")
        misses = ", ".join(f"{k} {v:.2f}" for k, v in b["misses"].items())
        print(f"          misses/entry: {misses}")


if __name__ == "__main__":
    main()
