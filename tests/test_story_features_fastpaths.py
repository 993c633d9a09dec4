"""The story features' fast paths give what the plain code gave: the number regex with its
look-behind moved, and the per-word memos (a word's terms are the same looked up or computed,
and whatever the memos held before)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.matching.text import fold, tokens
from monitor.stories import features as F
from monitor.stories.lexicon import STOPWORDS
from monitor.stories.model import StoryEntry

_OLD_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*")

numberish = st.text(alphabet=st.sampled_from("0123456789٣.,- aZé_\n"), max_size=40)
wordish = st.text(
    alphabet=st.sampled_from("aeiouRSTLNßäÖ-. ,0123456789chinaLithiumUSAeuPeking"), max_size=60
)


@settings(max_examples=500, deadline=None)
@given(numberish)
def test_number_regex_finds_what_the_old_one_found(text: str) -> None:
    assert F._NUMBER.findall(text) == _OLD_NUMBER.findall(text)


def _plain_names(text: str) -> set[str]:
    out: set[str] = set()
    for word in F._CAPITALIZED.findall(text):
        if not word[0].isupper() and not word[0].isascii():
            continue
        for tok in tokens(fold(word)):
            if tok in STOPWORDS or len(tok) < 3 or tok.isdigit():
                continue
            out.add(F.concept_of(tok) or tok[: F.STEM])
    return out


def _plain_terms(text: str) -> set[str]:
    out: set[str] = set()
    for tok in tokens(fold(text)):
        if tok in STOPWORDS:
            continue
        concept = F.concept_of(tok)
        if concept is not None:
            out.add(concept)
        elif not (tok.isdigit() or len(tok) < 3):
            out.add(tok[: F.STEM])
    return out | F.numbers(text)


@settings(max_examples=300, deadline=None)
@given(wordish, wordish, st.booleans())
def test_memoized_terms_and_names_are_the_plain_ones(title: str, summary: str, cold: bool) -> None:
    if cold:
        F._TERMS.clear()
        F._NAMES.clear()
    text = f"{title} {summary}"
    assert F._terms(text) == _plain_terms(text)
    assert F._names(text) == _plain_names(text)
    # Again, now from the memos.
    assert F._terms(text) == _plain_terms(text)
    assert F._names(text) == _plain_names(text)
    entry = StoryEntry("x", title, summary, "de", datetime(2026, 1, 1, tzinfo=UTC))
    assert F.extract(entry) == F.extract(entry)


_PREFIX_LENGTHS = sorted({len(p) for p in F._PREFIX}, reverse=True)


def _plain_concept_of(token: str) -> str | None:
    """``concept_of`` as it was written before the prefixes were grouped by their first letters:
    the exact form, else the longest prefix, sliced at every prefix length."""
    hit = F._EXACT.get(token)
    if hit is not None:
        return hit
    for n in _PREFIX_LENGTHS:
        if n <= len(token):
            hit = F._PREFIX.get(token[:n])
            if hit is not None:
                return hit
    return None


_FORMS = sorted(F._EXACT) + sorted(F._PREFIX)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(_FORMS), st.integers(-3, 3), st.text(alphabet="aeinrsx", max_size=4))
def test_concept_of_is_the_plain_longest_prefix(form: str, cut: int, tail: str) -> None:
    token = (form[:cut] if cut < 0 else form) + tail
    assert F.concept_of(token) == _plain_concept_of(token)


_PIECES = ["a", "b", "B", "Z", "ü", "Ü", "ß", "3", "٣", "_", "-", " ", "\t", ".", "\n", "é", "É"]
_PIECES += ["aB", "Mc", "iPhone", "easyJet", "Abu Dhabi", "Kevin Warsh", "–", "“", "Ⅻ", "ǅ"]
_PIECES += ["\u0301", "Peking", "USA", "Drei", "Trumps", "\u00a0"]
capish = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@settings(max_examples=1000, deadline=None)
@given(capish)
def test_names_and_runs_are_those_of_the_plain_regexes(text: str) -> None:
    """The capitals-first regexes find the words of ``_CAPITALIZED`` (the plain one runs when
    the text has a camel-case word), and the adjacent ones give the pairs of ``_RUN``."""
    words, gaps = F._capitalized(text, True)
    assert words == F._CAPITALIZED.findall(text)
    assert F._capitalized(text)[0] == words
    if gaps is not None:
        assert F._adjacent_pairs(words, gaps) == F._pairs(text)
    else:
        assert F._CAMEL.search(text)
