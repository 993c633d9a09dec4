"""``near:`` and ``sentence:`` concepts: hits of other concepts close together. Pure, no I/O.

A ``Words`` is one field's text cut into words (the matcher's tokens, on the folded text, mapped
back to source offsets) and sentences. ``combine`` takes the hits of each concept of a ``Near``
clause in that field and returns the tightest combinations: one hit per concept, no two
the same text, all in one sentence, at most ``within`` words between them in all (``sentence:``
has no limit), and in the listed order when ``order: fixed``.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.matching.rules import Near
from monitor.matching.text import IGNORABLE
from monitor.model import Hit

__all__ = ["MAX_HITS", "Link", "Words", "combine"]

MAX_HITS = 12
"""Hits per concept and field looked at when combining (the first ones in the text)."""

# A sentence ends at . ! ? … (then closing quotes or brackets) before white space and a capital
# letter, digit or opening quote; at a blank line; at a "+++" or " | " news-ticker separator.
_SENTENCE_END = re.compile(
    r"(?<=[.!?\u2026])[\"'\u201c\u201d\u2019\u00bb\u00ab)\]]*\s+(?=[\"'\u201e\u201c\u00ab(\[]?[^\W\d_a-z]|\d)"
    r"|\n\s*\n|\s*\+\+\+\s*|\s+\|\s+"
)
# A full stop after these is no sentence end ("U.S. curbs", "Nr. 5", "z.B. Lithium").
_ABBREVIATIONS = frozenset(
    {
        "u.s", "us", "u.k", "uk", "e.u", "eu", "mr", "mrs", "ms", "dr", "prof", "st", "nr", "no",
        "vs", "ca", "bzw", "z.b", "d.h", "u.a", "usw", "etc", "jan", "feb", "aug", "sept", "sep",
        "oct", "okt", "nov", "dec", "dez", "inc", "corp", "co", "ltd", "gov", "sen", "rep",
    }
)  # fmt: skip


_WORD = re.compile(f"[^\\W_](?:[^\\W_]|[{IGNORABLE}\u0300-\u036f\u1ab0-\u1aff\u20d0-\u20ff])*")


@dataclass(frozen=True, slots=True)
class Link:
    """One combination found for a ``near:``/``sentence:`` concept."""

    hit: Hit
    """The span from the first to the last end, as the concept's hit."""
    ends: tuple[Hit, ...]
    """The hits combined, in text order."""
    distance: int
    """Words between the hits (in all)."""
    near: Near


class Words:
    """Word and sentence positions of one field's text, by source offset."""

    def __init__(self, text: str) -> None:
        self.text = text
        # The matcher's tokens, on the source text: marks and invisible characters inside a word
        # keep it one word, as folding does ("Selten\u00aderden", "Cafe\u0301").
        self.starts = [m.start() for m in _WORD.finditer(text)]
        self.breaks = [m.end() for m in _SENTENCE_END.finditer(text) if _ends(text, m.start())]

    def span(self, hit: Hit) -> tuple[int, int]:
        """Index of the first and the last word of ``hit``."""
        first = max(0, bisect.bisect_right(self.starts, hit.start) - 1)
        last = max(first, bisect.bisect_left(self.starts, hit.end) - 1)
        return first, last

    def sentence(self, offset: int) -> int:
        return bisect.bisect_right(self.breaks, offset)


def _ends(text: str, dot: int) -> bool:
    """Whether the punctuation before ``dot`` ends a sentence (not "U.S." or "Nr.")."""
    i = dot
    while i and text[i - 1] in "\"'\u201c\u201d\u2019\u00bb\u00ab)]":
        i -= 1
    if not i or text[i - 1] != ".":
        return True
    j = i - 1
    while j and (text[j - 1].isalnum() or text[j - 1] == "."):
        j -= 1
    word = text[j : i - 1].casefold()
    return not (len(word) == 1 or word in _ABBREVIATIONS)


def combine(near: Near, hits: Sequence[Sequence[Hit]], words: Words, cid: str) -> list[Link]:
    """The combinations of ``hits`` (per concept of ``near``, one field) that ``near`` accepts,
    tightest first, no two sharing a hit or overlapping; ``cid`` names the combined hits."""
    placed = [[(h, *words.span(h), words.sentence(h.start)) for h in hs[:MAX_HITS]] for hs in hits]
    found: list[tuple[int, int, tuple[Hit, ...]]] = []
    for combo in itertools.product(*placed):
        if len({c[3] for c in combo}) > 1:
            continue
        ordered = sorted(combo, key=lambda c: (c[1], c[2]))
        if near.order == "fixed" and list(ordered) != list(combo):
            continue
        distance, last = 0, ordered[0][2]
        for a, b in itertools.pairwise(ordered):
            if (a[0].start, a[0].end) == (b[0].start, b[0].end):
                break  # one piece of text cannot be two ends (a term listed in both concepts)
            distance += max(0, b[1] - last - 1)  # a hit inside another (nested concepts): 0
            last = max(last, b[2])
        else:
            if near.within is None or distance <= near.within:
                found.append((distance, ordered[0][0].start, tuple(c[0] for c in ordered)))
    found.sort(key=lambda f: (f[0], f[1]))
    out: list[Link] = []
    for distance, _, ends in found:
        start, end = ends[0].start, max(h.end for h in ends)
        if any(start < link.hit.end and link.hit.start < end for link in out):
            continue
        variant = f"{near.operator}: " + " + ".join(h.concept for h in _listed(near, ends))
        sim = min(h.similarity for h in ends)
        hit = Hit(cid, variant, ends[0].field, start, end, words.text[start:end], sim)
        out.append(Link(hit, ends, distance, near))
    return out


def _listed(near: Near, ends: tuple[Hit, ...]) -> list[Hit]:
    order = {c: i for i, c in enumerate(near.concepts)}
    return sorted(ends, key=lambda h: order.get(h.concept, len(order)))
