"""Quality of the shipped rule pack on the labeled evaluation set (tests/data/eval/).

The set is 588 real news items (524 in batch 1, 64 free-order and verb phrasings of export
measures in batch 2) labeled by hand against tests/data/eval/LABELING.md. The repository keeps
only their ids, sources and labels (labels.jsonl): the news text is the publishers', so it is read
from ../shared/corpus/news at test time, cut as when it was labeled, and checked against the hash
recorded then. Every rule of the shipped pack must reach F1 >= 0.97 on it; the table is printed
with ``pytest -s``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.matching.loader import load_rules
from monitor.matching.match import compile_rules
from monitor.model import Entry
from monitor.resources import shipped_rules_dir

LABELS_FILE = Path(__file__).parent / "data" / "eval" / "labels.jsonl"
MAX_SUMMARY = 500
TARGET_F1 = 0.97
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    id: str
    source: str
    language: str
    title: str
    summary: str
    labels: frozenset[str]

    def entry(self) -> Entry:
        return Entry(
            "eval", self.id, self.title, None, self.summary, "", _EPOCH, language=self.language
        )


@dataclass(frozen=True)
class Score:
    rule: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def excerpt(item: dict[str, str]) -> tuple[str, str]:
    """Title and summary as labeled: the summary cut to 500 characters at a word boundary."""
    summary = item["summary"]
    if len(summary) > MAX_SUMMARY:
        cut = summary[:MAX_SUMMARY]
        summary = cut[: cut.rfind(" ")] + " …" if " " in cut else cut
    return item["title"], summary


def text_hash(title: str, summary: str) -> str:
    return hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()[:12]


def corpus_texts(
    corpus: Path, wanted: Sequence[Mapping[str, str]]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """The excerpts (title, summary) of the ``wanted`` items (``source``, ``id``) in ``corpus``,
    by (source, id): an id can repeat within a corpus file, so a key may hold several."""
    texts: dict[tuple[str, str], list[tuple[str, str]]] = {}
    keys = {(w["source"], w["id"]) for w in wanted}
    for source in {w["source"] for w in wanted}:
        path = corpus / source.removeprefix("corpus/")
        for line in path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            if (source, d["id"]) in keys:
                texts.setdefault((source, d["id"]), []).append(excerpt(d))
    return texts


def labeled_text(
    texts: Mapping[tuple[str, str], Sequence[tuple[str, str]]],
    wanted: Mapping[str, str],
    labels: Path,
    corpus: Path,
) -> tuple[str, str]:
    """The text the item was labeled on (its ``text_sha1``), else a LookupError naming it."""
    found = [
        t
        for t in texts.get((wanted["source"], wanted["id"]), ())
        if text_hash(*t) == wanted["text_sha1"]
    ]
    if not found:
        raise LookupError(
            f"{labels}: item {wanted['id']} of {wanted['source']} is not in {corpus} with the "
            "text it was labeled on (has the corpus changed?)"
        )
    return found[0]


def load_eval(corpus: Path, labels: Path = LABELS_FILE) -> list[Item]:
    """The labeled items with their text from ``corpus`` (../shared/corpus)."""
    wanted = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    texts = corpus_texts(corpus, wanted)
    items = []
    for w in wanted:
        title, summary = labeled_text(texts, w, labels, corpus)
        items.append(
            Item(w["id"], w["source"], w["language"], title, summary, frozenset(w["labels"]))
        )
    return items


def evaluate(
    items: Sequence[Item], rule_ids: Iterable[str], predict: Callable[[Item], set[str]]
) -> list[Score]:
    """Precision/recall/F1 per rule of ``predict`` (item -> predicted rule ids)."""
    ids = list(rule_ids)
    counts = {r: [0, 0, 0] for r in ids}
    for item in items:
        predicted = predict(item)
        for r in ids:
            got, want = r in predicted, r in item.labels
            if got and want:
                counts[r][0] += 1
            elif got:
                counts[r][1] += 1
            elif want:
                counts[r][2] += 1
    return [Score(r, *counts[r]) for r in ids]


def table(scores: Sequence[Score], title: str) -> str:
    lines = [title, f"{'rule':28} {'P':>6} {'R':>6} {'F1':>6} {'TP':>4} {'FP':>4} {'FN':>4}"]
    for s in scores:
        lines.append(
            f"{s.rule:28} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} "
            f"{s.tp:4d} {s.fp:4d} {s.fn:4d}"
        )
    macro = sum(s.f1 for s in scores) / len(scores)
    lines.append(f"{'macro F1':28} {'':6} {'':6} {macro:6.3f}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def items(corpus_dir: Path) -> list[Item]:
    return load_eval(corpus_dir)


def test_eval_set_is_big_enough_and_labeled_with_known_rules(items: list[Item]) -> None:
    ids = set(load_rules([shipped_rules_dir()]).ids)
    assert len(items) >= 400
    assert {i.language[:2] for i in items} == {"de", "en"}
    assert len({i.id for i in items}) == len(items)
    for item in items:
        assert item.labels <= ids, (item.id, item.labels - ids)
        assert item.source.startswith("corpus/news/")
    for rule in ids:
        assert any(rule in i.labels for i in items), f"no positive example for {rule}"


def test_shipped_pack_reaches_target_f1_on_every_rule(items: list[Item]) -> None:
    rules = load_rules([shipped_rules_dir()])
    matcher = compile_rules(rules)
    scores = evaluate(items, rules.ids, lambda i: {m.rule_id for m in matcher.match(i.entry())})
    print("\n" + table(scores, f"shipped pack on {len(items)} labeled items"))
    below = [f"{s.rule} F1={s.f1:.3f}" for s in scores if s.f1 < TARGET_F1]
    assert not below, f"rules below F1 {TARGET_F1}: {', '.join(below)}"
