"""What the story page shows of a member's matches: its headline with the matched words marked,
and every hit explained. Pure: takes stored matches, returns data for the template."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.model import Hit, Match

__all__ = ["SUMMARY_CHARS", "HitLine", "RuleLine", "clipped", "marked", "rule_lines"]

SUMMARY_CHARS = 400
"""A member's summary is shown up to this many characters (cut at a word)."""


def marked(text: str, hits: Iterable[Hit], field: str = "title") -> list[tuple[str, bool]]:
    """``text`` cut into (piece, matched) pieces: the spans of ``hits`` in ``field`` are the
    matched pieces (overlapping spans merged; spans outside the text ignored)."""
    spans = sorted(
        (h.start, h.end) for h in hits if h.field == field and 0 <= h.start < h.end <= len(text)
    )
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[tuple[str, bool]] = []
    pos = 0
    for start, end in merged:
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def clipped(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` cut at the last space before ``limit`` characters, with "…" when cut; the
    offsets of hits before the cut stay valid (the text is cut, not rewritten)."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut) + " …"


@dataclass(frozen=True, slots=True)
class HitLine:
    concept: str
    text: str
    field: str
    variant: str
    similarity: float
    semantic: bool = False
    """A semantic hit: ``variant`` is the example sentence, ``similarity`` the cosine x 100."""
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class RuleLine:
    rule_id: str
    score: int
    priority: str
    hits: tuple[HitLine, ...]


def rule_lines(matches: Sequence[Match]) -> list[RuleLine]:
    """One line per matched rule, in the order given (``Storage.matches_for``: best score
    first), each hit with its concept, the text as it stands, the field, the variant that found
    it and the similarity (100: exact)."""
    return [
        RuleLine(
            m.rule_id,
            m.score,
            str(m.priority),
            tuple(
                HitLine(
                    h.concept, h.text, h.field, h.variant, h.similarity, h.semantic, h.threshold
                )
                for h in m.hits
            ),
        )
        for m in matches
    ]
