"""Integrity of ``heldout8.jsonl``, the eighth story set labelled blind to the clusterer.

tests/data/stories/ORIGIN.md ("heldout8") says how it was drawn (select_candidates_v8.py) and
labelled. These tests check the file, not the clusterer: the record format, that no item of the
seven earlier sets is in it (by corpus id and by text hash), that no id is in it twice, the counts
ORIGIN.md states, and that every record loads from ../shared/corpus with the text it was labelled
on (the ``corpus_dir`` fixture skips without it locally and fails under CI=true).
Its evaluation (first run 2026-12-07) is in tests/test_stories_eval.py's FRESH_SETS.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.test_stories_eval import (
    HELDOUT2_FILE,
    HELDOUT3_FILE,
    HELDOUT4_FILE,
    HELDOUT5_FILE,
    HELDOUT6_FILE,
    HELDOUT7_FILE,
    HELDOUT8_FILE,
    LABELS_FILE,
    load_story_set,
)

EARLIER = (
    LABELS_FILE,
    HELDOUT2_FILE,
    HELDOUT3_FILE,
    HELDOUT4_FILE,
    HELDOUT5_FILE,
    HELDOUT6_FILE,
    HELDOUT7_FILE,
)
FIELDS = ["id", "source", "publisher", "language", "published", "text_sha1", "story"]
# The counts ORIGIN.md ("heldout8") states.
ITEMS, STORIES, MULTI, DE_EN_STORIES, DE_EN_PAIRS = 597, 527, 56, 25, 36


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def counts(pairs: list[tuple[str, str]]) -> tuple[int, int, int, int, int]:
    """Items, stories, multi-item stories, German-English stories and German-English item pairs
    of (story, language) pairs."""
    langs: dict[str, list[str]] = defaultdict(list)
    for story, language in pairs:
        langs[story].append(language[:2])
    both = [v for v in langs.values() if set(v) == {"de", "en"}]
    return (
        len(pairs),
        len(langs),
        sum(1 for v in langs.values() if len(v) > 1),
        len(both),
        sum(v.count("de") * v.count("en") for v in both),
    )


def test_heldout8_is_well_formed_fresh_and_as_counted() -> None:
    heldout8 = records(HELDOUT8_FILE)
    for w in heldout8:
        assert list(w) == FIELDS, w
        assert re.fullmatch(r"[0-9a-f]{16}", w["id"]), w
        assert re.fullmatch(r"[0-9a-f]{12}", w["text_sha1"]), w
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", w["story"]), w
        assert w["source"].startswith("corpus/news/") and w["source"].endswith(".jsonl"), w
        assert w["language"][:2] in {"de", "en"}, w
    ids = {w["id"] for w in heldout8}
    hashes = {w["text_sha1"] for w in heldout8}
    assert len(ids) == len(hashes) == len(heldout8)
    for path in EARLIER:
        others = records(path)
        assert not ids & {w["id"] for w in others}, path.name
        assert not hashes & {w["text_sha1"] for w in others}, path.name
    assert counts([(w["story"], w["language"]) for w in heldout8]) == (
        ITEMS,
        STORIES,
        MULTI,
        DE_EN_STORIES,
        DE_EN_PAIRS,
    )


def test_heldout8_loads_from_the_corpus_with_its_labelled_text(corpus_dir: Path) -> None:
    # load_story_set raises LookupError when a record's (file, id, text hash) is not in the
    # corpus; the loaded set is the file's, record for record.
    heldout8 = load_story_set(corpus_dir, HELDOUT8_FILE)
    wanted = {(w["id"], w["text_sha1"]): w for w in records(HELDOUT8_FILE)}
    assert len(heldout8) == len(wanted) == ITEMS
    for x in heldout8:
        w = wanted.pop((x.entry.id.split("/")[0], x.entry.id.split("/")[1]))
        assert x.story == w["story"]
        assert x.entry.language == w["language"]
        assert x.entry.source == w["publisher"]
    assert not wanted
    assert counts([(x.story, x.entry.language) for x in heldout8]) == (
        ITEMS,
        STORIES,
        MULTI,
        DE_EN_STORIES,
        DE_EN_PAIRS,
    )
