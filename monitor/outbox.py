"""Pure decisions for the outbox: delivery records, keys, backoff, expiry (no I/O, no clock).

Life of a delivery (one per (alert match or digest, channel)):

    pending --claim--> sending --accepted--> sent
       ^                  |
       +--temporary error-+--permanent error or retry_for exceeded--> failed

The store commits each transition. A delivery is marked ``sent`` only after the channel accepted
it. The one window that cannot be closed: the channel accepted the message and the process died
before ``sent`` was committed. On restart a ``sending`` record goes back to ``pending``
(``recover``) and that one message is sent again; the stable ``key`` makes the repeat
recognisable (same Message-ID, same file name, Idempotency-Key header, Slack parts remembered
in-process). Deliveries are sent one at a time, so the window never holds more than one message.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from monitor.errors import DeliveryError

__all__ = [
    "DEFAULT_RETRY_FOR",
    "Delivery",
    "DeliveryKind",
    "DeliveryState",
    "alert_key",
    "backoff_delay",
    "claim",
    "digest_key",
    "is_due",
    "is_expired",
    "mark_sent",
    "next_attempt_after_failure",
    "recover",
]

DEFAULT_RETRY_FOR = timedelta(hours=24)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
ERROR_MAX = 1000


class DeliveryKind(StrEnum):
    ALERT = "alert"
    DIGEST = "digest"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int | None
    kind: DeliveryKind
    subscription: str
    channel: str
    key: str
    """Stable per delivery: Message-ID, file name, idempotency key."""
    created: datetime
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    last_error: str | None = None
    next_attempt: datetime | None = None
    """None: due at once."""
    sent_at: datetime | None = None


# --- keys -------------------------------------------------------------------------------------


def _short_hash(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def alert_key(subscription: str, feed_url: str, entry_id: str, rule_id: str) -> str:
    """One alert per (subscription, entry, rule): the same match never yields a second key."""
    return f"alert-{subscription}-{_short_hash(feed_url, entry_id, rule_id)}"


def digest_key(subscription: str, due: datetime) -> str:
    """One digest per (subscription, scheduled time): a re-run of the same slot is the same."""
    return f"digest-{subscription}-{due.astimezone(UTC):%Y%m%dT%H%MZ}"


# --- transitions ------------------------------------------------------------------------------


def is_due(delivery: Delivery, now: datetime) -> bool:
    if delivery.state is not DeliveryState.PENDING:
        return False
    return delivery.next_attempt is None or delivery.next_attempt <= now


def claim(delivery: Delivery, now: datetime) -> Delivery:
    """Before the channel is called: committed, so a crash here is seen on restart."""
    return replace(delivery, state=DeliveryState.SENDING, attempts=delivery.attempts + 1)


def mark_sent(delivery: Delivery, now: datetime) -> Delivery:
    return replace(
        delivery, state=DeliveryState.SENT, sent_at=now, next_attempt=None, last_error=None
    )


def recover(delivery: Delivery, now: datetime) -> Delivery:
    """At start-up: a delivery left ``sending`` by a crash is due again (the documented window)."""
    if delivery.state is not DeliveryState.SENDING:
        return delivery
    return replace(delivery, state=DeliveryState.PENDING, next_attempt=now)


def backoff_delay(attempts: int, rng: random.Random) -> timedelta:
    """Exponential (30 s, 1 min, 2 min, ... capped at 1 h) with equal jitter: spreads retries
    of many deliveries after an outage, never waits less than half the step."""
    step = min(BACKOFF_CAP, BACKOFF_BASE * (1 << max(0, min(attempts - 1, 20))))
    half = step / 2
    return half + half * rng.random()


def is_expired(delivery: Delivery, now: datetime, retry_for: timedelta = DEFAULT_RETRY_FOR) -> bool:
    """Retrying has gone on for longer than the channel's ``retry_for``."""
    return now - delivery.created >= retry_for


def next_attempt_after_failure(
    delivery: Delivery,
    error: DeliveryError,
    now: datetime,
    retry_for: timedelta = DEFAULT_RETRY_FOR,
    rng: random.Random | None = None,
) -> Delivery:
    """Back to ``pending`` with a later ``next_attempt``, or ``failed`` for good.

    Failed: a permanent error, or the next attempt would fall after ``created + retry_for``.
    A Retry-After from the far side is a floor for the wait, never shortened by jitter.
    """
    message = str(error)
    if len(message) > ERROR_MAX:
        message = message[: ERROR_MAX - 1] + "…"
    attempts = max(delivery.attempts, 1)
    if not error.temporary:
        return replace(
            delivery,
            state=DeliveryState.FAILED,
            last_error=message,
            next_attempt=None,
            attempts=attempts,
        )
    wait = backoff_delay(attempts, rng or random.Random())
    if error.retry_after is not None:
        wait = max(wait, timedelta(seconds=error.retry_after))
    when = now + wait
    if is_expired(delivery, when, retry_for):
        gave_up = (
            f"{message} (gave up after {attempts} attempts over {_human(now - delivery.created)})"
        )
        return replace(
            delivery,
            state=DeliveryState.FAILED,
            last_error=gave_up,
            next_attempt=None,
            attempts=attempts,
        )
    return replace(
        delivery,
        state=DeliveryState.PENDING,
        last_error=message,
        next_attempt=when,
        attempts=attempts,
    )


def _human(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
