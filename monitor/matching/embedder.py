"""The semantic layer's interface: an ``Embedder`` turns texts into unit vectors (pure, no I/O).

Implementations live at the edge (``monitor.embed``); the core only sees this Protocol and the pure
similarity helpers below, so matching works without numpy or any model installed. Vectors are
plain tuples of floats, L2-normalised by the implementation, so the cosine is the dot product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Embedder", "ExampleHit", "StoredEmbedding", "Vector", "best_example", "cosine"]

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
    return sum(x * y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True, slots=True)
class ExampleHit:
    """The closest example sentence of a concept to a text: which one, and how similar."""

    example: str
    similarity: float


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
