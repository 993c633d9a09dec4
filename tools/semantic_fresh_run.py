"""Score rule packs on the old inferred-mention data and on the fresh set (issue 11).

The fresh set (tests/data/eval/inferred_fresh.jsonl, labelled blind to the embedder) is a
held-out check: run it on a setup only after that setup was tuned on the old data.

    python tools/semantic_fresh_run.py --corpus ../shared/corpus --rules rules [--rules DIR2 ...]

Each ``--rules`` directory is one pack, scored with this checkout's matcher and model.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.pop("MONITOR_SEMANTIC", None)

from monitor.embed.layer import semantic_matcher
from monitor.matching.embedder import Vector
from monitor.matching.loader import load_rules
from monitor.matching.match import Matcher
from monitor.model import Entry
from tests.semantic_eval import SEMANTIC_RULES, EvalItem, load_fresh, load_items, score, table

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def entry(item: EvalItem) -> Entry:
    return Entry("eval", item.id, item.title, None, item.summary, "", _EPOCH)


def run(
    matcher: Matcher, off: Matcher, vectors: dict[int, Vector], items: list[EvalItem]
) -> tuple[Callable[[EvalItem], set[str]], Callable[[EvalItem], set[str]]]:
    """The words-only and the layer-on predictions over ``items``."""

    def words(item: EvalItem) -> set[str]:
        return {m.rule_id for m in off.match(entry(item))}

    def semantic(item: EvalItem) -> set[str]:
        return {m.rule_id for m in matcher.match(entry(item), vectors[id(item)])}

    return words, semantic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    ap.add_argument("--rules", type=Path, action="append", required=True)
    ap.add_argument("--list", action="store_true", help="list the fresh set's semantic matches")
    args = ap.parse_args()
    sets = {"old (all)": load_items(args.corpus), "fresh": load_fresh(args.corpus)}
    for directory in args.rules:
        rules = load_rules([directory])
        setup = semantic_matcher(rules)
        if setup.layer is None:
            raise SystemExit(f"{directory}: the semantic layer is off ({setup.notice})")
        for name, items in sets.items():
            vectors = setup.layer.vectors(list(map(entry, items)))
            by_id = dict(zip(map(id, items), vectors, strict=True))
            words, semantic = run(setup.matcher, Matcher(rules), by_id, items)
            print(table(score(items, SEMANTIC_RULES, semantic, words), f"{directory}, {name}"))
            if args.list and name == "fresh":
                for item in items:
                    for rule in sorted(semantic(item) - words(item)):
                        ok = "true " if rule in item.inferred else "FALSE"
                        print(f"   {ok} {rule:26} {item.id} {item.title[:80]}")


if __name__ == "__main__":
    main()
