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
