"""The semantic layer at the edge: the rules' example sentences and the entries as vectors.

``semantic_matcher`` decides once per rule set whether the layer is on (a rule has ``semantic:``,
it is not switched off, the extra is installed), embeds the example sentences and compiles the
pure ``Matcher`` with them. ``SemanticLayer.vectors`` embeds entries; ``stored_vectors`` reuses
the vectors in the store (by model and text hash) and embeds only the missing ones.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.embed import DEFAULT_EMBEDDER, SemanticUnavailable, load_embedder, semantic_available
from monitor.matching.embedder import (
    Embedder,
    Example,
    SemanticIndex,
    StoredEmbedding,
    Vector,
    embedding_text,
)
from monitor.matching.match import Matcher
from monitor.matching.rules import RuleSet
from monitor.model import Entry
from monitor.store.base import Storage
from monitor.store.sql_embeddings import text_hash

__all__ = ["BATCH", "SemanticLayer", "SemanticSetup", "semantic_matcher"]

BATCH = 64
"""Entries per call of the model: big enough to amortise its per-call cost, small enough to
keep a huge first poll's memory flat."""

INSTALL_HINT = "pip install 'raw-materials-monitor[semantic]'"


class SemanticLayer:
    """One embedder; example sentences are embedded once per text for the process."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._examples: dict[str, Vector] = {}
        self._lock = threading.Lock()
        """One call of the model at a time: a rules reload (a worker thread) may embed example
        sentences while a poll embeds entries."""

    @property
    def model(self) -> str:
        return self.embedder.name

    def index(self, ruleset: RuleSet) -> SemanticIndex:
        wanted = [
            text
            for r in ruleset.semantic_rules
            if r.semantic is not None
            for text in r.semantic.sentences
            if text not in self._examples
        ]
        wanted = list(dict.fromkeys(wanted))
        for text, vector in zip(wanted, self._embed(wanted), strict=True):
            self._examples[text] = vector

        def of(pairs: tuple[tuple[str, str], ...]) -> tuple[Example, ...]:
            return tuple(Example(lang, text, self._examples[text]) for lang, text in pairs)

        sem = [(r.id, r.semantic) for r in ruleset.semantic_rules if r.semantic is not None]
        return SemanticIndex(
            self.model,
            {rid: of(s.examples) for rid, s in sem},
            {rid: of(s.unlike) for rid, s in sem if s.unlike},
        )

    def vectors(self, entries: Sequence[Entry]) -> list[Vector]:
        """One vector per entry, in order (``embedding_text`` of each)."""
        return self._embed([embedding_text(e) for e in entries])

    def stored_vectors(self, storage: Storage, entries: Sequence[Entry]) -> list[Vector]:
        """The entries' vectors: the stored ones where the embedded text is unchanged, the
        others computed now (and not stored: for commands that only read the store)."""
        texts = [embedding_text(e) for e in entries]
        stored = storage.embeddings(self.model, ((e.feed_url, e.id) for e in entries))
        out: list[Vector | None] = []
        missing: list[int] = []
        for i, (entry, text) in enumerate(zip(entries, texts, strict=True)):
            found = stored.get((entry.feed_url, entry.id))
            if found is not None and found.text_hash == text_hash(text):
                out.append(found.vector)
            else:
                out.append(None)
                missing.append(i)
        for i, vector in zip(missing, self._embed([texts[i] for i in missing]), strict=True):
            out[i] = vector
        return [v for v in out if v is not None]

    def to_store(
        self, entries: Sequence[Entry], vectors: Sequence[Vector]
    ) -> list[StoredEmbedding]:
        return [
            StoredEmbedding(e.feed_url, e.id, self.model, text_hash(embedding_text(e)), v)
            for e, v in zip(entries, vectors, strict=True)
        ]

    def save(
        self, storage: Storage, entries: Sequence[Entry], vectors: Sequence[Vector], now: datetime
    ) -> int:
        return storage.save_embeddings(self.to_store(entries, vectors), now)

    def _embed(self, texts: Sequence[str]) -> list[Vector]:
        out: list[Vector] = []
        for i in range(0, len(texts), BATCH):
            with self._lock:
                out += self.embedder.embed(texts[i : i + BATCH])
        return out


@dataclass(frozen=True)
class SemanticSetup:
    """The compiled matcher, the layer when it is on, and a message to show once if the rules
    ask for it but it cannot be on."""

    matcher: Matcher
    layer: SemanticLayer | None = None
    notice: str | None = None


def semantic_matcher(
    ruleset: RuleSet,
    *,
    enabled: bool = True,
    model: str = DEFAULT_EMBEDDER,
    layer: SemanticLayer | None = None,
) -> SemanticSetup:
    """Compile ``ruleset`` with the semantic layer when a rule has ``semantic:``, ``enabled``
    and the extra is installed; else without it (the rules' words work as ever), with a
    notice when rules ask for it and the extra (or the model) is missing.

    ``layer``: reuse this one (a rules reload keeps the loaded model).

    ``enabled`` comes from the settings (``semantic.enabled``, which ``MONITOR_SEMANTIC=off``
    in the environment turns off when they are loaded) and ``--no-semantic``."""
    rules = ruleset.semantic_rules
    if not rules or not enabled:
        return SemanticSetup(Matcher(ruleset), layer if enabled else None)
    names = ", ".join(r.id for r in rules)
    if layer is None or layer.model != model:
        if model == DEFAULT_EMBEDDER and not semantic_available():
            return SemanticSetup(
                Matcher(ruleset),
                None,
                f"rules with `semantic:` ({names}) match by their words only: the semantic "
                f"layer needs the 'semantic' extra ({INSTALL_HINT}); turn it off with "
                "--no-semantic or `semantic: {enabled: false}` to silence this",
            )
        try:
            layer = SemanticLayer(load_embedder(model))
        except SemanticUnavailable as exc:
            return SemanticSetup(
                Matcher(ruleset),
                None,
                f"rules with `semantic:` ({names}) match by their words only: {exc}",
            )
    return SemanticSetup(Matcher(ruleset, layer.index(ruleset)), layer)
