"""Pure decisions for the outbox: delivery records, keys, backoff, expiry (no I/O, no clock).

Life of a delivery (one per (alerted story, update or digest, channel)):

    pending --claim--> sending --accepted--> sent
       ^                  |
       +--temporary error-+--permanent error or retry_for exceeded--> failed

    pending or failed digest --a newer digest of the subscription takes its items--> superseded

The store commits each transition. A delivery is marked ``sent`` only after the channel accepted
it. The one window that cannot be closed: the channel accepted the message and the process died
before ``sent`` was committed. On restart a ``sending`` record goes back to ``pending``
(``recover``) and that one message is sent again under the same ``key``, so the repeat is
recognisable. Deliveries are sent one at a time, so the window never holds more than one message;
per channel it is smaller still:

- email, Slack, Apprise: each accepted recipient / Slack part / URL is committed at once as a sent
  part (``Storage.add_sent_part``), and a retry skips those: at most the one recipient's copy or
  Slack part in flight repeats (same Message-ID);
- file: the same key writes the same file names atomically: a repeat overwrites, nothing doubles;
- webhook: the body is posted again with the same ``Idempotency-Key`` header.

Only one process sends at a time (``Storage.sender_lock``): the holder knows that a ``sending``
record is an orphan of a crash and not another process's message in flight.

Which matches become alerts (``wants_alert``) and when a digest is due (``digest_slot``) are
decided here too: data and ``now`` in, data out.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.config.channels import SubscriptionSettings
from monitor.errors import DeliveryError
from monitor.model import Delivery, DeliveryState, Priority

__all__ = [
    "ALERT_MAX_AGE",
    "DEFAULT_RETRY_FOR",
    "alert_key",
    "backoff_delay",
    "claim",
    "digest_key",
    "digest_slot",
    "is_due",
    "is_expired",
    "mark_sent",
    "next_attempt_after_failure",
    "next_digest_time",
    "recover",
    "story_alert_key",
    "story_alert_prefix",
    "story_update_key",
    "wants_alert",
]

DEFAULT_RETRY_FOR = timedelta(hours=24)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
ERROR_MAX = 1000


# --- keys -------------------------------------------------------------------------------------


def _short_hash(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def alert_key(subscription: str, feed_url: str, entry_id: str, rule_id: str) -> str:
    """The key of an alert per (subscription, entry, rule), as made before alerts went per story
    (``story_alert_key``); kept for reading old outboxes and tools that name such keys."""
    return f"alert-{subscription}-{_short_hash(feed_url, entry_id, rule_id)}"


def story_alert_prefix(subscription: str, story_id: str) -> str:
    """What every alert key of one story in one subscription starts with (its alerts, updates)."""
    return f"alert-{subscription}-s{_short_hash(story_id)}-"


def story_alert_key(subscription: str, story_id: str, tier: Priority) -> str:
    """One alert per (subscription, story) and priority: a story alerts once, and once more
    only when it newly matches a rule of a higher priority."""
    return f"{story_alert_prefix(subscription, story_id)}{tier.value}"


def story_update_key(subscription: str, story_id: str, feed_url: str, entry_id: str) -> str:
    """One update per (subscription, story, entry): the entry that opened the update."""
    return f"{story_alert_prefix(subscription, story_id)}u{_short_hash(feed_url, entry_id)}"


def digest_key(subscription: str, due: datetime) -> str:
    """One digest per (subscription, scheduled time): a re-run of the same slot is the same.

    Cron slots fall on whole minutes; a digest sent on demand (``monitor digest send``) carries
    its seconds too, so that two of them in one minute stay apart."""
    due = due.astimezone(UTC)
    stamp = f"{due:%Y%m%dT%H%M%S}" if due.second or due.microsecond else f"{due:%Y%m%dT%H%M}"
    return f"digest-{subscription}-{stamp}Z"


# --- what to send, and when --------------------------------------------------------------------

ALERT_MAX_AGE = timedelta(hours=48)
"""An entry published longer ago than this is not news for an immediate alert (it still goes to
digests): a feed's backlog on its first poll, or an old article that was edited, alerts nobody."""


def wants_alert(
    subscription: SubscriptionSettings,
    rule_id: str,
    score: int,
    priority: Priority,
    published: datetime,
    now: datetime,
) -> bool:
    """Whether a match becomes an immediate alert of an alert subscription.

    ``rules: "*"`` means the rules marked ``priority: alert``; a list of rule ids means those
    rules, whatever their priority (the user named them). ``min_score`` applies either way.
    """
    if not subscription.selects(rule_id, score):
        return False
    if subscription.rules == "*" and priority is not Priority.ALERT:
        return False
    return now - published <= ALERT_MAX_AGE


def digest_slot(
    schedule: str, timezone: str, last_until: datetime | None, now: datetime
) -> datetime | None:
    """The period end of the digest to make now, or None when none is due.

    A subscription that never had a digest gets one at once (``now``). Otherwise the latest cron
    fire time after ``last_until`` and at or before ``now``: fire times missed while the monitor
    was not running fold into one digest rather than a burst of them.
    """
    if last_until is None:
        return now
    trigger = CronTrigger.from_crontab(schedule, timezone=ZoneInfo(timezone))
    # Look back in growing steps, so that a frequent schedule after a long pause walks only
    # over the last fire times, not over every one since ``last_until``.
    for back in _LOOK_BACK:
        start = last_until if back is None else max(last_until, now - back)
        fire = _fire_after(trigger, start)
        if fire is not None and fire <= now:
            while (following := _fire_after(trigger, fire)) is not None and following <= now:
                fire = following
            return fire
        if start == last_until:
            return None
    return None  # pragma: no cover - the last step starts at last_until


_LOOK_BACK = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
    None,
)


def _fire_after(trigger: CronTrigger, moment: datetime) -> datetime | None:
    """The first fire time strictly after ``moment``, in UTC."""
    fire = trigger.get_next_fire_time(None, moment + timedelta(microseconds=1))
    return fire.astimezone(UTC) if fire is not None else None


def next_digest_time(schedule: str, timezone: str, after: datetime) -> datetime | None:
    """The first cron fire time after ``after`` (for ``monitor status`` and the daemon's log)."""
    return _fire_after(CronTrigger.from_crontab(schedule, timezone=ZoneInfo(timezone)), after)


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
