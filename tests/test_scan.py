"""The scanner's short cuts (automaton, per-word and per-pair memos) find exactly what checking
every word of the text in full finds."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.matching.loader import load_rules
from monitor.matching.match import Matcher, compile_rules
from monitor.matching.rules import Concept, Rule, RuleSet, Variant
from monitor.matching.scan import KEY_LEN, Scanner, Unit
from monitor.matching.text import TOKEN_RE, fold, fold_utf8, is_phrase_gap
from monitor.resources import shipped_rules_dir

_Found = set[tuple[int, int, int, float]]


def reference_scan(scanner: Scanner, norm: str) -> _Found:
    """Every word start tried against every unit indexed under its first letters, and every
    compound tail looked for inside every word, each checked with ``Unit.match_at`` in full."""
    units = {id(u): u for us in scanner.by_key.values() for u in us}
    tails = [u for u in units.values() if u.tail]
    words = list(TOKEN_RE.finditer(norm))
    out: _Found = set()

    def check(i: int, start: int, candidates: list[Unit]) -> None:
        window = words[i : i + scanner.window]
        toks = [w.group() for w in window]

        def adjacent(j: int) -> bool:
            return is_phrase_gap(norm[window[j].end() : window[j + 1].start()])

        for unit in candidates:
            found = unit.match_at(toks, adjacent, 0)
            if found is not None:
                out.add((id(unit), start, window[found[0]].end(), found[1]))

    for i, word in enumerate(words):
        token = word.group()
        starting = [u for u in scanner.by_key.get(token[:KEY_LEN], ()) if u.could_start(token)]
        check(i, word.start(), starting)
        inside = [u for u in tails if token.find(u.parts[0], 1) > 0 and u.could_start(token)]
        check(i, word.start(), inside)
    return out


def scanned(scanner: Scanner, norm: str) -> _Found:
    return {(id(u), a, b, sim) for u, a, b, sim in scanner.scan(norm)}


@pytest.fixture(scope="module")
def shipped() -> Matcher:
    return compile_rules(load_rules([shipped_rules_dir()]))


def _pack_terms() -> list[str]:
    rules = load_rules([shipped_rules_dir()])
    return sorted({v.term for c in rules.concepts.values() for v in (*c.variants, *c.exclude)})


_TERMS = _pack_terms()
_WORDS = sorted({w for t in _TERMS for w in re.findall(r"[^\W_]+", t)})


def _typo(text: str, at: int) -> str:
    """``text`` with the letter at ``at`` (counted from either end) left out."""
    i = at % len(text)
    return text[:i] + text[i + 1 :]


def _split(word: str, at: int, gap: str) -> str:
    i = 1 + at % max(1, len(word) - 1)
    return word[:i] + gap + word[i:]


_INDEX = st.integers(-12, 12)
# Pieces that make the short cuts matter: whole variant phrases, inflections, typos anywhere
# (also in the second word of a phrase, also at the end of a word), joined, split and hyphenated
# spellings, compounds, prefixes of phrases, and words that start like a variant but are not one.
_PIECES = st.one_of(
    st.sampled_from(_TERMS),
    st.builds(_typo, st.sampled_from(_TERMS), _INDEX),
    st.sampled_from(_WORDS),
    st.builds(lambda w, e: w + e, st.sampled_from(_WORDS), st.sampled_from(["n", "s", "en", "e"])),
    st.builds(_typo, st.sampled_from(_WORDS), _INDEX),
    st.builds(_split, st.sampled_from(_WORDS + _TERMS), _INDEX, st.sampled_from(["-", " "])),
    st.builds(lambda a, b: a + b.lower(), st.sampled_from(_WORDS), st.sampled_from(_WORDS)),
    st.builds(
        lambda a, b, at, gap: _split(a + b.lower(), at, gap),
        st.sampled_from(_WORDS),
        st.sampled_from(["magnete", "kette", "n", "Preis"]),
        _INDEX,
        st.sampled_from(["-", " "]),
    ),
    st.builds(lambda w: "Waffen" + w.lower(), st.sampled_from(_WORDS)),
    st.sampled_from(["of", "und", "the", "Export", "supply", "Liefer", "Kette", "Seltene", "X"]),
)
_GAPS = st.sampled_from([" ", "-", " - ", ", ", ". ", "\u00ad", "\n", "’s "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(_PIECES, min_size=1, max_size=8))
    gaps = draw(st.lists(_GAPS, min_size=len(pieces), max_size=len(pieces)))
    return "".join(itertools.chain.from_iterable(zip(pieces, gaps, strict=True)))


@settings(max_examples=600, deadline=None)
@given(texts())
def test_scanner_finds_what_checking_every_word_finds(shipped: Matcher, text: str) -> None:
    norm = fold(text)
    for scanner in (shipped._main, shipped._context):
        assert scanned(scanner, norm) == reference_scan(scanner, norm), text


@settings(max_examples=300, deadline=None)
@given(texts(), st.data())
def test_a_scan_for_some_units_finds_their_hits_of_the_full_scan(
    shipped: Matcher, text: str, data: st.DataObject
) -> None:
    """``scan(only=...)`` skips the keys that cannot lead to those units: the same hits, in the
    same order, as the full scan's hits of those units (the context scan's short cut)."""
    norm, utf8 = fold_utf8(text)
    for scanner in (shipped._main, shipped._context):
        units = sorted({u for us in scanner.by_key.values() for u in us}, key=lambda u: u.parts)
        tails = sorted({u for us in scanner.kinds for u in us[1]}, key=lambda u: u.parts)
        pool = units + tails
        only = frozenset(data.draw(st.lists(st.sampled_from(pool), max_size=6)))
        full = scanner.scan(norm)
        assert scanner.scan(norm, only, utf8) == [f for f in full if f[0] in only], text
        assert scanner.scan(norm, None, utf8) == full


@pytest.mark.parametrize(
    "text",
    [
        "Xi in Graphit, in Graphiten, ingraphit, Chinatown in China, in gra-phit",
        "Ein Satz mit \ud800 und \ufffd: in Graphit, Exportkontrollen",
        "supply of chips and a supply chain, supply-chains, supplychain",
        "Export-Kontrollen, Exportkontrollen, export controls on chips, export of cars",
        "Liefer-Kette und Lieferketten; Rohstofflieferketten, Waffenexportstopp",
        "critical raw materials, critical raw, critical minerals deal",
        "Seltene Erden, Seltene-Erden-Exporte, Seltnene Erden, seltene Krankheiten",
        "Xi Jinping, Xi, China Town and China Restaurant in China",
    ],
)
def test_phrases_and_compounds_agree_with_the_full_check(shipped: Matcher, text: str) -> None:
    norm = fold(text)
    for scanner in (shipped._main, shipped._context):
        assert scanned(scanner, norm) == reference_scan(scanner, norm)
    # A memo filled by an earlier text gives the same answer again.
    assert scanned(shipped._main, norm) == reference_scan(shipped._main, norm)
    assert scanned(shipped._main, norm)


# Random packs over a two-letter alphabet: words share prefixes, join into each other's forms
# and fall within typo distance far more often than in real text.
_WORD = st.one_of(
    st.sampled_from(["abab", "abba", "baab", "ababab", "abbaab", "aabbaab", "abababab"]),
    st.text(alphabet="ab", min_size=4, max_size=8),
)


@st.composite
def variants(draw: st.DrawFn) -> Variant:
    words = draw(st.lists(_WORD, min_size=1, max_size=3))
    affix = draw(st.sampled_from(["", "", "head", "tail"]))
    return Variant(
        term=" ".join(words),
        head=affix == "head",
        tail=affix == "tail",
        inflect=draw(st.booleans()),
        fuzzy=draw(st.sampled_from([None, True, False])),
    )


def ab_texts(words: list[str]) -> st.SearchStrategy[str]:
    """Texts of the pack's own words, their typos, compounds and joins, and random words."""
    word = st.sampled_from(words)
    piece = st.one_of(
        word,
        st.builds(lambda w, x: w + x, word, st.text(alphabet="ab", max_size=4)),
        st.builds(_typo, word, _INDEX),
        st.builds(lambda a, b: a + b, word, word),
        st.builds(_split, word, _INDEX, st.sampled_from(["-", " "])),
        st.text(alphabet="ab", min_size=1, max_size=10),
    )
    part = st.tuples(piece, st.sampled_from(["", "", "en", "s", "n"]), st.sampled_from(GAPS))
    return st.lists(part, min_size=1, max_size=8).map(lambda ps: "".join(map("".join, ps)))


GAPS = [" ", " ", "-", ". ", ""]


@settings(max_examples=500, deadline=None)
@given(st.lists(variants(), min_size=1, max_size=6), st.data())
def test_random_packs_agree_with_the_full_check(found: list[Variant], data: st.DataObject) -> None:
    rules = RuleSet((Rule("r", "r", any=("c",)),), {"c": Concept("c", tuple(found))})
    scanner = compile_rules(rules)._main
    words = sorted({w for v in found for w in v.term.split()})
    for text in data.draw(st.lists(ab_texts(words), min_size=1, max_size=4)):
        # several texts: the memos carry over from one to the next
        norm = fold(text)
        assert scanned(scanner, norm) == reference_scan(scanner, norm), (found, text)


@pytest.mark.parametrize(
    ("variant", "text", "hit"),
    [
        # An inflected first word, then a compound head as the second: "Seltener Erdmagnete".
        (Variant("seltene erd", head=True), "Seltener Erdmagnete", "seltener erdmagnete"),
        # A tail phrase spelt joined, followed by a word that does not continue it.
        (Variant("abab abab", tail=True), "abababab baba", "abababab"),
        # A head word split by a hyphen, then a compound: "Selten-erdmagnete".
        (Variant("seltenerd", head=True), "Selten-erdmagnete", "selten-erdmagnete"),
        # A typo in the second word of a phrase.
        (Variant("supply shortage"), "supply shortge", "supply shortge"),
    ],
)
def test_corner_cases_of_the_short_cuts(variant: Variant, text: str, hit: str) -> None:
    rules = RuleSet((Rule("r", "r", any=("c",)),), {"c": Concept("c", (variant,))})
    scanner = compile_rules(rules)._main
    norm = fold(text)
    found = scanned(scanner, norm)
    assert found == reference_scan(scanner, norm)
    assert {norm[a:b] for _, a, b, _ in found} == {hit}
