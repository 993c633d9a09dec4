"""Stored matches -> outbox records -> channels: the one job between the store and the notifiers.

- ``enqueue_alerts``: new matches that alert subscriptions want become alert deliveries;
- ``make_digests``: each digest subscription whose slot is due gets one digest delivery;
- ``send_due``: due deliveries go out one at a time, each state change committed.

Every delivery is rendered once, when it is made, and stored with its message: a retry, or a
restarted process, sends the very same message under the same key. What is an alert, when a
digest is due, and how long to wait after a failure are decided in ``monitor.outbox`` and
``monitor.digest`` (pure); this module reads and writes the store and calls the channels.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.config import Settings
from monitor.digest import Digest, build_alert, build_digest
from monitor.errors import DeliveryError, MonitorError
from monitor.logs import event
from monitor.model import as_utc
from monitor.notify.base import Channel
from monitor.notify.settings import SubscriptionSettings
from monitor.outbox import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    ItemKey,
    SubscriptionMark,
    alert_key,
    claim,
    digest_key,
    digest_slot,
    mark_sent,
    next_attempt_after_failure,
    wants_alert,
)
from monitor.render import RenderedMessage, Renderer
from monitor.store import Storage

__all__ = [
    "Deliverer",
    "DigestOutcome",
    "SendReport",
    "StoreSentParts",
    "decode_message",
    "encode_message",
]

log = logging.getLogger("monitor.deliver")

Clock = Callable[[], datetime]

SCAN_OVERLAP = timedelta(hours=1)
"""Scans for matches reach this far behind their mark. A poll stamps its matches with the time it
started and may commit after a scan that ran meanwhile (parsing in a worker process, a second
``monitor`` process): the overlap reads those late ones; keys and held items make re-reading the
others harmless."""

PLAN_ATTEMPTS = 3
SEND_BATCH = 50


# --- the stored message -----------------------------------------------------------------------


def encode_message(message: RenderedMessage) -> str:
    return json.dumps(
        {
            "kind": message.kind,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "slack_payloads": message.slack_payloads,
            "data": message.data,
            "created": message.created.isoformat(),
            "template": message.template,
        },
        ensure_ascii=False,
    )


def decode_message(text: str) -> RenderedMessage:
    obj = json.loads(text)
    return RenderedMessage(
        kind=obj["kind"],
        subject=obj["subject"],
        text=obj["text"],
        html=obj["html"],
        slack_payloads=obj["slack_payloads"],
        data=obj["data"],
        created=as_utc(datetime.fromisoformat(obj["created"])),
        template=obj.get("template", ""),
    )


class StoreSentParts:
    """``SentParts`` in the store: a restarted process resumes a split message at the next part."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def done(self, key: str) -> set[str]:
        return self._storage.sent_parts(key)

    def add(self, key: str, part: str) -> None:
        self._storage.add_sent_part(key, part, self._clock())


# --- reports ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestOutcome:
    subscription: str
    delivery: Delivery | None = None
    """The digest made, or None (nothing due, or nothing to send)."""
    slot: datetime | None = None
    items: int = 0
    error: str | None = None


@dataclass
class SendReport:
    sent: list[Delivery] = field(default_factory=list)
    retrying: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)
    recovered: int = 0
    locked_out: bool = False
    """Another process holds the sender lock: nothing was sent."""

    def extend(self, other: SendReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.recovered += other.recovered
        self.locked_out = self.locked_out or other.locked_out


@dataclass(frozen=True)
class _Plan:
    digest: Digest
    items: list[ItemKey]
    start: datetime
    supersede: list[int]


# --- the deliverer ----------------------------------------------------------------------------


class Deliverer:
    """Makes and sends deliveries for one configuration; shared by ``monitor once``, the daemon
    and the ``digest``/``deliveries`` commands. Thread-safe as far as the store is."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        *,
        clock: Clock,
        rule_titles: Callable[[], Mapping[str, str]] = dict,
        rng: random.Random | None = None,
        renderer: Renderer | None = None,
        channels: Mapping[str, Channel] | None = None,
        on_result: Callable[[Delivery, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.rule_titles = rule_titles
        self.rng = rng or random.Random()
        # Built now, so that a missing template folder stops the start, not the first digest.
        if renderer is None and settings.subscriptions:
            renderer = Renderer(settings.template_dir())
        self._renderer = renderer
        self._channels: dict[str, Channel] = dict(channels or {})
        self._on_result = on_result
        self.subscriptions = {s.name: s for s in settings.subscriptions}
        if self.subscriptions:
            storage.register_subscriptions(self.subscriptions, clock())

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.settings.template_dir())
        return self._renderer

    def channel(self, name: str) -> Channel | None:
        found = self._channels.get(name)
        if found is None:
            settings = self.settings.channels.get(name)
            if settings is None:
                return None
            from monitor.notify.registry import build_channel

            found = build_channel(name, settings, sent=StoreSentParts(self.storage, self.clock))
            self._channels[name] = found
        return found

    def retry_for(self, channel: str) -> timedelta:
        """The channel's own ``retry_for`` if it sets one, else ``delivery.retry_for``."""
        settings = self.settings.channels.get(channel)
        if settings is not None and "retry_for" in settings.model_fields_set:
            return settings.retry_for
        return self.settings.delivery.retry_for

    def _mark(self, name: str, now: datetime) -> SubscriptionMark:
        mark = self.storage.subscription_marks().get(name)
        if mark is None:  # registered at start; a second process may have reset the store
            mark = self.storage.register_subscriptions([name], now)[name]
        return mark

    def _sources(self) -> dict[str, str]:
        states = self.storage.feed_states()
        out = {url: s.title for url, s in states.items() if s.title}
        out.update({f.url: f.name for f in self.settings.feed_list() if f.name})
        return out

    # --- alerts ------------------------------------------------------------------------------

    def enqueue_alerts(self) -> list[Delivery]:
        """Alert deliveries for the matches alert subscriptions want and have not had yet."""
        subs = [s for s in self.subscriptions.values() if s.mode == "alert"]
        if not subs:
            return []
        now = self.clock()
        marks = {s.name: self._mark(s.name, now) for s in subs}
        sources = self._sources()
        titles = self.rule_titles()
        made: list[Delivery] = []
        for sub in subs:
            mark = marks[sub.name]
            since = mark.first_seen
            if mark.alerts_until is not None:
                since = max(since, mark.alerts_until - SCAN_OVERLAP)
            wanted = {
                alert_key(sub.name, e.feed_url, e.id, m.rule_id): (e, m)
                for e, m in self.storage.iter_matches(since=since)
                if wants_alert(sub, m.rule_id, m.score, m.priority, e.published, now)
            }
            have = self.storage.delivery_keys(wanted)
            todo = sorted(
                ((k, em) for k, em in wanted.items() if k not in have),
                key=lambda kem: (kem[1][1].score * -1, kem[1][0].published, kem[0]),
            )
            try:
                for key, (entry, match) in todo:
                    alert = build_alert(entry, match, sub, now, sources=sources, rule_titles=titles)
                    message = self.renderer.render_alert(alert)
                    stored = self.storage.add_delivery(
                        Delivery(
                            id=None,
                            kind=DeliveryKind.ALERT,
                            subscription=sub.name,
                            channel=sub.channel,
                            key=key,
                            created=now,
                        ),
                        encode_message(message),
                        [(entry.feed_url, entry.id, match.rule_id)],
                    )
                    if stored is not None:
                        made.append(stored)
            except MonitorError as exc:
                # Leave the mark where it is: the next run tries these matches again.
                event(
                    log,
                    "alerts.failed",
                    level=logging.ERROR,
                    subscription=sub.name,
                    error=str(exc),
                )
                continue
            self.storage.set_alerts_until(sub.name, now)
        if made:
            event(log, "alerts.enqueued", alerts=len(made))
        return made

    # --- digests -----------------------------------------------------------------------------

    def digest_subscriptions(self, only: str | None = None) -> list[SubscriptionSettings]:
        subs = [s for s in self.subscriptions.values() if s.mode == "digest"]
        return [s for s in subs if only is None or s.name == only]

    def make_digests(self, *, only: str | None = None, force: bool = False) -> list[DigestOutcome]:
        """A digest for each digest subscription whose slot is due (``force``: due now).

        A failing subscription (a broken template) is logged and reported; the others go on.
        """
        outcomes = []
        for sub in self.digest_subscriptions(only):
            try:
                outcomes.append(self._make_digest(sub, force=force))
            except MonitorError as exc:
                event(
                    log, "digest.failed", level=logging.ERROR, subscription=sub.name, error=str(exc)
                )
                outcomes.append(DigestOutcome(sub.name, error=str(exc)))
        return outcomes

    def _make_digest(self, sub: SubscriptionSettings, *, force: bool) -> DigestOutcome:
        assert sub.schedule is not None
        for _ in range(PLAN_ATTEMPTS):
            now = self.clock()
            mark = self._mark(sub.name, now)
            slot = now if force else digest_slot(sub.schedule, sub.timezone, mark.digest_until, now)
            if slot is None:
                return DigestOutcome(sub.name)
            plan = self._plan(sub, now, slot)
            first = mark.digest_until is None
            if plan.digest.is_empty and first and not sub.send_empty:
                # A first digest waits for content rather than using up its "at once": the
                # daemon's first outbox run comes before its first poll.
                return DigestOutcome(sub.name)
            if plan.digest.is_empty and (first or not sub.send_empty):
                # Nothing to send: the slot is done, the next digest starts here.
                done = self.storage.add_digest(
                    None, None, [], subscription=sub.name, seq=mark.digest_seq, until=slot
                )
                if done is False:
                    continue
                return DigestOutcome(sub.name, slot=slot)
            message = self.renderer.render_digest(plan.digest)
            stored = self.storage.add_digest(
                Delivery(
                    id=None,
                    kind=DeliveryKind.DIGEST,
                    subscription=sub.name,
                    channel=sub.channel,
                    key=digest_key(sub.name, slot),
                    created=now,
                    since=plan.start,
                    due=slot,
                ),
                encode_message(message),
                plan.items,
                subscription=sub.name,
                seq=mark.digest_seq,
                until=slot,
                supersede=plan.supersede,
            )
            if isinstance(stored, Delivery):
                event(
                    log,
                    "digest.created",
                    subscription=sub.name,
                    key=stored.key,
                    items=len(plan.items),
                    superseded=len(plan.supersede) or None,
                )
                return DigestOutcome(sub.name, stored, slot, len(plan.items))
        raise MonitorError(
            f"subscription {sub.name}: the digest could not be made: other monitor processes "
            "kept changing its outbox; hint: it is tried again at the next run"
        )

    def _plan(self, sub: SubscriptionSettings, now: datetime, slot: datetime) -> _Plan:
        """What the digest for ``slot`` contains: every selected match recorded before the slot
        that no pending, sending or sent digest of the subscription holds. A pending or failed
        earlier digest is superseded: its items move into this one."""
        mark = self._mark(sub.name, now)
        older = self.storage.deliveries(
            states=(DeliveryState.PENDING, DeliveryState.FAILED),
            kind=DeliveryKind.DIGEST,
            subscription=sub.name,
        )
        starts = [mark.digest_since or mark.first_seen, *(d.since for d in older if d.since)]
        start = min(starts)
        pairs = [
            (e, m)
            for e, m in self.storage.iter_matches(since=start - SCAN_OVERLAP, until=slot)
            if sub.selects(m.rule_id, m.score)
        ]
        ignore = [d.id for d in older if d.id is not None]
        held = self.storage.held_items(
            sub.name, DeliveryKind.DIGEST, [(e.feed_url, e.id, m.rule_id) for e, m in pairs],
            ignore=ignore,
        )  # fmt: skip
        pairs = [(e, m) for e, m in pairs if (e.feed_url, e.id, m.rule_id) not in held]
        alerted = self.storage.alerted_entries({(e.feed_url, e.id) for e, _ in pairs})
        digest = build_digest(
            pairs,
            sub,
            now,
            # A first digest has no "since": it starts when the subscription was first seen.
            since=start if (mark.digest_since or older) else None,
            sources=self._sources(),
            rule_titles=self.rule_titles(),
            alerted=alerted,
        )
        items = [(i.entry.feed_url, i.entry.id, i.rule_id) for i in digest.items()]
        return _Plan(digest, items, start, ignore)

    def preview(self, sub: SubscriptionSettings) -> tuple[Digest, RenderedMessage]:
        """The digest that ``monitor digest send`` would make now; nothing is written."""
        now = self.clock()
        plan = self._plan(sub, now, now)
        return plan.digest, self.renderer.render_digest(plan.digest)

    # --- sending -----------------------------------------------------------------------------

    def send_due(
        self,
        *,
        force: bool = False,
        subscriptions: Collection[str] | None = None,
        wait: float = 0.0,
        stop: Callable[[], bool] = lambda: False,
    ) -> SendReport:
        """Send the due deliveries, one at a time (``force``: pending ones not yet due, too).

        Holds the sender lock throughout (waiting up to ``wait`` seconds for it); first puts
        back what a crashed sender left ``sending``. A channel that fails is left alone for the
        rest of the run, so its retries never hold up the other channels.
        """
        report = SendReport()
        with self.storage.sender_lock(wait) as held:
            if not held:
                report.locked_out = True
                event(log, "send.skipped", reason="another monitor process is sending")
                return report
            report.recovered = self.storage.recover_deliveries(self.clock())
            if report.recovered:
                event(
                    log,
                    "send.recovered",
                    level=logging.WARNING,
                    deliveries=report.recovered,
                    note="left sending by a stopped process; each is sent again (at most one "
                    "message may arrive twice, under the same key)",
                )
            blocked: set[str] = set()
            tried: set[int] = set()
            while not stop():
                horizon = self.clock() + (timedelta(days=36500) if force else timedelta(0))
                batch = [
                    d
                    for d in self.storage.due_deliveries(horizon, limit=SEND_BATCH + len(tried))
                    if d.id not in tried
                    and d.channel not in blocked
                    and (subscriptions is None or d.subscription in subscriptions)
                ]
                if not batch:
                    break
                for delivery in batch[:SEND_BATCH]:
                    if stop():
                        break
                    assert delivery.id is not None
                    tried.add(delivery.id)
                    if delivery.channel in blocked:
                        continue
                    after = self._send_one(delivery)
                    if after is None:
                        continue
                    if after.state is DeliveryState.SENT:
                        report.sent.append(after)
                    else:
                        blocked.add(delivery.channel)
                        if after.state is DeliveryState.FAILED:
                            report.failed.append(after)
                        else:
                            report.retrying.append(after)
        return report

    def _send_one(self, delivery: Delivery) -> Delivery | None:
        claimed = claim(delivery, self.clock())
        if not self.storage.update_delivery(claimed, expect=DeliveryState.PENDING):
            return None  # moved on meanwhile (superseded by a new digest)
        try:
            channel = self.channel(delivery.channel)
            if channel is None:
                raise DeliveryError(
                    delivery.channel,
                    f"is no longer under channels: (subscription {delivery.subscription}); "
                    "hint: restore the channel, then `monitor deliveries --retry ID`",
                    temporary=False,
                )
            message = decode_message(self.storage.delivery_message(claimed.id or 0))
            channel.send(message, key=delivery.key)
        except DeliveryError as exc:
            return self._failed(claimed, exc)
        except Exception as exc:
            # A bug or an unexpected answer in a channel must not stop the other channels:
            # retried like a temporary failure, with the traceback in the log.
            log.exception("channel raised", extra={"monitor_kv": {"channel": delivery.channel}})
            error = DeliveryError(
                delivery.channel, f"unexpected {exc.__class__.__name__}: {exc}", temporary=True
            )
            return self._failed(claimed, error)
        # The window: the channel accepted; until this commit a crash means one repeat.
        sent = mark_sent(claimed, self.clock())
        self.storage.update_delivery(sent, expect=DeliveryState.SENDING)
        event(
            log,
            "delivery.sent",
            kind=sent.kind.value,
            subscription=sent.subscription,
            channel=sent.channel,
            key=sent.key,
            attempts=sent.attempts,
        )
        self._report(sent, "sent")
        return sent

    def _failed(self, claimed: Delivery, error: DeliveryError) -> Delivery:
        after = next_attempt_after_failure(
            claimed, error, self.clock(), self.retry_for(claimed.channel), self.rng
        )
        self.storage.update_delivery(after, expect=DeliveryState.SENDING)
        failed = after.state is DeliveryState.FAILED
        event(
            log,
            "delivery.failed" if failed else "delivery.retry",
            level=logging.ERROR if failed else logging.WARNING,
            kind=after.kind.value,
            subscription=after.subscription,
            channel=after.channel,
            key=after.key,
            attempts=after.attempts,
            next_attempt=after.next_attempt,
            error=after.last_error,
        )
        self._report(after, "failed" if failed else "retry")
        return after

    def _report(self, delivery: Delivery, outcome: str) -> None:
        if self._on_result is not None:
            self._on_result(delivery, outcome)

    # --- one pass, as ``monitor once`` and the daemon's jobs run it ---------------------------

    def run(
        self,
        *,
        digests: bool = True,
        stop: Callable[[], bool] = lambda: False,
        wait: float = 0.0,
    ) -> tuple[SendReport, list[DigestOutcome]]:
        """Alerts first (enqueue, send), then the digests that are due (make, send)."""
        report = SendReport()
        self.enqueue_alerts()
        report.extend(self.send_due(stop=stop, wait=wait))
        outcomes: list[DigestOutcome] = []
        if digests and not stop():
            outcomes = self.make_digests()
            if any(o.delivery for o in outcomes):
                report.extend(self.send_due(stop=stop, wait=wait))
        return report, outcomes


def counts_by_kind(deliveries: Iterable[Delivery]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in deliveries:
        out[d.kind.value] = out.get(d.kind.value, 0) + 1
    return out


def describe(deliveries: Sequence[Delivery]) -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "kind": d.kind.value,
            "subscription": d.subscription,
            "channel": d.channel,
            "key": d.key,
            "state": d.state.value,
            "attempts": d.attempts,
            "created": d.created.isoformat(),
            "next_attempt": d.next_attempt.isoformat() if d.next_attempt else None,
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            "due": d.due.isoformat() if d.due else None,
            "last_error": d.last_error,
        }
        for d in deliveries
    ]
