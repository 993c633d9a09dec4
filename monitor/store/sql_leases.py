"""Feed leases and instances, the part of ``SQLStorage`` that lets several instances share polling.

A feed's lease row says when it is next due and which instance holds it until when. ``claim_feeds``
takes due rows whose lease is free or expired in one statement: on PostgreSQL the inner select is
``FOR UPDATE SKIP LOCKED``, so concurrent claimers never wait on nor take each other's rows; SQLite
writes are serialised by ``BEGIN IMMEDIATE``, so the same statement is safe there. Completing or
releasing a lease is conditional on the owner, so an instance whose lease expired and was taken
over cannot push the feed's due time around.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.model import InstanceRecord
from monitor.store.codec import decode_ts
from monitor.store.dbapi import Database, Tx

if TYPE_CHECKING:
    from monitor.store.host_slots import PgHostSlots
    from monitor.store.wakeups import DueListener

NOTIFY_SQL = "SELECT pg_notify('monitor_due_' || md5(current_schema()), ?)"
"""Run inside the transaction that made feeds due (see ``monitor.store.wakeups``)."""

__all__ = ["LeasesSQL"]

_CLAIM = """
    UPDATE feed_leases SET owner = ?, lease_until = ?
    WHERE feed_url IN (
        SELECT feed_url FROM feed_leases
        WHERE due <= ? AND (owner IS NULL OR lease_until <= ?)
        ORDER BY due, feed_url LIMIT ?{lock}
    )
    RETURNING feed_url
"""


class LeasesSQL(Database):
    """Mixed into ``SQLStorage``; see ``monitor.store.base.Storage`` for the contract."""

    def host_slots(self, per_host: int) -> PgHostSlots | None:
        return None  # SQLite: one monitor per file, its own limit is the limit

    def due_listener(self) -> DueListener | None:
        return None  # SQLite: one monitor per file, nobody else to wake

    def _announce_due(self, tx: Tx, why: str) -> None:
        """Wake idle instances when this transaction commits (PostgreSQL NOTIFY)."""
        if self.dialect.name == "postgresql":
            tx.rows(NOTIFY_SQL, (why,))

    def sync_leases(self, urls: Iterable[str], now: datetime) -> None:
        wanted = list(dict.fromkeys(urls))
        stamp = self.dialect.encode_ts(now)
        with self._transaction("sync_leases", write=True) as tx:
            have = {r[0] for r in tx.rows("SELECT feed_url FROM feed_leases")}
            new = [u for u in wanted if u not in have]
            tx.executemany(
                "INSERT INTO feed_leases (feed_url, due) VALUES (?, ?) "
                "ON CONFLICT (feed_url) DO NOTHING",
                [(u, stamp) for u in new],
            )
            gone = have - set(wanted)
            tx.executemany("DELETE FROM feed_leases WHERE feed_url = ?", [(u,) for u in gone])
            if new:
                self._announce_due(tx, "new feeds")

    def claim_feeds(self, owner: str, now: datetime, *, lease: timedelta, limit: int) -> list[str]:
        if limit < 1:
            raise ValueError(f"claim_feeds: limit must be at least 1, got {limit}")
        if lease <= timedelta(0):
            raise ValueError(f"claim_feeds: lease must be positive, got {lease}")
        stamp = self.dialect.encode_ts(now)
        until = self.dialect.encode_ts(now + lease)
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect.name == "postgresql" else ""
        with self._transaction("claim_feeds", write=True) as tx:
            rows = tx.rows(_CLAIM.format(lock=lock), (owner, until, stamp, stamp, limit))
        return sorted(r[0] for r in rows)

    def complete_lease(self, owner: str, feed_url: str, next_due: datetime) -> bool:
        with self._transaction("complete_lease", write=True) as tx:
            n = tx.execute(
                "UPDATE feed_leases SET due = ?, owner = NULL, lease_until = NULL "
                "WHERE feed_url = ? AND owner = ?",
                (self.dialect.encode_ts(next_due), feed_url, owner),
            )
        return n == 1

    def release_leases(self, owner: str) -> int:
        with self._transaction("release_leases", write=True) as tx:
            released = tx.execute(
                "UPDATE feed_leases SET owner = NULL, lease_until = NULL WHERE owner = ?",
                (owner,),
            )
            if released:
                self._announce_due(tx, "released")
        return released

    def make_due(self, feed_urls: Iterable[str], now: datetime) -> int:
        urls = [(self.dialect.encode_ts(now), u) for u in dict.fromkeys(feed_urls)]
        with self._transaction("make_due", write=True) as tx:
            count = 0
            for row in urls:
                count += tx.execute("UPDATE feed_leases SET due = ? WHERE feed_url = ?", row)
            if count:
                self._announce_due(tx, "made due")
        return count

    def heartbeat(self, record: InstanceRecord, *, renew_until: datetime | None = None) -> int:
        enc = self.dialect.encode_ts
        with self._transaction("heartbeat", write=True) as tx:
            renewed = 0
            if renew_until is not None:
                renewed = tx.execute(
                    "UPDATE feed_leases SET lease_until = ? WHERE owner = ?",
                    (enc(renew_until), record.id),
                )
            tx.execute(
                "INSERT INTO instances (id, host, pid, role, started, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "heartbeat = excluded.heartbeat, role = excluded.role",
                (
                    record.id,
                    record.host,
                    record.pid,
                    record.role,
                    enc(record.started),
                    enc(record.heartbeat),
                ),
            )
        return renewed

    def retire_instance(self, owner: str) -> int:
        with self._transaction("retire_instance", write=True) as tx:
            released = tx.execute(
                "UPDATE feed_leases SET owner = NULL, lease_until = NULL WHERE owner = ?",
                (owner,),
            )
            tx.execute("DELETE FROM instances WHERE id = ?", (owner,))
            if released:
                self._announce_due(tx, "released")
        return released

    def instances(self, now: datetime) -> list[InstanceRecord]:
        stamp = self.dialect.encode_ts(now)
        with self._transaction("instances", write=False) as tx:
            rows = tx.rows(
                "SELECT i.id, i.host, i.pid, i.role, i.started, i.heartbeat, "
                "(SELECT count(*) FROM feed_leases l "
                " WHERE l.owner = i.id AND l.lease_until > ?) "
                "FROM instances i ORDER BY i.id",
                (stamp,),
            )
        return [
            InstanceRecord(r[0], r[1], int(r[2]), r[3], decode_ts(r[4]), decode_ts(r[5]), int(r[6]))
            for r in rows
        ]

    def lease_of(self, feed_url: str) -> tuple[datetime, str | None, datetime | None] | None:
        with self._transaction("lease_of", write=False) as tx:
            rows = tx.rows(
                "SELECT due, owner, lease_until FROM feed_leases WHERE feed_url = ?", (feed_url,)
            )
        if not rows:
            return None
        due, owner, until = rows[0]
        return decode_ts(due), owner, None if until is None else decode_ts(until)
