"""The embeddings half of ``SQLStorage``: one vector per entry and model (schema step 9 by lead).

Same SQL for SQLite and PostgreSQL. A vector is stored as a JSON list of floats beside a hash of
the embedded text; a caller compares that hash to decide whether a stored vector is still valid.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.matching.embedder import StoredEmbedding
from monitor.store.dbapi import Database

__all__ = ["EmbeddingsSQL", "text_hash"]

_CHUNK = 300


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class EmbeddingsSQL(Database):
    """Mixed into ``SQLStorage``; see ``monitor.store.base.Storage`` for the contract."""

    def embeddings(
        self, model: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], StoredEmbedding]:
        wanted = sorted(set(keys))
        out: dict[tuple[str, str], StoredEmbedding] = {}
        with self._transaction("embeddings", write=False) as tx:
            for i in range(0, len(wanted), _CHUNK):
                part = wanted[i : i + _CHUNK]
                where = " OR ".join("(feed_url = ? AND entry_id = ?)" for _ in part)
                params: list[str] = [model]
                for feed_url, entry_id in part:
                    params += [feed_url, entry_id]
                for feed_url, entry_id, digest, vector in tx.rows(
                    "SELECT feed_url, entry_id, text_hash, vector FROM entry_embeddings "
                    f"WHERE model = ? AND ({where})",
                    params,
                ):
                    values = tuple(float(x) for x in json.loads(vector))
                    out[(feed_url, entry_id)] = StoredEmbedding(
                        feed_url, entry_id, model, digest, values
                    )
        return out

    def save_embeddings(self, items: Sequence[StoredEmbedding], now: datetime) -> int:
        ts = self.dialect.encode_ts(now)
        rows = [
            (
                e.feed_url, e.entry_id, e.model, e.text_hash,
                json.dumps([round(x, 6) for x in e.vector]), ts,
            )
            for e in items
        ]  # fmt: skip
        with self._transaction("save_embeddings", write=True) as tx:
            tx.executemany(
                "INSERT INTO entry_embeddings "
                "(feed_url, entry_id, model, text_hash, vector, computed_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (feed_url, entry_id, model) DO UPDATE SET "
                "text_hash = excluded.text_hash, vector = excluded.vector, "
                "computed_at = excluded.computed_at",
                rows,
            )
        return len(rows)
