"""What the clusterer compares: words, concepts and numbers of one entry. Pure.

Text is folded (``matching.text.fold``), split into tokens, function words dropped and each word
cut to its first ``STEM`` letters (a cheap stem that also merges German inflections:
"festgenommen"/"festgenommener"). Lexicon concepts (``lexicon.CONCEPTS``) are added as
``@concept`` tokens, so German and English reports of one event share them; numbers are
normalized ("13.000" and "13,000" -> ``#13000``, "2,95" and "2.95" -> ``#2.95``). The
headline's principal action (``principal``) is the class of its action concepts
(``lexicon.ACTION_CLASSES``) of the latest stage: what the new-story decision compares.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import is_
from typing import cast

from monitor.matching.text import fold, folded_tokens, tokens
from monitor.memo import Generations
from monitor.stories.lexicon import ACTION_CLASSES, STOPWORDS, build_lookup
from monitor.stories.model import StoryEntry

__all__ = ["STEM", "Features", "extract"]

STEM = 7
"""Letters kept of a word: long enough to keep names apart, short enough to merge inflections."""

_EXACT, _PREFIX = build_lookup()
_PREFIX_LENGTHS = sorted({len(p) for p in _PREFIX}, reverse=True)
_NUMBER = re.compile(r"\d(?<![\w.,]\d)\d*(?:[.,]\d+)*")
r"""A number not inside a word or after a separator: ``(?<![\w.,])\d+(?:[.,]\d+)*`` written
with the look-behind after the first digit, so that the regex engine skips to digits."""
_THOUSANDS = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")


def concept_of(token: str) -> str | None:
    """The lexicon concept of one folded token, or None."""
    hit = _EXACT.get(token)
    if hit is not None:
        return hit
    for n in _PREFIX_LENGTHS:
        if n <= len(token):
            hit = _PREFIX.get(token[:n])
            if hit is not None:
                return hit
    return None


def numbers(text: str) -> set[str]:
    """Numbers in ``text``, normalized across German and English separators."""
    out = set()
    for m in _NUMBER.finditer(text):
        raw = m.group().rstrip(".,")
        if _THOUSANDS.match(raw):
            value = raw.replace(".", "").replace(",", "")
        elif "," in raw or "." in raw:
            value = raw.replace(",", ".")
        else:
            value = raw
        value = value.lstrip("0") or "0"
        out.add("#" + value)
    return out


@dataclass(frozen=True, slots=True)
class Features:
    """The comparable content of one entry."""

    words: frozenset[str]
    """Word stems (no function words), ``@concept`` ids and ``#number`` tokens."""
    title: frozenset[str]
    """The same for the headline: the title, and the summary's first sentence when the title is
    a kicker of a few words ("USA:")."""
    names: frozenset[str]
    """Words with a capital letter (stems), concepts and numbers: what German and English copy
    share."""
    action: frozenset[str] = frozenset()
    """The headline's principal action: its ``lexicon.ACTION_CLASSES`` of the latest stage
    ("justice" for "suspect arrested after shooting"), empty when it names no action."""
    pairs: frozenset[str] = frozenset()
    """Adjacent name stems of one run of capitalized words, "a b" ("Abu Dhabi" -> "abu dhabi",
    "Kevin Warsh" -> "kevin warsh"): two shared names that form one pair in both texts are one
    entity, not two (``window.entities``)."""

    @property
    def specific(self) -> frozenset[str]:
        """Words and numbers, without concepts: what an index looks up."""
        return frozenset(w for w in self.words if w[0] != "@")


_CAPITALIZED = re.compile(r"(?<![\w])(?:[^\W\d_a-z]|[a-z]+[A-Z])[\w-]*")
"""A name: a word with a capital first letter ("Castlelake", "SDF") or a Latin capital after a
lower-case start ("easyJet", "iPhone")."""
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


MEMO_LIMIT = 10_000
"""Words per generation remembered by ``_term`` and ``_name_terms``, each (``Generations``: at
most twice that held). News reuse a small vocabulary, a long-running process sees an open one:
bounded, the words of the last generation kept (issue 14: 20,000 held save as much CPU as 200,000
on the news stream; bench/RESULTS.md, helper memcap)."""
_TERMS: Generations[str, str] = Generations(MEMO_LIMIT)
_NAMES: Generations[str, tuple[str, ...]] = Generations(MEMO_LIMIT)
_TERM_MEMO = _TERMS.young
_NAME_MEMO = _NAMES.young


_NUMBER_WORDS = {
    w: f"#{n}"
    for n, forms in {
        2: ("zwei", "two"), 3: ("drei", "three"), 4: ("vier", "four"), 5: ("fuenf", "five"),
        6: ("sechs", "six"), 7: ("sieben", "seven"), 8: ("acht", "eight"), 9: ("neun", "nine"),
        10: ("zehn", "ten"), 12: ("zwoelf", "twelve"), 20: ("zwanzig", "twenty"),
    }.items()
    for w in forms
}  # fmt: skip
"""Number words of both languages as the numbers they name: "Drei Feuerwehrleute" and
"3 firefighters" share ``#3``."""


def _term(tok: str) -> str:
    """The term of one folded token in ``_terms``: its concept, else its stem; "" for none (a
    function word, a number, a word under 3 letters). Memoized."""
    term = _TERM_MEMO.get(tok)
    if term is None:
        term = _TERMS.recall(tok)
        if term is not None:
            return term
        if tok in STOPWORDS:
            term = ""
        elif (concept := concept_of(tok)) is not None:
            term = concept
        elif tok.isdigit() or len(tok) < 3:
            term = ""  # numbers come from ``numbers`` with their separators
        else:
            term = tok[:STEM]
        _TERMS.put(tok, term)
    return term


def _name_terms(word: str) -> tuple[str, ...]:
    """The terms one capitalized word of the text gives ``_names``. Memoized."""
    found = _NAME_MEMO.get(word)
    if found is None:
        found = _NAMES.recall(word)
        if found is not None:
            return found
        if not word[0].isupper() and not word[0].isascii():
            found = ()
        else:
            # A word of 3 letters or more that is no number nor function word: its concept,
            # else its stem, which is what ``_term`` gives it (and may have memoized).
            found = tuple(
                _term(tok)
                for tok in tokens(fold(word))
                if not (tok in STOPWORDS or len(tok) < 3 or tok.isdigit())
            )
        _NAMES.put(word, found)
    return found


def _names(text: str) -> set[str]:
    words = _CAPITALIZED.findall(text)
    memoized = list(map(_NAME_MEMO.get, words))  # memo look-ups without a call per word
    if None not in memoized:
        return set(itertools.chain.from_iterable(cast(list[tuple[str, ...]], memoized)))
    # A call only for the words not seen yet (``is None``: an empty tuple is a known word).
    missing = map(_name_terms, itertools.compress(words, map(is_, memoized, repeat(None))))
    known = (m for m in memoized if m)
    return set(itertools.chain(itertools.chain.from_iterable(known), *missing))


_NAME_WORD = r"(?:[^\W\d_a-z]|[a-z]+[A-Z])[\w-]*"
_RUN = re.compile(rf"(?<![\w]){_NAME_WORD}(?:[ \t]+{_NAME_WORD})+")
"""Two or more capitalized words separated by blanks only: one run, maybe one entity."""


def _pairs(text: str) -> set[str]:
    """The "a b" pairs of adjacent single-term names in the runs of ``text``."""
    out: set[str] = set()
    for run in _RUN.findall(text):
        terms = [t[0] if len(t) == 1 else "" for t in map(_name_terms, run.split())]
        for a, b in itertools.pairwise(terms):
            if a and b and a[0] not in "@#" and b[0] not in "@#":
                out.add(f"{a} {b}")
    return out


def _terms(text: str, spelt: set[str] | None = None) -> set[str]:
    """The terms of ``text``; the numbers it spells out (``_NUMBER_WORDS``) go to ``spelt``."""
    toks = folded_tokens(text)  # the search index asks for the same texts' tokens
    memoized = list(map(_TERM_MEMO.get, toks))
    out: set[str | None] = set(memoized)
    if None in out:
        # A call only for the tokens not seen yet.
        out.discard(None)
        out.update(map(_term, itertools.compress(toks, map(is_, memoized, repeat(None)))))
    out.discard("")
    out |= numbers(text)
    if spelt is not None:
        spelt.update(_NUMBER_WORDS[t] for t in toks if t in _NUMBER_WORDS)
    return cast(set[str], out)


HEADLINE_MIN_TERMS = 4


def genitives(names: Iterable[str]) -> set[str]:
    """The names of ``names`` that end in a German genitive s, without it ("trumps" -> "trump";
    a stem cut at ``STEM`` letters has lost its ending already)."""
    return {n[:-1] for n in names if 4 <= len(n) < STEM and n[-1] == "s" and n[0] not in "@#"}


def extract(entry: StoryEntry, pairs: bool = False) -> Features:
    """The features of ``entry``; ``pairs`` also finds its adjacent names (``Features.pairs``),
    which only the opt-in next-day gate reads (``Settings.entities``): a regex pass the default
    does without."""
    spelt: set[str] = set()
    title = _terms(entry.title, spelt)
    summary = _terms(entry.summary, spelt)
    headline = title
    if len(title) < HEADLINE_MIN_TERMS and entry.summary:
        first = _SENTENCE_END.split(entry.summary, maxsplit=1)[0]
        headline = title | _terms(first)
    words = title | summary
    text = f"{entry.title} {entry.summary}"
    found = _names(text)
    names = (found | {w for w in words if w[0] in "@#"}) & words | {w for w in found if w[0] == "@"}
    # Names are what German and English copy compare: numbers spelt out ("drei" / "3"), and a
    # German genitive ("Trumps Name") also as the English copy spells it ("Trump's" -> "trump").
    names |= spelt
    names |= genitives(names)
    return Features(
        frozenset(words),
        frozenset(headline),
        frozenset(names),
        principal(headline),
        frozenset(_pairs(text)) if pairs else frozenset(),
    )


def principal(headline: Iterable[str]) -> frozenset[str]:
    """The principal action classes of a headline's terms: those after the event, if any."""
    classes = {c for t in headline if t[0] == "@" and (c := ACTION_CLASSES.get(t)) is not None}
    later = classes - {"event"}
    return frozenset(later or classes)
