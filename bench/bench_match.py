"""Matcher benchmark: quality (P/R/F1 per rule) and speed, shipped pack versus two baselines.

Run from the repository root: ``.venv/bin/python bench/bench_match.py [--shared ../shared]``
(``--quick``: speed only, naive loop on 5,000 entries; ``--repeat N``: matcher passes run N
times, fresh matcher each, best shown, default 3).
Prints only; writes nothing. Baselines use the pack's own variant terms (case-sensitive symbols
such as "REE" or "Xi" left out) with the rules' all/any logic and no context exclusions:
  keywords  exact case-insensitive substring of title + summary;
  partial   ``fuzz.partial_ratio(term, text) >= 85``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from rapidfuzz import fuzz

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from monitor.matching.loader import load_rules  # noqa: E402
from monitor.matching.match import Matcher, compile_rules  # noqa: E402
from monitor.matching.rules import Concept, Rule, RuleSet  # noqa: E402
from monitor.matching.text import fold  # noqa: E402
from monitor.model import Entry  # noqa: E402
from monitor.resources import shipped_rules_dir  # noqa: E402
from tests.test_eval import Item, evaluate, load_eval, table  # noqa: E402

N_ENTRIES = 25_000
QUICK_NAIVE = 5_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def concept_terms(rules: RuleSet) -> dict[str, list[str]]:
    """The variant terms of the concepts that rules name (not those only combined by ``near:``,
    which a loop over terms cannot use)."""
    named = {c for r in rules.rules for c in (*r.all, *r.any, *r.none)}
    return {
        cid: [fold(v.term) for v in c.variants if not v.case]
        for cid, c in rules.concepts.items()
        if cid in named
    }


def without_near(rules: RuleSet) -> RuleSet:
    """The pack with its ``near:``/``sentence:`` clauses dropped (the wave-1 way of matching)."""
    concepts = {cid: replace(c, near=()) for cid, c in rules.concepts.items()}
    return RuleSet(rules.rules, concepts)


def baseline(rules: RuleSet, hit: Callable[[str, str], bool]) -> Callable[[str], set[str]]:
    terms = concept_terms(rules)

    def predict(text: str) -> set[str]:
        text = text.casefold()
        # Every term is tried (no short cut), as a loop that scores or explains must.
        found = {cid for cid, ts in terms.items() if [hit(t, text) for t in ts].count(True)}
        out = set()
        for r in rules.rules:
            if all(c in found for c in r.all) and (not r.any or any(c in found for c in r.any)):
                out.add(r.id)
        return out

    return predict


def substring(term: str, text: str) -> bool:
    return term in text


def partial(term: str, text: str) -> bool:
    return fuzz.partial_ratio(term, text) >= 85  # as written in the issue, no score_cutoff


def replicated(rules: RuleSet, times: int) -> RuleSet:
    """The pack ``times`` over, rule and concept ids renamed (concepts keep their variants)."""
    concepts: dict[str, Concept] = {}
    out: list[Rule] = []
    for i in range(times):
        for cid, c in rules.concepts.items():
            near = tuple(replace(n, concepts=tuple(f"{m}~{i}" for m in n.concepts)) for n in c.near)
            concepts[f"{cid}~{i}"] = replace(c, id=f"{cid}~{i}", near=near)
        for r in rules.rules:
            semantic = r.semantic
            if semantic is not None:  # its gate names concepts too
                gate = tuple(tuple(f"{c}~{i}" for c in group) for group in semantic.gate)
                semantic = replace(semantic, gate=gate)
            out.append(
                replace(
                    r,
                    id=f"{r.id}~{i}",
                    all=tuple(f"{c}~{i}" for c in r.all),
                    any=tuple(f"{c}~{i}" for c in r.any),
                    none=tuple(f"{c}~{i}" for c in r.none),
                    semantic=semantic,
                )
            )
    return RuleSet(tuple(out), concepts)


def news_entries(shared: Path, n: int) -> list[Entry]:
    rows: list[dict[str, str]] = []
    for path in sorted((shared / "corpus" / "news").glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    unique = len(rows)
    while len(rows) < n:
        rows.extend(rows[: n - len(rows)])
    print(f"speed corpus: {n:,} entries from corpus/news ({unique:,} unique, rest repeated)")
    rows = rows[:n]
    return [
        Entry("news", f"{i}", r["title"], None, r["summary"], "", NOW) for i, r in enumerate(rows)
    ]


def timed(
    label: str,
    make: Callable[[], Callable[[Entry], object]],
    entries: Sequence[Entry],
    repeat: int = 1,
) -> tuple[float, float]:
    """Entries per second of ``make()`` over ``entries``, by wall clock and by CPU time: the best
    of ``repeat`` runs, each with a fresh ``make()`` (a new matcher is cold again)."""
    best = (float("inf"), 0.0)
    for _ in range(repeat):
        fn = make()
        start, cpu = time.perf_counter(), time.process_time()
        for e in entries:
            fn(e)
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    elapsed, cpu = best
    rate = len(entries) / elapsed
    runs = f"best of {repeat}" if repeat > 1 else "one run"
    print(
        f"  {label:52} {len(entries):7,} entries {elapsed:7.2f} s wall {cpu:7.2f} s CPU"
        f" {rate:9,.0f} entries/s ({runs})"
    )
    return rate, len(entries) / cpu


def quality(rules: RuleSet, items: list[Item]) -> None:
    matcher = compile_rules(rules)
    runs: list[tuple[str, Callable[[Item], set[str]]]] = [
        (
            "shipped pack (monitor.matching.match)",
            lambda i: {m.rule_id for m in matcher.match(i.entry())},
        ),
    ]
    for name, hit in (("keywords: substring", substring), ("partial_ratio >= 85", partial)):
        on_text = baseline(rules, hit)

        def on_item(i: Item, p: Callable[[str], set[str]] = on_text) -> set[str]:
            return p(f"{i.title} {i.summary}")

        runs.append((f"baseline {name}", on_item))
    for name, predict in runs:
        print()
        print(table(evaluate(items, rules.ids, predict), f"{name} on {len(items)} labeled items"))


def speed(rules: RuleSet, entries: list[Entry], naive_sample: int, repeat: int) -> None:
    print()
    terms = [t for ts in concept_terms(rules).values() for t in ts]
    print(f"pack: {len(rules.rules)} rules, {len(rules.concepts)} concepts, {len(terms)} terms")
    naive = baseline(rules, partial)
    # Spread over the corpus (its files differ in language and length), not its first files.
    sample = entries[:: max(1, len(entries) // naive_sample)][:naive_sample]
    naive_rate = timed(
        f"naive partial_ratio loop ({len(terms)} terms)",
        lambda: lambda e: naive(f"{e.title} {e.summary}"),
        sample,
    )
    matcher = compile_rules(rules)

    def cold_matcher(rs: RuleSet) -> Callable[[], Callable[[Entry], object]]:
        return lambda: compile_rules(rs).match

    cold = timed(
        "compiled matcher, first pass (cold token memo)", cold_matcher(rules), entries, repeat
    )
    for e in entries:
        matcher.match(e)
    warm = timed(
        "compiled matcher, second pass (warm memo)", lambda: matcher.match, entries, repeat
    )
    flat = timed(
        "same pack without near: clauses, first pass",
        cold_matcher(without_near(rules)),
        entries,
        repeat,
    )
    timed(
        "compiled matcher, unique entries only (cold)",
        cold_matcher(rules),
        entries[:22_572],
        repeat,
    )
    big_rules = replicated(rules, 10)
    big: Matcher = compile_rules(big_rules)
    big_cold = timed(
        f"10x pack ({len(big_rules.rules)} rules), first pass",
        cold_matcher(big_rules),
        entries,
        repeat,
    )

    def ratio(a: tuple[float, float], b: tuple[float, float]) -> str:
        return f"{a[0] / b[0]:6.1f}x wall {a[1] / b[1]:6.1f}x CPU"

    print(f"  speed-up compiled (cold) vs naive:      {ratio(cold, naive_rate)} (target >= 40x)")
    print(f"  speed-up compiled (warm) vs naive:      {ratio(warm, naive_rate)}")
    print(f"  10x pack time / 1x pack time (cold):    {ratio(cold, big_cold)} (target <= 3)")
    print(f"  pack time / pack without near: (cold):  {ratio(flat, cold)}")
    print(f"  compiled terms: 1x {matcher.unit_count}, 10x {big.unit_count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument(
        "--naive-sample", type=int, default=None, help="entries for the slow naive loop"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the quality tables; naive loop on 5,000 entries (for trying changes)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each matcher pass; the best is shown"
    )
    args = parser.parse_args()
    naive_sample = args.naive_sample or (QUICK_NAIVE if args.quick else N_ENTRIES)
    print(
        f"bench_match  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  python {platform.python_version()}"
        f"  {platform.machine()}  one process, one core"
    )
    rules = load_rules([shipped_rules_dir()])
    if not args.quick:
        quality(rules, load_eval(args.shared / "corpus"))
    speed(rules, news_entries(args.shared, N_ENTRIES), naive_sample, args.repeat)


if __name__ == "__main__":
    main()
