"""The hot paths' memos stay bounded on an open vocabulary, keep the hot words, and give the same
answers whatever they hold (issue 14). Asserted on sizes, not on RSS or time."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

import monitor.matching.text as T
import monitor.stories.features as F
import monitor.stories.window as W
from monitor.matching.loader import load_rules
from monitor.matching.match import compile_rules
from monitor.matching.scan import KEY_LEN
from monitor.memo import Generations
from monitor.model import Entry
from monitor.resources import shipped_rules_dir
from monitor.stories import Settings, StoryEntry, Window, assign

T0 = datetime(2026, 3, 14, 8, tzinfo=UTC)
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def novel(n: int) -> str:
    """A made-up word, distinct for each ``n`` (also in its first 7 letters, the story stem)."""
    out = []
    for _ in range(4):
        n, d = divmod(n, len(_SYLLABLES))
        out.append(_SYLLABLES[d])
    return "".join(out)


def test_generations_hold_at_most_twice_the_limit_and_keep_what_is_asked_for() -> None:
    memo: Generations[str, int] = Generations(100)
    for n in range(1_000):
        memo.put(f"w{n}", n)
        # The hot path's look-up, then the old generation, then computed.
        if memo.young.get("hot") is None and memo.recall("hot") is None:
            memo.put("hot", -1)
        assert len(memo.young) <= 100 and len(memo.old) <= 100
    assert len(memo) <= 200
    assert memo.young.get("hot", memo.old.get("hot")) == -1  # asked for each time: kept
    assert "w0" not in memo.young and "w0" not in memo.old  # two generations ago: dropped
    assert memo.recall("w950") == 950 and memo.young["w950"] == 950  # moved back to young


def test_story_memos_stay_bounded_on_novel_words() -> None:
    F._TERMS.clear()
    F._NAMES.clear()
    words = [novel(n) for n in range(3 * F.MEMO_LIMIT)]
    for i in range(0, len(words), 50):
        chunk = words[i : i + 50]
        text = " ".join(w.capitalize() if j % 2 else w for j, w in enumerate(chunk))
        F._terms(text)
        F._names(text)
    assert len(F._TERMS) <= 2 * F.MEMO_LIMIT
    assert len(F._NAMES) <= 2 * F.MEMO_LIMIT
    assert len(F._TERMS.young) >= F.MEMO_LIMIT // 2  # it did fill (turned over)


def test_window_weight_memo_stays_bounded_on_novel_terms() -> None:
    memo = W._WEIGHT.__self__  # type: ignore[attr-defined]
    memo.clear()
    memo.old.clear()
    window = Window(Settings(span=timedelta(hours=1)))
    per = 40
    for n in range(3 * memo.limit // per):
        words = " ".join(novel(n * per + k) for k in range(per))
        assign(StoryEntry(f"e{n}", words[:60], words, "de", T0 + timedelta(seconds=n)), window)
    assert memo.limit <= len(memo) + len(memo.old) <= 2 * memo.limit


def test_folded_texts_memo_stays_bounded() -> None:
    T._FOLDED.clear()
    for n in range(3 * T.FOLDED_MEMO_LIMIT):
        assert T.folded_tokens(f"Wort {n}") == ("wort", str(n))
    assert len(T._FOLDED) <= 2 * T.FOLDED_MEMO_LIMIT


def test_scanner_memos_stay_bounded_on_novel_words() -> None:
    matcher = compile_rules(load_rules([shipped_rules_dir()]))
    scanner = matcher._main
    scanner._memo.limit = scanner._pairs.limit = 200
    # Words that begin as a unit does (so the automaton stops at them) and go on as no word.
    starts = sorted(
        k for k, (is_start, _) in zip(scanner.keys, scanner.kinds, strict=True) if is_start
    )
    starts = [k for k in starts if len(k) == KEY_LEN and k.isalpha()][:50]
    assert starts
    for n in range(2_000):
        text = " ".join(f"{s}{novel(n)} {novel(n + 1)}" for s in starts[:5])
        scanner.scan(T.fold(text))
    assert 200 <= len(scanner._memo) <= 400
    assert len(scanner._pairs) <= 400


@pytest.mark.parametrize("limit", [1, 3])
def test_answers_are_the_same_with_memos_turning_over_all_the_time(
    limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story features and matches of real-looking texts with tiny generations (every few
    words a turnover) are those of a fresh process with the shipped limits."""
    texts = [
        ("China verhängt Exportkontrollen für Gallium und Germanium", "Peking reagiert auf "
         "die US-Sanktionen: Ab 1. August brauchen Exporteure eine Lizenz."),
        ("Lithium price falls as Chile expands output", "Albemarle and SQM said on Tuesday "
         "that output in the Atacama would rise 12% this year."),
        ("Seltene Erden: Lynas eröffnet Werk in Texas", "Der australische Konzern Lynas "
         "Rare Earths will ab 2026 in Seadrift, Texas, schwere Seltene Erden trennen."),
    ] * 3  # fmt: skip
    entries = [
        StoryEntry(f"e{i}", t, s, "de", T0 + timedelta(minutes=i)) for i, (t, s) in enumerate(texts)
    ]
    rows = [Entry("news", e.id, e.title, None, e.summary, "", e.published) for e in entries]

    def answers() -> tuple[list[object], list[object]]:
        window = Window(Settings(span=timedelta(hours=1)))
        matcher = compile_rules(load_rules([shipped_rules_dir()]))
        for sc in (matcher._main, matcher._deferred, matcher._context):
            if sc is not None:
                sc._memo.limit = sc._pairs.limit = scan_limit
        stories = [(F.extract(e, True), assign(e, window)) for e in entries]
        matches = [matcher.match(r) for r in rows]
        return list(stories), list(matches)

    def cold() -> None:
        F._TERMS.clear()
        F._NAMES.clear()
        T._FOLDED.clear()
        W._WEIGHT.__self__.clear()  # type: ignore[attr-defined]
        W._WEIGHT.__self__.old.clear()  # type: ignore[attr-defined]

    scan_limit = 10_000
    cold()
    want = answers()
    assert any(want[1]), "the texts match rules: the scanners' memos were used"
    monkeypatch.setattr(F._TERMS, "limit", limit)
    monkeypatch.setattr(F._NAMES, "limit", limit)
    monkeypatch.setattr(T._FOLDED, "limit", limit)
    monkeypatch.setattr(W._WEIGHT.__self__, "limit", limit)  # type: ignore[attr-defined]
    scan_limit = limit
    cold()
    assert answers() == want
    assert len(F._TERMS.young) <= limit and len(F._TERMS.old) <= limit  # it did turn over


def test_a_pickled_scanner_keeps_one_memo_with_its_generations() -> None:
    """Scanners cross to worker processes pickled: the hot path's dict must stay the young
    generation there, or the memo would grow without its bound."""
    matcher = compile_rules(load_rules([shipped_rules_dir()]))
    scanner = matcher._main
    scanner.scan(T.fold("Lithium und Kobalt aus dem Kongo"))
    copy = pickle.loads(pickle.dumps(scanner))
    assert copy.memo is copy._memo.young and copy.pairs is copy._pairs.young
    assert copy.memo.keys() == scanner.memo.keys() != set()
