"""Typed records of the story layer: the entry to place and the decision about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoryEntry:
    """One news item as the story layer sees it (``published`` aware UTC)."""

    id: str
    title: str
    summary: str
    language: str
    published: datetime
    source: str = ""
    link: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """Where an entry went and why.

    ``new`` is True when the entry started story ``story``; then ``score`` is the best candidate's
    score (0.0 without candidates) and ``best`` that candidate's id, so a user can see what almost
    joined. ``signals`` are the parts of the score: shared names, concepts, numbers and words.
    """

    story: str
    new: bool
    score: float
    reason: str
    best: str | None = None
    signals: dict[str, float] = field(default_factory=dict)
