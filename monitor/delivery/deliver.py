"""The deliverer: one facade over making deliveries (``enqueue``) and sending them
(``send``), as ``monitor once``, the daemon and the delivery commands use it.

- ``enqueue_alerts``: new matches that alert subscriptions want become alert deliveries;
- ``make_digests``: each digest subscription whose slot is due gets one digest delivery;
- ``send_due``: due deliveries go out one at a time, each state change committed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor.config.channels import SubscriptionSettings
from monitor.config.settings import Settings
from monitor.delivery.digest import Digest
from monitor.delivery.enqueue import SCAN_OVERLAP, DigestOutcome, Enqueuer
from monitor.delivery.render import Renderer
from monitor.delivery.send import Sender, SendReport, StoreSentParts
from monitor.delivery.stored_message import decode_message, encode_message
from monitor.model import Delivery, RenderedMessage, RuleCatalog
from monitor.notify.base import Channel
from monitor.store import Storage

__all__ = [
    "SCAN_OVERLAP",
    "Deliverer",
    "DigestOutcome",
    "SendReport",
    "StoreSentParts",
    "counts_by_kind",
    "decode_message",
    "describe",
    "encode_message",
]

Clock = Callable[[], datetime]


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
        catalog: Callable[[], RuleCatalog] | None = None,
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
        self._enqueuer = Enqueuer(
            settings,
            storage,
            clock=clock,
            rule_titles=rule_titles,
            catalog=catalog,
            renderer=renderer,
        )
        self._sender = Sender(
            settings, storage, clock=clock, rng=self.rng, channels=channels, on_result=on_result
        )
        self.subscriptions = self._enqueuer.subscriptions

    @property
    def renderer(self) -> Renderer:
        return self._enqueuer.renderer

    def channel(self, name: str) -> Channel | None:
        return self._sender.channel(name)

    def retry_for(self, channel: str) -> timedelta:
        """The channel's own ``retry_for`` if it sets one, else ``delivery.retry_for``."""
        return self._sender.retry_for(channel)

    # --- making deliveries -------------------------------------------------------------------

    def enqueue_alerts(self) -> list[Delivery]:
        """Alert deliveries for the matches alert subscriptions want and have not had yet."""
        return self._enqueuer.enqueue_alerts()

    def digest_subscriptions(self, only: str | None = None) -> list[SubscriptionSettings]:
        return self._enqueuer.digest_subscriptions(only)

    def make_digests(self, *, only: str | None = None, force: bool = False) -> list[DigestOutcome]:
        """A digest for each digest subscription whose slot is due (``force``: due now)."""
        return self._enqueuer.make_digests(only=only, force=force)

    def preview(self, sub: SubscriptionSettings) -> tuple[Digest, RenderedMessage]:
        """The digest that ``monitor digest send`` would make now; nothing is written."""
        return self._enqueuer.preview(sub)

    # --- sending -----------------------------------------------------------------------------

    def send_due(
        self,
        *,
        force: bool = False,
        subscriptions: Collection[str] | None = None,
        wait: float = 0.0,
        stop: Callable[[], bool] = lambda: False,
    ) -> SendReport:
        """Send the due deliveries, one at a time (``force``: pending ones not yet due, too)."""
        return self._sender.send_due(force=force, subscriptions=subscriptions, wait=wait, stop=stop)

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
