"""Stored matches -> alert and digest deliveries in the outbox, each rendered once when it is made.

What is an alert and when a digest is due are decided in ``outbox`` and ``digest``
(pure); this module reads the store, renders, and writes the deliveries with their messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config.channels import SubscriptionSettings
from monitor.config.settings import Settings
from monitor.delivery.digest import Digest, build_alert, build_digest
from monitor.delivery.outbox import alert_key, digest_key, digest_slot, wants_alert
from monitor.delivery.render import Renderer
from monitor.delivery.stored_message import encode_message
from monitor.errors import MonitorError
from monitor.logs import event
from monitor.model import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    ItemKey,
    RenderedMessage,
    RuleCatalog,
    SubscriptionMark,
)
from monitor.store import Storage

__all__ = ["SCAN_OVERLAP", "DigestOutcome", "Enqueuer"]

# The logger of the module this was split from: log filters and dashboards keep working.
log = logging.getLogger("monitor.deliver")

Clock = Callable[[], datetime]

SCAN_OVERLAP = timedelta(hours=1)
"""Scans for matches reach this far behind their mark. A poll stamps its matches with the time it
started and may commit after a scan that ran meanwhile (parsing in a worker process, a second
``monitor`` process): the overlap reads those late ones; keys and held items make re-reading the
others harmless."""

PLAN_ATTEMPTS = 3


@dataclass(frozen=True)
class DigestOutcome:
    subscription: str
    delivery: Delivery | None = None
    """The digest made, or None (nothing due, or nothing to send)."""
    slot: datetime | None = None
    items: int = 0
    error: str | None = None


@dataclass(frozen=True)
class _Plan:
    digest: Digest
    items: list[ItemKey]
    start: datetime
    supersede: list[int]


LATE_GRACE = timedelta(days=1)
"""A later digest also takes entries published up to this long before its window (at most the
look-back): items that reach the monitor late, or feeds that give only a date, are not lost."""


def published_after(
    sub: SubscriptionSettings, digest_since: datetime | None, start: datetime, now: datetime
) -> datetime:
    """The oldest publication time a digest takes: the first digest looks back ``lookback``
    from now; a later one to its window's start less ``LATE_GRACE`` (at most ``lookback``). A
    new feed's backlog, or a store of old entries, never floods a digest."""
    if digest_since is None:
        return now - sub.lookback
    return start - min(LATE_GRACE, sub.lookback)


class Enqueuer:
    """Makes the alert and digest deliveries of one configuration's subscriptions."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        *,
        clock: Clock,
        rule_titles: Callable[[], Mapping[str, str]] = dict,
        catalog: Callable[[], RuleCatalog] | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.rule_titles = rule_titles
        self.catalog = catalog or (lambda: RuleCatalog(titles=rule_titles()))
        # Built now, so that a missing template folder stops the start, not the first digest.
        if renderer is None and settings.subscriptions:
            renderer = Renderer(settings.template_dir())
        self._renderer = renderer
        self.subscriptions = {s.name: s for s in settings.subscriptions}
        if self.subscriptions:
            storage.register_subscriptions(self.subscriptions, clock())

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.settings.template_dir())
        return self._renderer

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
        catalog = self.catalog()
        pairs = [
            (e, m)
            for e, m in self.storage.iter_matches(since=start - SCAN_OVERLAP, until=slot)
            if sub.selects(m.rule_id, m.score, catalog.context)
        ]
        ignore = [d.id for d in older if d.id is not None]
        held = self.storage.held_items(
            sub.name, DeliveryKind.DIGEST, [(e.feed_url, e.id, m.rule_id) for e, m in pairs],
            ignore=ignore,
        )  # fmt: skip
        pairs = [(e, m) for e, m in pairs if (e.feed_url, e.id, m.rule_id) not in held]
        keys = {(e.feed_url, e.id) for e, _ in pairs}
        alerted = self.storage.alerted_entries(keys)
        digest = build_digest(
            pairs,
            sub,
            now,
            # A first digest has no "since": it starts when the subscription was first seen.
            since=start if (mark.digest_since or older) else None,
            sources=self._sources(),
            rule_titles=self.rule_titles(),
            alerted=alerted,
            stories=self.storage.stories_of(keys),
            catalog=catalog,
            published_after=published_after(sub, mark.digest_since, start, now),
            preferred=self.settings.stories.preferred_sources,
        )
        items = [(i.entry.feed_url, i.entry.id, i.rule_id) for i in digest.items()]
        return _Plan(digest, items, start, ignore)

    def preview(self, sub: SubscriptionSettings) -> tuple[Digest, RenderedMessage]:
        """The digest that ``monitor digest send`` would make now; nothing is written."""
        now = self.clock()
        plan = self._plan(sub, now, now)
        return plan.digest, self.renderer.render_digest(plan.digest)
