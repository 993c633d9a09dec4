"""Stored matches -> alert and digest deliveries in the outbox, each rendered once when it is made.

Which entries alert (one alert per story), which become updates and which stay silent is decided
in ``alerts``, whether a story is breaking in ``spike``, when a digest is due in ``outbox`` and
what it holds in ``digest`` (all pure); this module reads the store, renders, and writes the
deliveries with their messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config.channels import SubscriptionSettings
from monitor.config.settings import Settings
from monitor.delivery.alerts import (
    Decision,
    Outcome,
    StoryLog,
    build_story_alert,
    decide,
    group_wanted,
    own_story_id,
    story_log,
)
from monitor.delivery.digest import Digest, build_digest
from monitor.delivery.outbox import digest_key, digest_slot, story_alert_prefix, wants_alert
from monitor.delivery.render import Renderer
from monitor.delivery.spike import BASELINE_SPAN, MIN_OUTLETS, story_spike
from monitor.delivery.stored_message import decode_message, encode_message
from monitor.errors import MonitorError
from monitor.logs import event
from monitor.model import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    Entry,
    ItemKey,
    Match,
    RenderedMessage,
    RuleCatalog,
    StoryRecord,
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
class _AlertPlan:
    decisions: list[Decision]
    stories: dict[tuple[str, str], StoryRecord]
    logs: dict[str, StoryLog]


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
        """Alert deliveries of the stories alert subscriptions want and have not had yet: one
        per story (``alerts.decide``), and the updates of alerted stories (``updates: thread``)."""
        subs = [s for s in self.subscriptions.values() if s.mode == "alert"]
        if not subs:
            return []
        now = self.clock()
        marks = {s.name: self._mark(s.name, now) for s in subs}
        sources = self._sources()
        titles = self.rule_titles()
        made: list[Delivery] = []
        baselines: dict[str, dict[str, int]] = {}
        for sub in subs:
            mark = marks[sub.name]
            since = mark.first_seen
            if mark.alerts_until is not None:
                since = max(since, mark.alerts_until - SCAN_OVERLAP)
            try:
                plan = self._plan_alerts(sub, since, now)
                silent = 0
                for decision in plan.decisions:
                    if decision.outcome is Outcome.SILENT:
                        silent += 1
                        continue
                    stored = self._add_alert(sub, decision, plan, now, sources, titles, baselines)
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
            if silent:
                event(log, "alerts.silent", subscription=sub.name, entries=silent)
            self.storage.set_alerts_until(sub.name, now)
        if made:
            event(log, "alerts.enqueued", alerts=len(made))
        return made

    def _plan_alerts(self, sub: SubscriptionSettings, since: datetime, now: datetime) -> _AlertPlan:
        """Read what the decision needs: the wanted matches, their stories, what the stories'
        alerts were, which entries an alert of the subscription holds already."""
        pairs = [
            (e, m)
            for e, m in self.storage.iter_matches(since=since)
            if wants_alert(sub, m.rule_id, m.score, m.priority, e.published, now)
        ]
        wanted = group_wanted(pairs)
        stories = self.storage.stories_of(w.key for w in wanted)
        story_ids = {k: s.id for k, s in stories.items()}
        sids = {story_ids.get(w.key) or own_story_id(*w.key) for w in wanted}
        prior = self.storage.deliveries_with_prefix(
            sub.name, [story_alert_prefix(sub.name, sid) for sid in sids]
        )
        logs = {sid: story_log(sub.name, sid, prior) for sid in sids}
        held = self.storage.held_items(
            sub.name, DeliveryKind.ALERT, [(e.feed_url, e.id, m.rule_id) for e, m in pairs]
        )
        reported = {(f, e) for f, e, _ in held}
        decisions = decide(sub, wanted, story_ids, logs, reported, now)
        return _AlertPlan(decisions, stories, logs)

    def _add_alert(
        self,
        sub: SubscriptionSettings,
        decision: Decision,
        plan: _AlertPlan,
        now: datetime,
        sources: Mapping[str, str],
        titles: Mapping[str, str],
        baselines: dict[str, dict[str, int]],
    ) -> Delivery | None:
        story = plan.stories.get(decision.lead.key)
        members = (
            [(m.outlet, m.published) for m in story.members]
            if story is not None
            else [(decision.lead.entry.feed_url, decision.lead.entry.published)]
        )
        rules = [m.rule_id for m in decision.lead.matches]
        missing = [r for r in rules if r not in baselines]
        if missing:
            baselines.update(self.storage.rule_story_outlets(missing, since=now - BASELINE_SPAN))
        breaking = story_spike(decision.story_id, members, rules, baselines, now)
        last = plan.logs.get(decision.story_id, StoryLog()).last_message
        named: set[str] = set()
        if story is not None and last is not None:
            reporting = {w.key for w in decision.entries}
            named = {
                m.masthead or m.outlet
                for m in story.members
                if m.published <= last and (m.feed_url, m.entry_id) not in reporting
            }
        root = plan.logs.get(decision.story_id, StoryLog()).root_id
        subject = None
        if decision.outcome is Outcome.UPDATE and root is not None:
            try:
                subject = decode_message(self.storage.delivery_message(root)).subject
            except KeyError:  # pruned meanwhile: the update gets a subject of its own
                subject = None
        alert = build_story_alert(
            decision,
            sub,
            now,
            story=story,
            sources=sources,
            rule_titles=titles,
            breaking=breaking,
            named_before=named,
            thread_subject=subject,
            concept_labels=self.catalog().labels.get(sub.language),
        )
        message = self.renderer.render_alert(alert)
        assert decision.key is not None
        return self.storage.add_delivery(
            Delivery(
                id=None,
                kind=DeliveryKind.ALERT,
                subscription=sub.name,
                channel=sub.channel,
                key=decision.key,
                created=now,
            ),
            encode_message(message),
            [
                (w.entry.feed_url, w.entry.id, m.rule_id)
                for w in decision.entries
                for m in w.matches
            ],
        )

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
        stories = self.storage.stories_of(keys)
        digest = build_digest(
            pairs,
            sub,
            now,
            # A first digest has no "since": it starts when the subscription was first seen.
            since=start if (mark.digest_since or older) else None,
            sources=self._sources(),
            rule_titles=self.rule_titles(),
            alerted=alerted,
            stories=stories,
            catalog=catalog,
            breaking=self._breaking(pairs, stories, sub.language, now),
            published_after=published_after(sub, mark.digest_since, start, now),
            preferred=self.settings.stories.preferred_sources,
        )
        items = [(i.entry.feed_url, i.entry.id, i.rule_id) for i in digest.items()]
        return _Plan(digest, items, start, ignore)

    def _breaking(
        self,
        pairs: list[tuple[Entry, Match]],
        stories: Mapping[tuple[str, str], StoryRecord],
        language: str,
        now: datetime,
    ) -> dict[str, str]:
        """Story id -> why it is breaking (``spike``), for the digest's stories that are."""
        rules: dict[str, set[str]] = {}
        for e, m in pairs:
            record = stories.get((e.feed_url, e.id))
            if record is not None and len(record.members) >= MIN_OUTLETS:
                rules.setdefault(record.id, set()).add(m.rule_id)
        if not rules:
            return {}
        records = {r.id: r for r in stories.values() if r.id in rules}
        wanted = sorted({r for rs in rules.values() for r in rs})
        baselines = self.storage.rule_story_outlets(wanted, since=now - BASELINE_SPAN)
        out: dict[str, str] = {}
        for sid, rule_ids in rules.items():
            members = [(m.outlet, m.published) for m in records[sid].members]
            spike = story_spike(sid, members, sorted(rule_ids), baselines, now)
            if spike is not None:
                out[sid] = spike.explanation(language)
        return out

    def preview(self, sub: SubscriptionSettings) -> tuple[Digest, RenderedMessage]:
        """The digest that ``monitor digest send`` would make now; nothing is written."""
        now = self.clock()
        plan = self._plan(sub, now, now)
        return plan.digest, self.renderer.render_digest(plan.digest)
