"""sentence-transformers by model name or path (not installed by any extra; not tested here).

For users who can download models or hold one locally; imported lazily on construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.matching.embedder import Vector

__all__ = ["SentenceTransformerEmbedder"]


class SentenceTransformerEmbedder:
    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            from monitor.embed import SemanticUnavailable

            raise SemanticUnavailable(
                f"embedder 'st:{model}' needs sentence-transformers: "
                "pip install sentence-transformers"
            ) from error
        self._model_name = model
        self._model: Any = SentenceTransformer(model)
        self._dimension = int(self._model.get_sentence_embedding_dimension())

    @property
    def name(self) -> str:
        return f"st:{self._model_name}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        matrix = self._model.encode(list(texts), normalize_embeddings=True)
        return [tuple(float(x) for x in row) for row in matrix]
