"""The embeddings half of ``SQLStorage``: one vector per entry and model (schema step 9 by lead).

Same SQL for SQLite and PostgreSQL. A vector is stored as text, ``f32:`` and the base64 of its
float32 values (little-endian): 2.7 KB for 512 dimensions, where a JSON list of rounded floats
took ~7 KB and most of the poll's time to write (1,982 entries: 1.5 s of ``round`` and JSON
against ~0.02 s). A JSON list (the first format) is still read. Beside it, a hash of the
embedded text; a caller compares that hash to decide whether a stored vector is still valid.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.matching.embedder import StoredEmbedding
from monitor.store.dbapi import Database

__all__ = ["EmbeddingsSQL", "text_hash"]

_CHUNK = 300


_PREFIX = "f32:"


def encode_vector(vector: Sequence[float]) -> str:
    values = array("f", vector)
    if sys.byteorder != "little":
        values.byteswap()
    return _PREFIX + base64.b64encode(values.tobytes()).decode("ascii")


def decode_vector(text: str) -> tuple[float, ...]:
    if not text.startswith(_PREFIX):
        return tuple(float(x) for x in json.loads(text))
    values = array("f", base64.b64decode(text[len(_PREFIX) :]))
    if sys.byteorder != "little":
        values.byteswap()
    return tuple(values)


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
                    values = decode_vector(vector)
                    out[(feed_url, entry_id)] = StoredEmbedding(
                        feed_url, entry_id, model, digest, values
                    )
        return out

    def save_embeddings(self, items: Sequence[StoredEmbedding], now: datetime) -> int:
        ts = self.dialect.encode_ts(now)
        rows = [
            (
                e.feed_url, e.entry_id, e.model, e.text_hash,
                encode_vector(e.vector), ts,
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
