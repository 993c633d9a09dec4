"""The outbox half of ``SQLStorage``: deliveries, their items, sent parts, subscription marks.

Same SQL for SQLite and PostgreSQL (``RETURNING``, ``ON CONFLICT``, row values). Every state
change is one conditional ``UPDATE ... WHERE state = <expected>``, so two processes can never both
move one delivery on; a digest is written with optimistic concurrency on ``digest_seq``.
``sender_lock`` is an operating-system lock (``flock`` beside the SQLite file, a session advisory
lock in PostgreSQL): the kernel or the server drops it when its process dies, even by ``kill -9``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from monitor.errors import StorageError
from monitor.model import Delivery, DeliveryKind, DeliveryState, ItemKey, SubscriptionMark
from monitor.store.codec import (
    DELIVERY_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    delivery_from_row,
    subscription_from_row,
)
from monitor.store.dbapi import Database, Tx
from monitor.store.filelock import file_lock

__all__ = ["OutboxSQL"]

_CHUNK = 300
_SENDER_KEY = "hashtext('raw-materials-monitor-send:' || current_schema())"
_LOCK_POLL = 0.05
# A delivery that holds one of these counts as holding its items: a new digest leaves them out.
_HOLDING = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.SENT)


class _Conflict(Exception):
    """Another process changed what a write was based on; nothing was written."""


class OutboxSQL(Database):
    """Mixed into ``SQLStorage``; see ``monitor.store.base.Storage`` for the contract."""

    # --- subscriptions -------------------------------------------------------
    def register_subscriptions(
        self, names: Iterable[str], now: datetime
    ) -> dict[str, SubscriptionMark]:
        stamp = self.dialect.encode_ts(now)
        names = list(dict.fromkeys(names))
        with self._transaction("register_subscriptions", write=True) as tx:
            tx.executemany(
                "INSERT INTO subscriptions (name, first_seen) VALUES (?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                [(n, stamp) for n in names],
            )
            rows = tx.rows(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY name")
        marks = {r[0]: subscription_from_row(r) for r in rows}
        return {n: marks[n] for n in names}

    def subscription_marks(self) -> dict[str, SubscriptionMark]:
        with self._transaction("subscription_marks", write=False) as tx:
            rows = tx.rows(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY name")
        return {r[0]: subscription_from_row(r) for r in rows}

    def set_alerts_until(self, name: str, when: datetime) -> None:
        with self._transaction("set_alerts_until", write=True) as tx:
            tx.execute(
                "UPDATE subscriptions SET alerts_until = ? WHERE name = ?",
                (self.dialect.encode_ts(when), name),
            )

    # --- creating deliveries -------------------------------------------------
    def delivery_keys(self, keys: Iterable[str]) -> set[str]:
        todo = list(dict.fromkeys(keys))
        found: set[str] = set()
        with self._transaction("delivery_keys", write=False) as tx:
            for start in range(0, len(todo), _CHUNK):
                chunk = todo[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                found.update(
                    r[0]
                    for r in tx.rows(f"SELECT key FROM deliveries WHERE key IN ({marks})", chunk)
                )
        return found

    def add_delivery(
        self, delivery: Delivery, message: str, items: Sequence[ItemKey]
    ) -> Delivery | None:
        with self._transaction("add_delivery", write=True) as tx:
            return self._insert_delivery(tx, delivery, message, items)

    def add_digest(
        self,
        delivery: Delivery | None,
        message: str | None,
        items: Sequence[ItemKey],
        *,
        subscription: str,
        seq: int,
        until: datetime,
        supersede: Sequence[int] = (),
    ) -> Delivery | bool:
        """See ``Storage.add_digest``."""
        try:
            with self._transaction("add_digest", write=True) as tx:
                changed = tx.execute(
                    "UPDATE subscriptions SET digest_seq = digest_seq + 1, digest_since = ?, "
                    "digest_until = ? WHERE name = ? AND digest_seq = ?",
                    (self.dialect.encode_ts(until), self.dialect.encode_ts(until), subscription,
                     seq),
                )  # fmt: skip
                if changed != 1:
                    raise _Conflict
                for delivery_id in supersede:
                    moved = tx.execute(
                        "UPDATE deliveries SET state = ?, next_attempt = NULL "
                        "WHERE id = ? AND state IN (?, ?)",
                        (DeliveryState.SUPERSEDED.value, delivery_id,
                         DeliveryState.PENDING.value, DeliveryState.FAILED.value),
                    )  # fmt: skip
                    if moved != 1:
                        raise _Conflict  # it is being sent: its items are not ours to take
                if delivery is None or message is None:
                    return True
                stored = self._insert_delivery(tx, delivery, message, items)
                if stored is None:
                    raise _Conflict
                return stored
        except _Conflict:
            return False

    def _insert_delivery(
        self, tx: Tx, d: Delivery, message: str, items: Sequence[ItemKey]
    ) -> Delivery | None:
        ts = self._ts_or_none
        rows = tx.rows(
            "INSERT INTO deliveries (key, kind, subscription, channel, state, attempts, "
            "last_error, next_attempt, created, sent_at, since, due, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING RETURNING id",
            (d.key, d.kind.value, d.subscription, d.channel, d.state.value, d.attempts,
             d.last_error, ts(d.next_attempt), self.dialect.encode_ts(d.created), ts(d.sent_at),
             ts(d.since), ts(d.due), message),
        )  # fmt: skip
        if not rows:
            return None
        delivery_id = int(rows[0][0])
        tx.executemany(
            "INSERT INTO delivery_items (delivery_id, feed_url, entry_id, rule_id) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(delivery_id, *item) for item in dict.fromkeys(items)],
        )
        return Delivery(
            id=delivery_id,
            kind=d.kind,
            subscription=d.subscription,
            channel=d.channel,
            key=d.key,
            created=d.created,
            state=d.state,
            attempts=d.attempts,
            last_error=d.last_error,
            next_attempt=d.next_attempt,
            sent_at=d.sent_at,
            since=d.since,
            due=d.due,
        )

    def _ts_or_none(self, value: datetime | None) -> object:
        return None if value is None else self.dialect.encode_ts(value)

    # --- reading -------------------------------------------------------------
    def deliveries(
        self,
        *,
        states: Iterable[DeliveryState] | None = None,
        kind: DeliveryKind | None = None,
        subscription: str | None = None,
        limit: int | None = None,
    ) -> list[Delivery]:
        where: list[str] = []
        params: list[Any] = []
        if states is not None:
            wanted = [s.value for s in states]
            if not wanted:
                return []
            where.append(f"state IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind.value)
        if subscription is not None:
            where.append("subscription = ?")
            params.append(subscription)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        bound = f" LIMIT {int(limit)}" if limit is not None else ""
        with self._transaction("deliveries", write=False) as tx:
            rows = tx.rows(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries{clause} ORDER BY id DESC{bound}",
                params,
            )
        return [delivery_from_row(r) for r in rows]

    def due_deliveries(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        # Alerts before digests, then in the order they were made.
        with self._transaction("due_deliveries", write=False) as tx:
            rows = tx.rows(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = ? "
                "AND (next_attempt IS NULL OR next_attempt <= ?) "
                f"ORDER BY kind, created, id LIMIT {int(limit)}",
                (DeliveryState.PENDING.value, self.dialect.encode_ts(now)),
            )
        return [delivery_from_row(r) for r in rows]

    def delivery(self, delivery_id: int) -> Delivery | None:
        with self._transaction("delivery", write=False) as tx:
            rows = tx.rows(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,)
            )
        return delivery_from_row(rows[0]) if rows else None

    def delivery_message(self, delivery_id: int) -> str:
        with self._transaction("delivery_message", write=False) as tx:
            value = tx.value("SELECT message FROM deliveries WHERE id = ?", (delivery_id,))
        if value is None:
            raise KeyError(delivery_id)
        return str(value)

    def delivery_subjects(self, delivery_ids: Iterable[int]) -> dict[int, str]:
        wanted = list(dict.fromkeys(int(i) for i in delivery_ids))
        if self.dialect.name == "postgresql":
            subject = "(message::jsonb) ->> 'subject'"
        else:
            subject = "CASE WHEN json_valid(message) THEN json_extract(message, '$.subject') END"
        out: dict[int, str] = {}
        with self._transaction("delivery_subjects", write=False) as tx:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                for did, text in tx.rows(
                    f"SELECT id, {subject} FROM deliveries WHERE id IN ({marks})", chunk
                ):
                    out[int(did)] = str(text) if text is not None else ""
        return out

    def delivery_items(self, delivery_id: int) -> list[ItemKey]:
        with self._transaction("delivery_items", write=False) as tx:
            rows = tx.rows(
                "SELECT feed_url, entry_id, rule_id FROM delivery_items WHERE delivery_id = ? "
                "ORDER BY feed_url, entry_id, rule_id",
                (delivery_id,),
            )
        return [(r[0], r[1], r[2]) for r in rows]

    def delivery_counts(self) -> dict[DeliveryState, int]:
        with self._transaction("delivery_counts", write=False) as tx:
            rows = tx.rows("SELECT state, count(*) FROM deliveries GROUP BY state")
        counts = dict.fromkeys(DeliveryState, 0)
        counts.update({DeliveryState(s): int(n) for s, n in rows})
        return counts

    def held_items(
        self,
        subscription: str,
        kind: DeliveryKind,
        candidates: Iterable[ItemKey],
        *,
        ignore: Iterable[int] = (),
    ) -> set[ItemKey]:
        todo = list(dict.fromkeys(candidates))
        found: set[ItemKey] = set()
        holding = [s.value for s in _HOLDING]
        skip = set(ignore)
        with self._transaction("held_items", write=False) as tx:
            for start in range(0, len(todo), _CHUNK):
                chunk = todo[start : start + _CHUNK]
                pairs = "VALUES " + ", ".join("(?, ?)" for _ in chunk)
                rows = tx.rows(
                    "SELECT i.feed_url, i.entry_id, i.rule_id, d.id FROM delivery_items i "
                    "JOIN deliveries d ON d.id = i.delivery_id "
                    "WHERE d.subscription = ? AND d.kind = ? AND d.state IN (?, ?, ?) "
                    f"AND (i.feed_url, i.entry_id) IN ({pairs})",
                    (subscription, kind.value, *holding, *(v for c in chunk for v in c[:2])),
                )
                found.update((r[0], r[1], r[2]) for r in rows if int(r[3]) not in skip)
        return found & set(todo)

    def alerted_entries(self, entries: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        todo = list(dict.fromkeys(entries))
        found: set[tuple[str, str]] = set()
        with self._transaction("alerted_entries", write=False) as tx:
            for start in range(0, len(todo), _CHUNK):
                chunk = todo[start : start + _CHUNK]
                pairs = "VALUES " + ", ".join("(?, ?)" for _ in chunk)
                rows = tx.rows(
                    "SELECT DISTINCT i.feed_url, i.entry_id FROM delivery_items i "
                    "JOIN deliveries d ON d.id = i.delivery_id "
                    f"WHERE d.kind = ? AND d.state = ? AND (i.feed_url, i.entry_id) IN ({pairs})",
                    (DeliveryKind.ALERT.value, DeliveryState.SENT.value,
                     *(v for c in chunk for v in c)),
                )  # fmt: skip
                found.update((r[0], r[1]) for r in rows)
        return found

    def deliveries_with_prefix(self, subscription: str, prefixes: Iterable[str]) -> list[Delivery]:
        by_length: dict[int, list[str]] = {}
        for prefix in dict.fromkeys(prefixes):
            by_length.setdefault(len(prefix), []).append(prefix)
        found: dict[int, Delivery] = {}
        with self._transaction("deliveries_with_prefix", write=False) as tx:
            for length, group in by_length.items():
                for start in range(0, len(group), _CHUNK):
                    chunk = group[start : start + _CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    # substr, not LIKE: a subscription name may hold "_", LIKE's wildcard.
                    for r in tx.rows(
                        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE subscription = ? "
                        f"AND substr(key, 1, {int(length)}) IN ({marks})",
                        (subscription, *chunk),
                    ):
                        d = delivery_from_row(r)
                        if d.id is not None:
                            found[d.id] = d
        return sorted(found.values(), key=lambda d: (d.created, d.id or 0))

    # --- transitions ---------------------------------------------------------
    def update_delivery(self, delivery: Delivery, *, expect: DeliveryState) -> bool:
        if delivery.id is None:
            raise ValueError(f"update_delivery: delivery {delivery.key!r} has no id")
        ts = self._ts_or_none
        with self._transaction("update_delivery", write=True) as tx:
            changed = tx.execute(
                "UPDATE deliveries SET state = ?, attempts = ?, last_error = ?, "
                "next_attempt = ?, sent_at = ? WHERE id = ? AND state = ?",
                (delivery.state.value, delivery.attempts, delivery.last_error,
                 ts(delivery.next_attempt), ts(delivery.sent_at), delivery.id, expect.value),
            )  # fmt: skip
            if changed and delivery.state is DeliveryState.SENT:
                tx.execute("DELETE FROM sent_parts WHERE key = ?", (delivery.key,))
        return changed == 1

    def recover_deliveries(self, now: datetime) -> int:
        with self._transaction("recover_deliveries", write=True) as tx:
            return tx.execute(
                "UPDATE deliveries SET state = ?, next_attempt = ? WHERE state = ?",
                (DeliveryState.PENDING.value, self.dialect.encode_ts(now),
                 DeliveryState.SENDING.value),
            )  # fmt: skip

    def retry_delivery(self, delivery_id: int, now: datetime) -> bool:
        stamp = self.dialect.encode_ts(now)
        with self._transaction("retry_delivery", write=True) as tx:
            changed = tx.execute(
                "UPDATE deliveries SET state = ?, next_attempt = ?, created = ? "
                "WHERE id = ? AND state = ?",
                (DeliveryState.PENDING.value, stamp, stamp, delivery_id,
                 DeliveryState.FAILED.value),
            )  # fmt: skip
        return changed == 1

    def prune_deliveries(self, older_than: datetime) -> int:
        done = [DeliveryState.SENT.value, DeliveryState.SUPERSEDED.value,
                DeliveryState.FAILED.value]  # fmt: skip
        with self._transaction("prune_deliveries", write=True) as tx:
            # Items first: SQLite enforces the cascade only with foreign_keys on.
            tx.execute(
                "DELETE FROM delivery_items WHERE delivery_id IN (SELECT id FROM deliveries "
                "WHERE created < ? AND state IN (?, ?, ?))",
                (self.dialect.encode_ts(older_than), *done),
            )
            removed = tx.execute(
                "DELETE FROM deliveries WHERE created < ? AND state IN (?, ?, ?)",
                (self.dialect.encode_ts(older_than), *done),
            )
            tx.execute(
                "DELETE FROM sent_parts WHERE key NOT IN "
                "(SELECT key FROM deliveries WHERE state IN (?, ?))",
                (DeliveryState.PENDING.value, DeliveryState.SENDING.value),
            )
        return removed

    # --- sent parts ----------------------------------------------------------
    def sent_parts(self, key: str) -> set[str]:
        with self._transaction("sent_parts", write=False) as tx:
            return {r[0] for r in tx.rows("SELECT part FROM sent_parts WHERE key = ?", (key,))}

    def add_sent_part(self, key: str, part: str, now: datetime) -> None:
        with self._transaction("add_sent_part", write=True) as tx:
            tx.execute(
                "INSERT INTO sent_parts (key, part, sent_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key, part) DO NOTHING",
                (key, part, self.dialect.encode_ts(now)),
            )

    # --- one sender at a time ------------------------------------------------
    @contextlib.contextmanager
    def sender_lock(self, wait: float = 0.0) -> Iterator[bool]:
        if self.dialect.name == "postgresql":
            with self._pg_sender_lock(wait) as held:
                yield held
            return
        path = getattr(self, "path", ":memory:")
        if path == ":memory:":
            yield True  # one connection, one process: nobody else can send
            return
        with file_lock(f"{path}-sender.lock", wait, self.url) as fd:
            yield fd is not None

    @contextlib.contextmanager
    def _pg_sender_lock(self, wait: float) -> Iterator[bool]:
        import psycopg

        conninfo: str = getattr(self, "_conninfo", "")
        try:
            conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StorageError(f"database {self.url}: sender lock: {exc}") from exc
        # Its own connection: the lock lives at most as long as this session (and its process).
        with conn:
            deadline = time.monotonic() + wait
            while True:
                row = conn.execute(f"SELECT pg_try_advisory_lock({_SENDER_KEY})").fetchone()
                held = bool(row and row[0])
                if held or time.monotonic() >= deadline:
                    break
                time.sleep(_LOCK_POLL)
            try:
                yield held
            finally:
                if held:
                    # Released here, not by closing: the server ends a closed session on its
                    # own time, and the next run's try (this process's own, at once) would
                    # find the lock still held and skip sending.
                    with contextlib.suppress(psycopg.Error):
                        conn.execute(f"SELECT pg_advisory_unlock({_SENDER_KEY})")
