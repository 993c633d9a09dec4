"""Send due deliveries one at a time: claim, send through the channel, record the outcome.

How long to wait after a failure is decided in ``outbox`` (pure); this module holds the
sender lock, calls the channels, and commits each state change.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.config.settings import Settings
from monitor.delivery.outbox import claim, mark_sent, next_attempt_after_failure
from monitor.delivery.stored_message import decode_message
from monitor.errors import DeliveryError
from monitor.logs import event
from monitor.model import Delivery, DeliveryState
from monitor.notify.base import Channel
from monitor.store import Storage

__all__ = ["SEND_BATCH", "SendReport", "Sender", "StoreSentParts"]

# The logger of the module this was split from: log filters and dashboards keep working.
log = logging.getLogger("monitor.deliver")

Clock = Callable[[], datetime]

SEND_BATCH = 50


class StoreSentParts:
    """``SentParts`` in the store: a restarted process resumes a split message at the next part."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def done(self, key: str) -> set[str]:
        return self._storage.sent_parts(key)

    def add(self, key: str, part: str) -> None:
        self._storage.add_sent_part(key, part, self._clock())


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


class Sender:
    """Sends the due deliveries of one configuration through its channels, built on first use."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        channels: Mapping[str, Channel] | None = None,
        on_result: Callable[[Delivery, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.rng = rng or random.Random()
        self._channels: dict[str, Channel] = dict(channels or {})
        self._on_result = on_result

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
