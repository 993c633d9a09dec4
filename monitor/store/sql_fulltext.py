"""The full-text half of ``SQLStorage``: article main text cached by URL (schema step 6).

Same SQL for SQLite and PostgreSQL. A row is keyed by a hash of its URL; a later fetch of the
same URL replaces it (``ON CONFLICT DO UPDATE``), keeping the feed that asked first. Rows are
independent of entries: the pipeline copies an ok row's text into the entry's ``content``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from monitor.model import FullText, FullTextState
from monitor.store.codec import decode_ts
from monitor.store.dbapi import Database

__all__ = ["FullTextSQL", "url_key"]

_CHUNK = 400
_COLUMNS = "url, state, body, error, feed_url, status, seconds, fetched_at"
_UPSERT = f"""
    INSERT INTO fulltext (url_key, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (url_key) DO UPDATE SET
        state = excluded.state, body = excluded.body, error = excluded.error,
        status = excluded.status, seconds = excluded.seconds, fetched_at = excluded.fetched_at
"""


def url_key(url: str) -> str:
    return hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _from_row(row: Sequence[Any]) -> FullText:
    url, state, body, error, feed_url, status, seconds, fetched_at = row
    return FullText(
        url=url,
        state=FullTextState(state),
        fetched_at=decode_ts(fetched_at),
        text=body,
        error=error,
        feed_url=feed_url,
        status=None if status is None else int(status),
        seconds=float(seconds),
    )


class FullTextSQL(Database):
    """Mixed into ``SQLStorage``; see ``monitor.store.base.Storage`` for the contract."""

    def fulltexts(self, urls: Iterable[str]) -> dict[str, FullText]:
        wanted = set(urls)
        keys = sorted({url_key(u) for u in wanted})
        out: dict[str, FullText] = {}
        with self._transaction("fulltexts", write=False) as tx:
            for i in range(0, len(keys), _CHUNK):
                part = keys[i : i + _CHUNK]
                marks = ", ".join("?" * len(part))
                for row in tx.rows(
                    f"SELECT {_COLUMNS} FROM fulltext WHERE url_key IN ({marks})", part
                ):
                    item = _from_row(row)
                    if item.url not in wanted:
                        continue  # a hash collision: not this URL's row
                    out[item.url] = item
        return out

    def save_fulltexts(self, items: Sequence[FullText]) -> int:
        rows = []
        for ft in items:
            if not ft.url:
                raise ValueError("a full text without a URL")
            rows.append(
                (
                    url_key(ft.url), ft.url, ft.state.value, ft.text, ft.error, ft.feed_url,
                    ft.status, float(ft.seconds), self.dialect.encode_ts(ft.fetched_at),
                )
            )  # fmt: skip
        with self._transaction("save_fulltexts", write=True) as tx:
            tx.executemany(_UPSERT, rows)
        return len(rows)

    def fulltext_counts(self) -> dict[str, dict[FullTextState, int]]:
        with self._transaction("fulltext_counts", write=False) as tx:
            rows = tx.rows(
                "SELECT feed_url, state, count(*) FROM fulltext GROUP BY feed_url, state"
            )
        out: dict[str, dict[FullTextState, int]] = {}
        for feed_url, state, n in rows:
            counts = out.setdefault(feed_url, dict.fromkeys(FullTextState, 0))
            counts[FullTextState(state)] = int(n)
        return out

    def fulltext_failures(self, *, feed_url: str | None = None, limit: int = 10) -> list[FullText]:
        where, params = "state = ?", [FullTextState.FAILED.value]
        if feed_url is not None:
            where += " AND feed_url = ?"
            params.append(feed_url)
        with self._transaction("fulltext_failures", write=False) as tx:
            rows = tx.rows(
                f"SELECT {_COLUMNS} FROM fulltext WHERE {where} "
                "ORDER BY fetched_at DESC, url_key LIMIT ?",
                [*params, int(limit)],
            )
        return [_from_row(r) for r in rows]

    def prune_fulltexts(self, older_than: datetime) -> int:
        with self._transaction("prune_fulltexts", write=True) as tx:
            return tx.execute(
                "DELETE FROM fulltext WHERE fetched_at < ?", (self.dialect.encode_ts(older_than),)
            )
