"""Text normalization for matching and clustering: fold case, umlauts and compatibility forms.

``fold`` is the fast path (C string operations only); ``fold_with_offsets`` gives the same string
plus a map back to the original character offsets, so a hit can be highlighted in the source text.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from monitor.memo import Generations

__all__ = [
    "IGNORABLE",
    "TOKEN_RE",
    "Folded",
    "fold",
    "fold_char",
    "fold_utf8",
    "fold_with_offsets",
    "folded_tokens",
    "is_phrase_gap",
    "name_after",
    "tokens",
]

# Characters that carry no letters: soft hyphen, zero-width space/joiners, word joiner, BOM,
# Mongolian vowel separator. Feeds use them inside words ("Selten\u00aderden").
IGNORABLE = "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"

# After NFKD an umlaut is base letter + U+0308; German spells that "ae"/"oe"/"ue". Every other
# mark with a combining class is dropped (é -> e, š -> s). Dropping all of them also makes the
# result independent of canonical mark reordering, so folding works character by character.
_COMBINING_DIAERESIS = "\u0308"
_LAST_COMBINING = 0x1E94B  # no code point above this has a non-zero combining class


def _char_class(code_points: list[int]) -> re.Pattern[str]:
    ranges: list[tuple[int, int]] = []
    for cp in sorted(code_points):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    body = "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)
    return re.compile(f"[{body}]+")


def _dropped() -> list[int]:
    keep = ord(_COMBINING_DIAERESIS)
    marks = range(0x300, _LAST_COMBINING + 1)
    # compress/map keep the scan of ~120k code points in C (it runs at every start).
    combining = itertools.compress(marks, map(unicodedata.combining, map(chr, marks)))
    return [ord(c) for c in IGNORABLE] + [cp for cp in combining if cp != keep]


# Two patterns because the regex engine tests a class of BMP characters with a bitmap in O(1)
# but scans a list of ranges once astral characters are in it (~13x slower on news text).
_DROPPED = _dropped()
_DROP_BMP = _char_class([cp for cp in _DROPPED if cp <= 0xFFFF])
_DROP_ASTRAL = _char_class([cp for cp in _DROPPED if cp > 0xFFFF])
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


_ASCII_BYTES = bytes(range(128))


def _strip_marks(text: str) -> str:
    text = text.replace(_COMBINING_DIAERESIS, "e")
    if text.isascii():
        return text
    # Most texts have nothing to drop, and a regex scan of all of them costs more than the rest
    # of folding: look at their non-ASCII characters alone (deleting ASCII bytes from UTF-8
    # leaves whole characters), and scan everything only if one of those is to be dropped.
    rare = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    rest = rare.decode("utf-8", "surrogatepass")
    if _DROP_BMP.search(rest):
        text = _DROP_BMP.sub("", text)
    if _ASTRAL.search(rest):
        text = _DROP_ASTRAL.sub("", text)
    return text


TOKEN_RE = re.compile(r"[^\W_]+")
"""A token is a run of letters and digits in folded text; everything else separates tokens."""

# What may stand between two words of one phrase: spaces and hyphens ("rare-earth", "rare earth"),
# not sentence punctuation ("... rare. Earth ...").
_GAP_CHARS = frozenset(" \t\r\n\u00a0-\u2010\u2011\u2012\u2013\u2212/")


def fold(text: str) -> str:
    """Casefolded, compatibility-decomposed text with umlauts spelt out and other marks dropped.

    Each input character maps to its own output independently (``fold_char``), which is what
    lets ``fold_with_offsets`` rebuild the same string with offsets, and what makes this fast:
    the ASCII letters are lowered as bytes and each distinct non-ASCII character is replaced by
    its (remembered) fold, instead of normalizing and case-folding every character of the text
    (NFKD, mark removal and ``str.casefold`` cost ~6x more on news text with umlauts).
    """
    if text.isascii():
        return text.lower()
    data = _fold_utf8(text)
    return _fold_whole(text) if data is None else data.decode("utf-8", "surrogatepass")


def fold_utf8(text: str) -> tuple[str, bytes]:
    """``fold(text)`` and its UTF-8 (lone surrogates passed through), for a scan over bytes."""
    if text.isascii():
        norm = text.lower()
        return norm, norm.encode("ascii")
    data = _fold_utf8(text)
    if data is None:
        norm = _fold_whole(text)
        return norm, norm.encode("utf-8", "surrogatepass")
    return data.decode("utf-8", "surrogatepass"), data


def _fold_utf8(text: str) -> bytes | None:
    """The UTF-8 of ``fold`` of non-ASCII ``text``; None when it is to be folded whole."""
    data = text.encode("utf-8", "surrogatepass")
    # Deleting the ASCII bytes from UTF-8 leaves whole characters: the non-ASCII ones.
    rare = data.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
    data = data.lower()  # ASCII letters only; the bytes of other characters are all >= 0x80
    memo = _FOLD_MEMO
    for char in set(rare):
        out = memo.get(char)
        if out is None:
            out = _char_fold(char)
        if out is False:
            return None
        if out is not True:
            # UTF-8 is self-synchronizing: the bytes of ``char`` match nowhere but at ``char``.
            data = data.replace(char.encode("utf-8", "surrogatepass"), out)
    return data


_FOLD_MEMO: dict[str, bytes | bool] = {}
"""Non-ASCII character -> the UTF-8 of its fold; True: it folds to itself; False: its fold holds
a character that does not fold to itself (none does in Python 3.11's Unicode 14; ``fold`` would
then fold such a text the whole way, ``_fold_whole``)."""
_FOLD_MEMO_LIMIT = 65_536


def _char_fold(char: str) -> bytes | bool:
    folded = _fold_whole(char)
    out: bytes | bool
    if folded == char:
        out = True
    elif all(c.isascii() or _fold_whole(c) == c for c in folded):
        out = folded.encode("utf-8", "surrogatepass")
    else:
        out = False  # replaced one character at a time, its fold would be folded again
    if len(_FOLD_MEMO) >= _FOLD_MEMO_LIMIT:
        _FOLD_MEMO.clear()  # bounded: lone surrogates and rare scripts add up over a long run
    _FOLD_MEMO[char] = out
    return out


def _fold_whole(text: str) -> str:
    """``fold`` of non-ASCII text by normalizing all of it (the reference ``fold`` agrees with)."""
    if not unicodedata.is_normalized("NFKD", text):  # a quick check, then the work
        text = unicodedata.normalize("NFKD", text)
    return _strip_marks(text).casefold()


@lru_cache(maxsize=4096)
def fold_char(char: str) -> str:
    """``fold`` of one character (cached: texts reuse a small alphabet)."""
    return _strip_marks(unicodedata.normalize("NFKD", char)).casefold()


@dataclass(frozen=True, slots=True)
class Folded:
    """Folded text plus the map from folded offsets back to the source's.

    The map is piecewise: a segment starts at folded offset ``starts[k]`` and source offset
    ``sources[k]`` and either runs on one to one (``steps[k] == 1``: ASCII, and every character
    that folds to one character) or holds a single source character that folds to several
    (``steps[k] == 0``: "ß" -> "ss", "ä" -> "ae"). A field has a handful of segments, not one
    offset per character, and a lookup is a bisection.
    """

    source: str
    text: str
    starts: Sequence[int] = ()
    sources: Sequence[int] = ()
    steps: Sequence[int] = ()
    """Empty when folded and source offsets coincide (ASCII text)."""

    def origin(self, pos: int) -> int:
        """The source offset of the character that produced folded character ``pos``."""
        if not self.starts:
            return pos
        k = bisect_right(self.starts, pos) - 1
        return self.sources[k] + (pos - self.starts[k]) * self.steps[k]

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``source`` that produced ``text[start:end]`` (``start < end``)."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span {start}:{end} outside folded text of length {len(self.text)}")
        if not self.starts:
            return start, end
        src_start = self.origin(start)
        src_end = self.origin(end - 1) + 1
        # Keep combining marks that trail the last letter ("Cafe\u0301"): they are part of it.
        source = self.source
        while src_end < len(source) and unicodedata.combining(source[src_end]):
            src_end += 1
        return src_start, src_end


def fold_with_offsets(text: str, folded: str | None = None) -> Folded:
    """``fold(text)`` and the map from its offsets back to ``text``'s; ``folded``: ``fold(text)``
    when the caller has it already."""
    if text.isascii():
        return Folded(text, text.lower())
    if folded is None:
        folded = fold(text)
    # Characters that fold to one character keep the map one to one (ASCII, "é" -> "e"); only
    # those that fold to none (dropped) or to several ("ä" -> "ae") start segments.
    rare = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    odd = [c for c in set(rare.decode("utf-8", "surrogatepass")) if len(fold_char(c)) != 1]
    at: list[int] = []
    for char in odd:
        i = text.find(char)
        while i >= 0:
            at.append(i)
            i = text.find(char, i + 1)
    at.sort()
    starts: list[int] = []
    sources: list[int] = []
    steps: list[int] = []
    done = 0  # length of the folded text so far
    pos = 0  # source offset of the next character
    for i in at:
        if i > pos:  # a one-to-one run up to here
            starts.append(done)
            sources.append(pos)
            steps.append(1)
            done += i - pos
        width = len(fold_char(text[i]))
        if width:  # not dropped: one source character, several folded ones
            starts.append(done)
            sources.append(i)
            steps.append(0)
            done += width
        pos = i + 1
    if pos < len(text):
        starts.append(done)
        sources.append(pos)
        steps.append(1)
        done += len(text) - pos
    if done != len(folded):  # cannot happen: folding is per character
        raise AssertionError(f"offset map of {done} characters for {len(folded)} folded")
    return Folded(text, folded, starts, sources, steps)


def tokens(folded: str) -> list[str]:
    """The tokens of already folded text, in order."""
    return TOKEN_RE.findall(folded)


FOLDED_MEMO_LIMIT = 512
"""Texts per generation whose ``folded_tokens`` are remembered (``Generations``: at most twice
that held). The reuse is within a poll (its story layer, then its search index): a few feeds'
new entries, two texts each."""
_FOLDED: Generations[str, tuple[str, ...]] = Generations(FOLDED_MEMO_LIMIT)
_FOLDED_TOKENS = _FOLDED.young


def folded_tokens(text: str) -> tuple[str, ...]:
    """``tokens(fold(text))``, remembered for the last texts asked for: a poll's story layer
    and its search index both need each new entry's title and summary tokens."""
    found = _FOLDED_TOKENS.get(text)
    if found is None:
        found = _FOLDED.recall(text)
        if found is None:
            found = tuple(TOKEN_RE.findall(fold(text)))
            _FOLDED.put(text, found)
    return found


def is_phrase_gap(gap: str) -> bool:
    """Whether the characters between two tokens keep them one phrase (spaces, hyphens)."""
    return 0 < len(gap) <= 3 and all(c in _GAP_CHARS for c in gap)


def name_after(text: str, start: int, end: int) -> str | None:
    """ "Wolfram Weimer" when ``text[start:end]`` is one capitalised word followed, after one
    space, by another capitalised word: the pattern of a first name and a surname."""
    word = text[start:end]
    if not word[:1].isupper() or " " in word or not word[1:].islower():
        return None
    if text[end : end + 1] != " ":
        return None
    nxt = TOKEN_RE.match(text, end + 1)
    if nxt is None:
        return None
    after = nxt.group()
    if len(after) < 2 or not after[0].isupper() or not after[1:].islower():
        return None
    return f"{word} {after}"
