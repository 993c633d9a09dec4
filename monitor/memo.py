"""A bounded memo for the hot paths: two generations, no cliff. Pure: no I/O, no clock.

A long-running daemon sees an open vocabulary (names, numbers, typos), so a memo keyed by words
must be bounded. Clearing it when full makes a saw-tooth of memory and a burst of misses on the
hot words right after each clear. ``Generations`` keeps two dicts: lookups go to ``young``
(a plain dict, so the hot paths keep calling ``young.get`` in C), a miss there looks in ``old``
and moves what it finds back to ``young``; when ``young`` holds ``limit`` keys it becomes
``old`` and the previous ``old`` is dropped. So at most ``2 * limit`` keys are held, the words
asked for in the last generation survive, and memory stays at a plateau.

``young`` keeps its identity for the whole life of the memo (the hot paths bind ``young.get``
once, at import); turning it into ``old`` copies it.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Generations"]

K = TypeVar("K")
V = TypeVar("V")


class Generations(Generic[K, V]):
    """``young`` and ``old`` dicts of at most ``limit`` keys each (see the module)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1)
        self.young: dict[K, V] = {}
        self.old: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self.young) + len(self.old)

    def recall(self, key: K) -> V | None:
        """The value of ``key`` from the old generation (moved to the young one), else None.
        For a key the caller did not find in ``young``."""
        value = self.old.pop(key, None)
        if value is not None:
            self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key`` (not in ``young``), turning over generations first
        when ``young`` is full."""
        young = self.young
        if len(young) >= self.limit:
            self.old = young.copy()
            young.clear()
        young[key] = value

    def clear(self) -> None:
        self.young.clear()
        self.old.clear()
