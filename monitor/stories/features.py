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
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import is_, itemgetter
from typing import cast

from monitor.matching.text import fold, folded_tokens, tokens
from monitor.memo import Generations
from monitor.stories.lexicon import ACTION_CLASSES, STOPWORDS, build_lookup
from monitor.stories.model import StoryEntry

__all__ = ["STEM", "Features", "extract"]

STEM = 7
"""Letters kept of a word: long enough to keep names apart, short enough to merge inflections."""

_EXACT, _PREFIX = build_lookup()
# Interned, as the window's members hold them (``window._compact``).
_EXACT = {form: sys.intern(concept) for form, concept in _EXACT.items()}
_PREFIX = {form: sys.intern(concept) for form, concept in _PREFIX.items()}
_HEAD = min(map(len, _PREFIX))
_BY_HEAD: dict[str, tuple[tuple[str, str], ...]] = {}
"""The prefixes of ``_PREFIX`` by their first ``_HEAD`` letters, longest first, with their
concepts: a token is compared with the few prefixes it starts like, not sliced at every length."""
for _p in sorted(_PREFIX, key=len, reverse=True):
    _BY_HEAD[_p[:_HEAD]] = (*_BY_HEAD.get(_p[:_HEAD], ()), (_p, _PREFIX[_p]))
del _p
CONCEPT_IDS = frozenset(_EXACT.values()) | frozenset(_PREFIX.values())
"""Every concept a token can give (``concept_of``): the ``@`` terms of ``extract``'s features."""
_NUMBER = re.compile(r"\d(?<![\w.,]\d)\d*(?:[.,]\d+)*")
r"""A number not inside a word or after a separator: ``(?<![\w.,])\d+(?:[.,]\d+)*`` written
with the look-behind after the first digit, so that the regex engine skips to digits."""
_THOUSANDS = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")


def concept_of(token: str) -> str | None:
    """The lexicon concept of one folded token, or None."""
    hit = _EXACT.get(token)
    if hit is not None:
        return hit
    # The longest prefix of ``_PREFIX`` that starts the token (two of one length cannot both).
    for prefix, concept in _BY_HEAD.get(token[:_HEAD], ()):
        if token.startswith(prefix):
            return concept
    return None


def numbers(text: str) -> set[str]:
    """Numbers in ``text``, normalized across German and English separators."""
    out: set[str] = set()
    for found in _NUMBER.findall(text):
        raw = found.rstrip(".,")
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
        term = _missed_terms((tok,))[0]
    return term


def _missed_terms(toks: Iterable[str]) -> list[str]:
    """``_term`` of each token, in one call: for the tokens ``_TERM_MEMO`` did not hold (a token
    twice finds the first one's term). Stems are interned, so that the window's members share
    them without a look-up each (``window._compact``); concepts are interned at import."""
    memo = _TERMS
    get = memo.young.get
    out: list[str] = []
    for tok in toks:
        term = get(tok)
        if term is None:
            term = memo.recall(tok)
            if term is None:
                if tok in STOPWORDS:
                    term = ""
                elif (concept := concept_of(tok)) is not None:
                    term = concept
                elif tok.isdigit() or len(tok) < 3:
                    term = ""  # numbers come from ``numbers`` with their separators
                else:
                    term = sys.intern(tok[:STEM])
                memo.put(tok, term)
        out.append(term)
    return out


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
    return _name_set(_CAPITALIZED.findall(text))


def _name_set(words: list[str]) -> set[str]:
    """The terms of the capitalized words ``words`` (``_name_terms`` of each)."""
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

_CAMEL = re.compile(r"[A-Z](?<=[a-z].)")
"""A Latin capital after a Latin lower-case letter: where a name may start lower-case."""
_UPPER_WORD = r"[A-Z\x80-\U0010ffff](?<=[^\W\d_])(?<!\w.)[\w-]*"
_UPPER = re.compile(_UPPER_WORD)
_UPPER_GAP = re.compile(rf"({_UPPER_WORD})((?:[ \t]+(?=[^\W\d_a-z]))?)")
r"""``_CAPITALIZED`` in a text without ``_CAMEL`` (there its ``[a-z]+[A-Z]`` cannot match), with
the look-behind after the first letter and that letter from a set the regex engine skips to
(upper-case Latin or not ASCII, then checked to be a letter): a fraction of the cost of trying
the pattern at every position. ``_UPPER_GAP`` also captures the blanks to the next name when
one follows: two names of one ``_RUN``, without scanning the text again for runs."""


def _capitalized(text: str, gaps: bool = False) -> tuple[list[str], list[str] | None]:
    """``_CAPITALIZED.findall(text)``, and with ``gaps`` for each of those words the blanks to
    the next one when they are adjacent in a ``_RUN`` ("" else); None when the text has a
    ``_CAMEL`` (then ``_pairs`` finds the runs)."""
    if _CAMEL.search(text) is not None:
        return _CAPITALIZED.findall(text), None
    if not gaps:
        return _UPPER.findall(text), None
    found = _UPPER_GAP.findall(text)
    return list(map(_FIRST, found)), list(map(_SECOND, found))


_FIRST, _SECOND = itemgetter(0), itemgetter(1)


def _pairs(text: str) -> set[str]:
    """The "a b" pairs of adjacent single-term names in the runs of ``text``."""
    out: set[str] = set()
    for run in _RUN.findall(text):
        terms = [t[0] if len(t) == 1 else "" for t in map(_name_terms, run.split())]
        for a, b in itertools.pairwise(terms):
            if a and b and a[0] not in "@#" and b[0] not in "@#":
                out.add(f"{a} {b}")
    return out


def _adjacent_pairs(words: list[str], gaps: list[str]) -> set[str]:
    """``_pairs`` from ``_capitalized``'s words and gaps: each word followed by a gap and the
    next word are adjacent names of one run."""
    out: set[str] = set()
    get = _NAME_MEMO.get
    for first, second in itertools.compress(itertools.pairwise(words), gaps):
        t = get(first)
        if t is None:
            t = _name_terms(first)
        u = get(second)
        if u is None:
            u = _name_terms(second)
        if len(t) == 1 and len(u) == 1:
            a, b = t[0], u[0]
            if a and b and a[0] not in "@#" and b[0] not in "@#":
                out.add(f"{a} {b}")
    return out


def _terms(text: str, spelt: set[str] | None = None, numbered: set[str] | None = None) -> set[str]:
    """The terms of ``text``; the numbers it spells out (``_NUMBER_WORDS``) go to ``spelt``, its
    numbers (its ``#`` terms) also to ``numbered``."""
    toks = folded_tokens(text)  # the search index asks for the same texts' tokens
    memoized = list(map(_TERM_MEMO.get, toks))
    out: set[str | None] = set(memoized)
    if None in out:
        # One call for the tokens not seen yet.
        out.discard(None)
        out.update(_missed_terms(itertools.compress(toks, map(is_, memoized, repeat(None)))))
    out.discard("")
    found = numbers(text)
    if found:
        out |= found
        if numbered is not None:
            numbered |= found
    if spelt is not None:
        spelt.update(map(_NUMBER_WORDS.__getitem__, _NUMBER_WORDS.keys() & toks))
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
    marked: set[str] = set()  # the numbers of title and summary: their ``#`` terms
    title = _terms(entry.title, spelt, marked)
    summary = _terms(entry.summary, spelt, marked)
    headline = title
    if len(title) < HEADLINE_MIN_TERMS and entry.summary:
        first = _SENTENCE_END.split(entry.summary, maxsplit=1)[0]
        headline = title | _terms(first)
    words = title | summary
    text = f"{entry.title} {entry.summary}"
    capitalized, gaps = _capitalized(text, pairs)
    found = _name_set(capitalized)
    # The ``@`` and ``#`` terms of the words: their concepts (``concept_of`` gives no other
    # ``@`` term, a stem or a number none) and numbers; of the names found, their concepts.
    marked |= words.intersection(CONCEPT_IDS)
    names = (found | marked) & words | found.intersection(CONCEPT_IDS)
    # Names are what German and English copy compare: numbers spelt out ("drei" / "3"), and a
    # German genitive ("Trumps Name") also as the English copy spells it ("Trump's" -> "trump").
    names |= spelt
    names |= genitives(names)
    if not pairs:
        adjacent: frozenset[str] = frozenset()
    elif gaps is None:
        adjacent = frozenset(_pairs(text))
    else:
        adjacent = frozenset(_adjacent_pairs(capitalized, gaps))
    return Features(
        frozenset(words),
        frozenset(headline),
        frozenset(names),
        principal(headline),
        adjacent,
    )


def principal(headline: Iterable[str]) -> frozenset[str]:
    """The principal action classes of a headline's terms: those after the event, if any."""
    classes = {ACTION_CLASSES[t] for t in _ACTION_IDS.intersection(headline)}
    later = classes - {"event"}
    return frozenset(later or classes)


_ACTION_IDS = frozenset(t for t in ACTION_CLASSES if t[:1] == "@")
