"""The semantic layer's interface: an ``Embedder`` turns texts into unit vectors (pure, no I/O).

Implementations live at the edge (``monitor.embed``); the core only sees this Protocol and the pure
similarity helpers below, so matching works without numpy or any model installed. Vectors are
plain tuples of floats, L2-normalised by the implementation, so the cosine is the dot product.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from monitor.model import Entry

__all__ = [
    "EMBED_LEAD_CHARS",
    "EMBED_SUMMARY_CHARS",
    "Embedder",
    "Example",
    "ExampleHit",
    "SemanticIndex",
    "StoredEmbedding",
    "Vector",
    "best_example",
    "cosine",
    "embedding_text",
]

EMBED_SUMMARY_CHARS = 300
"""How much of the summary is embedded for an entry without a headline."""

EMBED_LEAD_CHARS = 100
"""How much of the summary's first sentence is embedded after the headline."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

Vector = tuple[float, ...]


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of one fixed dimension."""

    @property
    def name(self) -> str:
        """Model identity, stored beside each embedding so that a changed model is re-embedded."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order; an empty input gives an empty list."""
        ...


def cosine(a: Vector, b: Vector) -> float:
    """Cosine of two unit vectors (their dot product); vectors of other lengths are an error."""
    if len(a) != len(b):
        raise ValueError(f"vectors of different dimension: {len(a)} and {len(b)}")
    total: float = sum(map(operator.mul, a, b))
    return total


@dataclass(frozen=True, slots=True)
class ExampleHit:
    """The closest example sentence of a concept to a text: which one, and how similar."""

    example: str
    similarity: float
    language: str = ""


def embedding_text(entry: Entry) -> str:
    """What is embedded of an entry: its headline and, after it, the first sentence of its
    summary cut at ``EMBED_LEAD_CHARS`` (at a word; left out when it repeats the headline, as
    many feeds do); without a headline, the start of its summary (or of its content).

    Measured on the inferred-mention set (bench/RESULTS.md, issue 11, second part): the
    headline with the summary's first 100 characters of its first sentence found more inferred
    mentions at a dev precision >= 0.95 than the headline alone or with a longer lead (300
    characters of the summary were worse than the headline alone)."""
    title = " ".join(entry.title.split())
    if title:
        lead = _lead(entry.summary)
        if lead and not lead.startswith(title[:40]):
            return f"{title}. {lead}"
        return title
    body = " ".join((entry.summary or entry.content).split())
    if len(body) > EMBED_SUMMARY_CHARS:
        cut = body[:EMBED_SUMMARY_CHARS]
        body = cut[: cut.rfind(" ")] if " " in cut else cut
    return body


def _lead(summary: str) -> str:
    """The summary's first sentence, cut at ``EMBED_LEAD_CHARS`` at a word."""
    first = _SENTENCE_END.split(" ".join(summary.split()), maxsplit=1)[0]
    if len(first) > EMBED_LEAD_CHARS:
        cut = first[:EMBED_LEAD_CHARS]
        first = cut[: cut.rfind(" ")] if " " in cut else cut
    return first


@dataclass(frozen=True, slots=True)
class Example:
    """One example sentence of a rule with its vector (computed at the edge)."""

    language: str
    text: str
    vector: Vector


@dataclass(frozen=True)
class SemanticIndex:
    """The rules' example sentences as vectors of one model: what the pure matcher compares an
    entry's vector with."""

    model: str
    examples: Mapping[str, tuple[Example, ...]] = field(default_factory=dict)
    """Rule id -> its examples."""
    unlike: Mapping[str, tuple[Example, ...]] = field(default_factory=dict)
    """Rule id -> its near misses (``unlike:``)."""

    def best(
        self, rule_id: str, vector: Vector, *, unlike: bool = False, top: int = 1
    ) -> ExampleHit | None:
        """The closest example (or near miss) of the rule to ``vector``; with ``top`` > 1 its
        similarity is the mean of the ``top`` closest ones' (the closest is the one named)."""
        best: ExampleHit | None = None
        similarities: list[float] = []
        for example in (self.unlike if unlike else self.examples).get(rule_id, ()):
            similarity = cosine(vector, example.vector)
            similarities.append(similarity)
            if best is None or similarity > best.similarity:
                best = ExampleHit(example.text, similarity, example.language)
        if best is not None and top > 1:
            closest = sorted(similarities, reverse=True)[:top]
            best = ExampleHit(best.example, sum(closest) / len(closest), best.language)
        return best


def best_example(
    text_vector: Vector, examples: Sequence[str], example_vectors: Sequence[Vector]
) -> ExampleHit | None:
    """Max-over-examples similarity: the example closest to the text, or None without examples."""
    if len(examples) != len(example_vectors):
        raise ValueError("one vector per example sentence is required")
    best: ExampleHit | None = None
    for example, vector in zip(examples, example_vectors, strict=True):
        similarity = cosine(text_vector, vector)
        if best is None or similarity > best.similarity:
            best = ExampleHit(example, similarity)
    return best


@dataclass(frozen=True, slots=True)
class StoredEmbedding:
    """An entry's vector under one model, with a hash of the text embedded (to detect changes)."""

    feed_url: str
    entry_id: str
    model: str
    text_hash: str
    vector: Vector
