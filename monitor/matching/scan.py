"""Compiled variants and the scanner that finds them in folded text. Pure: no I/O, no clock.

A ``Unit`` is one distinct spelling of a concept (shared by every concept that lists it): its
inflected forms, joined/hyphenated spellings, compound head or tail, and a rapidfuzz typo check
on long words. A ``Scanner`` runs one Aho-Corasick automaton (C, ``ahocorasick_rs``) over the
folded text for the units' first letters and checks only the words where a unit could start;
each such word, and each pair of words, is decided once and memoized.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from ahocorasick_rs import BytesAhoCorasick, Implementation
from rapidfuzz import fuzz, process

from monitor.matching.forms import verb_forms
from monitor.matching.rules import Variant
from monitor.matching.text import TOKEN_RE, fold, is_phrase_gap, tokens
from monitor.memo import Generations

__all__ = ["NEEDS_WINDOW", "Scanner", "Unit", "case_key"]

ENDINGS = ("", "s", "e", "n", "r", "m", "en", "er", "es", "em", "ern", "ns", "ens")
"""German and English endings accepted on every word of an inflecting variant."""
FUZZY_MIN_LEN = 7
FUZZY_CUTOFF = 90.0
"""rapidfuzz ``fuzz.ratio``: one missing or extra letter in 10 passes, a swapped letter in 7 not."""
KEY_LEN = 4
JOIN_MIN_LEN = 5
MEMO_LIMIT = 10_000
"""Words (and word pairs) per generation a scanner remembers, each memo (``Generations``: at
most twice that held; bounded, a long-running daemon sees an open vocabulary)."""
WANTED_LIMIT = 1_024
"""Sets of units a scan is restricted to (``Scanner.scan(only=...)``) remembered per scanner."""
_SURROGATES = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")
"""A lone surrogate in UTF-8 passed through (``surrogatepass``)."""
NEEDS_WINDOW = -1.0
"""``Unit.decide``: the words after the first decide whether and where the variant matches."""


class Unit:
    """One distinct variant, compiled. Shared by every concept that lists the same spelling."""

    __slots__ = (
        "case_key", "first_name", "forms", "fuzzy", "head", "joined", "joined_forms", "known",
        "parts", "tail",
    )  # fmt: skip

    def __init__(self, v: Variant) -> None:
        self.parts = tuple(tokens(fold(v.term)))
        inflect = v.inflect and not v.case
        endings = ENDINGS if inflect else ("",)
        self.forms = tuple(tuple(p + e for e in endings) for p in self.parts)
        self.joined = "".join(self.parts)
        self.joined_forms = frozenset(self.joined + e for e in endings)
        if v.verb is not None and len(self.parts) == 1:  # one word (checked by rulefile)
            self.forms = (verb_forms(self.parts[0], v.verb),)
            self.joined_forms = frozenset(self.forms[0])
        self.head, self.tail = v.head, v.tail
        # A verb lists its forms; typos in them are not looked for unless asked (fuzzy: true).
        self.fuzzy = (v.fuzzy if v.fuzzy is not None else v.verb is None) and not v.case
        self.case_key = case_key(v.term) if v.case else None
        self.first_name = v.first_name
        self.known: frozenset[str] = frozenset()
        """Every word form of every variant in the matcher (set by ``Matcher``)."""

    @staticmethod
    def key(v: Variant) -> tuple[object, ...]:
        return (
            tuple(tokens(fold(v.term))),
            v.head,
            v.tail,
            v.inflect and not v.case,
            v.fuzzy if v.fuzzy is not None else v.verb is None,
            case_key(v.term) if v.case else None,
            v.verb,
            v.first_name,
        )

    def index_keys(self) -> set[str]:
        keys = {f[:KEY_LEN] for f in self.forms[0]} | {f[:KEY_LEN] for f in self.joined_forms}
        if len(self.joined) > KEY_LEN:
            keys.add(self.joined[:KEY_LEN])  # "Liefer-Kette" starts a joined "lieferkette"
        return keys

    def _fuzzy_ok(self, token: str, j: int) -> float | None:
        if not self.fuzzy or len(token) < FUZZY_MIN_LEN or len(self.parts[j]) < FUZZY_MIN_LEN:
            return None
        if token in self.known:
            return None  # a word some variant spells exactly is not a typo ("seltener")
        best = process.extractOne(
            token, self.forms[j], scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
        )
        return None if best is None else float(best[1])

    def part_similarity(self, token: str, j: int) -> float | None:
        """100 if ``token`` is word ``j`` of this variant, the similarity if fuzzy, else None."""
        forms = self.forms[j]
        if token in forms:
            return 100.0
        if self.head and j == len(self.parts) - 1 and token.startswith(self.parts[j]):
            return 100.0
        if self.tail and j == 0 and token.endswith(forms):
            return 100.0
        return self._fuzzy_ok(token, j)

    def could_start(self, token: str) -> bool:
        if self.part_similarity(token, 0) is not None:
            return True
        if token in self.joined_forms or (self.head and token.startswith(self.joined)):
            return True
        # A piece of a hyphenated spelling ("Liefer-Kette"); short pieces ("euro") start too much.
        return JOIN_MIN_LEN <= len(token) < len(self.joined) and self.joined.startswith(token)

    def decide(self, token: str) -> float | None:
        """``match_at`` from word ``token`` when that word alone decides it: the similarity of
        a one-word hit, or None for no hit; ``NEEDS_WINDOW`` when the next words matter."""
        k = len(self.parts)
        sim = self.part_similarity(token, 0)
        if k > 1 and sim is not None:
            return NEEDS_WINDOW
        if sim is not None and sim >= 100.0:
            return sim
        if token in self.joined_forms or (self.head and token.startswith(self.joined)):
            return 100.0
        return NEEDS_WINDOW if self.joined.startswith(token) else sim

    def continues(self, first: str, second: str) -> bool:
        """Whether a match starting at word ``first`` can take in the next word ``second`` ("" at
        the end of the text): if not, ``match_at`` comes to ``stop(first)`` without looking on."""
        both = first + second
        if (
            self.joined.startswith(both)
            or both in self.joined_forms
            or (self.head and both.startswith(self.joined))
        ):
            return True
        if len(self.parts) < 2:
            return False
        return (
            second in self.forms[1]
            or (self.head and len(self.parts) == 2 and second.startswith(self.parts[1]))
            or (self.fuzzy and len(second) >= FUZZY_MIN_LEN and len(self.parts[1]) >= FUZZY_MIN_LEN)
        )

    def stop(self, first: str) -> float | None:
        """The similarity of a hit on word ``first`` alone when the next word does not continue."""
        if len(self.parts) == 1:
            return self.part_similarity(first, 0)
        if first in self.joined_forms or (self.head and first.startswith(self.joined)):
            return 100.0
        return None

    def match_at(
        self, toks: Sequence[str], adjacent: Callable[[int], bool], i: int
    ) -> tuple[int, float] | None:
        """(index of the last token, similarity) of a match starting at token ``i``, or None."""
        n, k = len(toks), len(self.parts)
        tokenwise: tuple[int, float] | None = None
        if i + k <= n:
            sim = 100.0
            for j in range(k):
                if j and not adjacent(i + j - 1):
                    break
                s = self.part_similarity(toks[i + j], j)
                if s is None:
                    break
                sim = min(sim, s)
            else:
                tokenwise = (i + k - 1, sim)
                if sim >= 100.0:
                    return tokenwise
        # Joined and hyphenated spellings: "Liefer-Kette", "rareearth", "Seltenerd-Magnete".
        joined, head = self.joined, self.head
        c = ""
        for m in range(min(n - i, k + 2)):
            if m and not adjacent(i + m - 1):
                break
            c += toks[i + m]
            if c in self.joined_forms or (head and c.startswith(joined)):
                return (i + m, 100.0)
            if not joined.startswith(c):
                break
        return tokenwise


def case_key(text: str) -> str:
    """Case-sensitive comparison form: compatibility-normalized, words joined by one space."""
    return " ".join(TOKEN_RE.findall(unicodedata.normalize("NFKC", text)))


class Scanner:
    """Finds hits of a set of units in folded text.

    One Aho-Corasick automaton (C, ``ahocorasick_rs``) runs over the text and reports where the
    units' first-word prefixes occur; only those at a word start count. Compound tails are keys
    too, found anywhere inside a word. Each candidate word is checked once (memoized) and then in
    full with the next few words.
    """

    def __init__(self, units: Iterable[Unit]) -> None:
        by_key: dict[str, list[Unit]] = {}
        tails: dict[str, list[Unit]] = {}
        groups: dict[str, list[Unit]] = {}
        for unit in units:
            for k in unit.index_keys():
                by_key.setdefault(k, []).append(unit)
            if unit.tail:
                tails.setdefault(unit.parts[0], []).append(unit)
                groups.setdefault(unit.parts[0][:6], []).append(unit)
        # Tail hits are checked grouped by their first letters, in rule-file order.
        self.tail_order = {u: i for i, u in enumerate(u for us in groups.values() for u in us)}
        self.by_key = by_key
        self.window = 2 + max((len(u.parts) for us in by_key.values() for u in us), default=0)
        # Pattern index -> (is a word-start key, tail units it ends). A key is both when a tail
        # spells a start key ("-werk" beside "Werk-").
        self.keys = sorted(by_key.keys() | tails.keys())
        self.kinds = [(k in by_key, tuple(tails.get(k, ()))) for k in self.keys]
        self.automaton = _automaton(self.keys)
        self._memo: Generations[str, tuple[_Starts, bool]] = Generations(MEMO_LIMIT)
        self._pairs: Generations[tuple[str, str], _Starts] = Generations(MEMO_LIMIT)
        self.memo = self._memo.young
        self.pairs = self._pairs.young
        self.wanted: dict[frozenset[Unit], tuple[bool, ...]] = {}

    def __getstate__(self) -> dict[str, object]:
        # The automaton does not pickle; it is rebuilt from the keys (for worker processes).
        return {**self.__dict__, "automaton": None}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.automaton = _automaton(self.keys)

    def _wanted(self, only: frozenset[Unit]) -> tuple[bool, ...]:
        """Per automaton key: whether a hit of it may end in a unit of ``only``."""
        wanted = tuple(
            (is_start and not only.isdisjoint(self.by_key[key]))
            or any(unit in only for unit in tails)
            for key, (is_start, tails) in zip(self.keys, self.kinds, strict=True)
        )
        if len(self.wanted) >= WANTED_LIMIT:
            self.wanted.clear()
        self.wanted[only] = wanted
        return wanted

    def _units_for(self, token: str) -> tuple[_Starts, bool]:
        """The units that may start at word ``token``, each with ``Unit.decide(token)``, and
        whether one of them needs the next words."""
        found = self.memo.get(token)
        if found is None:
            found = self._memo.recall(token)
        if found is None:
            units = tuple(
                (u, decided)
                for u in self.by_key.get(token[:KEY_LEN], ())
                if u.could_start(token) and (decided := u.decide(token)) is not None
            )
            found = (units, any(d == NEEDS_WINDOW for _, d in units))
            self._memo.put(token, found)
        return found

    def _pair(self, first: str, second: str, units: _Starts) -> _Starts:
        """``units`` of word ``first`` followed by ``second``: most phrases end at once."""
        key = (first, second)
        found = self.pairs.get(key)
        if found is None:
            found = self._pairs.recall(key)
        if found is None:
            found = _resolve(units, first, second)
            self._pairs.put(key, found)
        return found

    def scan(
        self, norm: str, only: frozenset[Unit] | None = None, data: bytes | None = None
    ) -> list[tuple[Unit, int, int, float]]:
        """(unit, start, end, similarity) with offsets into the folded text ``norm``; with
        ``only``, hits of those units alone. ``data``: the UTF-8 of ``norm`` if at hand
        (``text.fold_utf8``)."""
        out: list[tuple[Unit, int, int, float]] = []
        if self.automaton is None:
            return out
        if data is None:
            data = norm.encode("utf-8", "surrogatepass")
        if b"\xed" in data and _SURROGATES.search(data):
            # Lone surrogates (from undecodable input) are no letters; a stand-in of as many
            # bytes that is no letter either keeps every word and offset.
            data = _SURROGATES.sub("\ufffd".encode(), data)
        # Over bytes: a str haystack costs the automaton a UTF-8 copy and a walk over the whole
        # text to turn its byte offsets into character offsets; here only hits are converted.
        found = self.automaton.find_matches_as_indexes(data, overlapping=True)
        if not found:
            return out
        if only is not None:
            # Only the keys that can lead to a unit of ``only``. A word's units are those of its
            # first KEY_LEN letters, itself a key found at the same place when it has units: a
            # word reached by another key first is still checked, once, when that key comes.
            wanted = self.wanted.get(only)
            if wanted is None:
                wanted = self._wanted(only)
            found = [f for f in found if wanted[f[0]]]
        kinds = self.kinds
        memo = self.memo
        tail_hits: list[tuple[Unit, int]] = []
        last = -1
        ascii = len(data) == len(norm)
        at_byte = at_char = 0
        for index, pos, _ in found:
            if not ascii:  # the hit's byte offset as a character offset
                if pos >= at_byte:
                    at_char += len(data[at_byte:pos].decode("utf-8", "surrogatepass"))
                else:
                    at_char = len(data[:pos].decode("utf-8", "surrogatepass"))
                at_byte, pos = pos, at_char
            is_start, tails = kinds[index]
            if pos == 0 or not norm[pos - 1].isalnum():
                # Several keys can start one word ("ree", "rees"): it is checked once.
                if is_start and pos != last:
                    last = pos
                    word = TOKEN_RE.match(norm, pos)
                    assert word is not None
                    token = word.group()
                    decided = memo.get(token)
                    units, windowed = self._units_for(token) if decided is None else decided
                    if windowed:
                        second = TOKEN_RE.search(norm, word.end())
                        units = self._pair(token, "" if second is None else second.group(), units)
                    if units:
                        self._check(norm, pos, word.end(), units, only, out)
            elif tails:
                tail_hits.extend((unit, pos) for unit in tails if only is None or unit in only)
        if tail_hits:
            self._tails(norm, tail_hits, out)
        return out

    def _tails(
        self,
        norm: str,
        tail_hits: list[tuple[Unit, int]],
        out: list[tuple[Unit, int, int, float]],
    ) -> None:
        # After the word starts, unit by unit, as the hits are ordered for explanations.
        tail_hits.sort(key=lambda up: self.tail_order[up[0]])
        for unit, pos in tail_hits:
            start = pos
            while start and norm[start - 1].isalnum():
                start -= 1
            word = TOKEN_RE.match(norm, start)
            assert word is not None
            token = word.group()
            if unit.could_start(token) and (decided := unit.decide(token)) is not None:
                units = _resolve(((unit, decided),), token, _next_word(norm, word.end()))
                self._check(norm, start, word.end(), units, None, out)

    def _check(
        self,
        norm: str,
        pos: int,
        word_end: int,
        units: _Starts,
        only: frozenset[Unit] | None,
        out: list[tuple[Unit, int, int, float]],
    ) -> None:
        window: list[re.Match[str]] = []
        toks: list[str] = []

        def adjacent(i: int) -> bool:
            return is_phrase_gap(norm[window[i].end() : window[i + 1].start()])

        for unit, decided in units:
            if only is not None and unit not in only:
                continue
            if decided != NEEDS_WINDOW:
                out.append((unit, pos, word_end, decided))
                continue
            if not window:  # tokenized only when a variant needs the next words
                window = list(itertools.islice(TOKEN_RE.finditer(norm, pos), self.window))
                toks = [t.group() for t in window]
            found = unit.match_at(toks, adjacent, 0)
            if found is not None:
                out.append((unit, pos, window[found[0]].end(), found[1]))


_Starts = tuple[tuple[Unit, float], ...]
"""Units that may start at a word, each with a one-word similarity or ``NEEDS_WINDOW``."""


def _automaton(keys: Sequence[str]) -> BytesAhoCorasick | None:
    """Over UTF-8 bytes; a DFA (the keys are few: a few hundred states)."""
    if not keys:
        return None
    return BytesAhoCorasick([k.encode() for k in keys], implementation=Implementation.DFA)


def _next_word(norm: str, pos: int) -> str:
    word = TOKEN_RE.search(norm, pos)
    return "" if word is None else word.group()


def _resolve(units: _Starts, first: str, second: str) -> _Starts:
    """``units`` after looking at the next word: a phrase it does not continue ends at
    ``first`` ("supply of", "export data"), as a one-word hit or none."""
    out = []
    for unit, decided in units:
        if decided == NEEDS_WINDOW and not unit.continues(first, second):
            stop = unit.stop(first)
            if stop is None:
                continue
            decided = stop
        out.append((unit, decided))
    return tuple(out)
