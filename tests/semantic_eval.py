"""Scoring of the semantic layer on the inferred-mention set (tests/data/eval/INFERRED.md).

Items: the main evaluation set (``labels.jsonl``) and the inferred-mention set
(``inferred.jsonl``), one item per text (an item in both keeps both label sets). Per rule:

- **truth**: the rule is in the item's main labels, or in its ``inferred`` labels (from
  ``inferred.jsonl`` or, for main-set items, ``inferred_main.jsonl``);
- **semantic recall**: of the inferred mentions (``inferred`` names the rule, the main set's
  words-sense labels do not, and the pack's words do not match it: the matcher with the layer
  off), the share the rule matches;
- **precision**: matched and true over matched, on all items.

``split`` halves the items by a hash of their id ("dev", "test"): the pack's thresholds were
chosen looking at "dev" only, so "test" is the held-out figure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.test_eval import corpus_texts, labeled_text, load_eval, text_hash

__all__ = [
    "FRESH_FILE",
    "INFERRED_FILE",
    "INFERRED_MAIN_FILE",
    "SEMANTIC_RULES",
    "EvalItem",
    "RuleScore",
    "load_fresh",
    "load_items",
    "score",
]

DATA = Path(__file__).parent / "data" / "eval"
INFERRED_FILE = DATA / "inferred.jsonl"
INFERRED_MAIN_FILE = DATA / "inferred_main.jsonl"
FRESH_FILE = DATA / "inferred_fresh.jsonl"
"""The fresh held-out inferred-mention set (ORIGIN.md): labelled blind to the embedder, run once
on the layer tuned on the two files above."""
SEMANTIC_RULES = ("rohstoff-exportkontrollen", "kritische-rohstoffe")


@dataclass(frozen=True)
class EvalItem:
    id: str
    source: str
    language: str
    title: str
    summary: str
    labels: frozenset[str]
    """Main-set labels (words' sense); empty for items only in the inferred set."""
    inferred: frozenset[str]
    lexical: frozenset[str] | None
    """The rules the pack matched at selection (inferred set only), else None."""
    in_main: bool

    @property
    def split(self) -> str:
        return "dev" if hashlib.sha1(self.id.encode()).digest()[0] % 2 == 0 else "test"

    def truth(self, rule: str) -> bool:
        return rule in self.labels or rule in self.inferred

    def inferred_mention(self, rule: str, words: set[str]) -> bool:
        """About the rule's subject without its words: ``words`` are the rules the pack's words
        match (the matcher with the semantic layer off)."""
        return rule in self.inferred and rule not in self.labels and rule not in words


def load_items(corpus: Path) -> list[EvalItem]:
    """Main set and inferred set, merged by (source, id, text hash)."""
    main = load_eval(corpus)
    again = {
        (r["source"], r["id"]): frozenset(r["inferred"])
        for r in map(json.loads, INFERRED_MAIN_FILE.read_text(encoding="utf-8").splitlines())
    }
    items: dict[tuple[str, str, str], EvalItem] = {}
    for m in main:
        key = (m.source, m.id, text_hash(m.title, m.summary))  # as labeled: load_eval checks
        items[key] = EvalItem(
            m.id,
            m.source,
            m.language,
            m.title,
            m.summary,
            m.labels,
            again.get((m.source, m.id), frozenset()),
            None,
            True,
        )
    wanted = [json.loads(line) for line in INFERRED_FILE.read_text(encoding="utf-8").splitlines()]
    texts = corpus_texts(corpus, wanted)
    for w in wanted:
        key = (w["source"], w["id"], w["text_sha1"])
        title, summary = labeled_text(texts, w, INFERRED_FILE, corpus)
        before = items.get(key)
        if (w["source"], w["id"]) in again and again[(w["source"], w["id"])] != frozenset(
            w["inferred"]
        ):
            raise AssertionError(f"{w['id']}: labeled differently in the two inferred files")
        items[key] = EvalItem(
            w["id"],
            w["source"],
            w["language"],
            title,
            summary,
            before.labels if before else frozenset(),
            frozenset(w["inferred"]),
            frozenset(w["lexical"]),
            before is not None,
        )
    return list(items.values())


def load_fresh(corpus: Path) -> list[EvalItem]:
    """The fresh set alone (``inferred_fresh.jsonl``): none of its items is in the old sets."""
    wanted = [json.loads(line) for line in FRESH_FILE.read_text(encoding="utf-8").splitlines()]
    texts = corpus_texts(corpus, wanted)
    out = []
    for w in wanted:
        title, summary = labeled_text(texts, w, FRESH_FILE, corpus)
        out.append(
            EvalItem(
                w["id"],
                w["source"],
                w["language"],
                title,
                summary,
                frozenset(),
                frozenset(w["inferred"]),
                frozenset(w["lexical"]),
                False,
            )
        )
    return out


@dataclass(frozen=True)
class RuleScore:
    rule: str
    tp: int
    fp: int
    fn: int
    inferred: int
    """Inferred mentions of the rule among the items."""
    found: int
    """... of which the rule matched."""

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def semantic_recall(self) -> float:
        return self.found / self.inferred if self.inferred else 1.0


def score(
    items: Iterable[EvalItem],
    rules: Sequence[str],
    predict: Callable[[EvalItem], set[str]],
    words: Callable[[EvalItem], set[str]],
) -> list[RuleScore]:
    """``predict``: the rules matched (layer on or off); ``words``: those the pack's words
    match (layer off), which decide what is an inferred mention."""
    counts = {r: [0, 0, 0, 0, 0] for r in rules}
    for item in items:
        got = predict(item)
        lexical = words(item)
        for r in rules:
            c = counts[r]
            hit, true = r in got, item.truth(r)
            c[0] += hit and true
            c[1] += hit and not true
            c[2] += true and not hit
            if item.inferred_mention(r, lexical):
                c[3] += 1
                c[4] += hit
    return [RuleScore(r, *c) for r, c in counts.items()]


def table(scores: Sequence[RuleScore], title: str) -> str:
    lines = [
        title,
        f"{'rule':28} {'P':>6} {'R':>6} {'TP':>4} {'FP':>4} {'FN':>4}  semantic recall",
    ]
    for s in scores:
        lines.append(
            f"{s.rule:28} {s.precision:6.3f} {s.recall:6.3f} {s.tp:4d} {s.fp:4d} {s.fn:4d}  "
            f"{s.semantic_recall:.3f} ({s.found}/{s.inferred})"
        )
    return "\n".join(lines)
