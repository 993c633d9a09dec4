"""Alerts per story (pure): which entries alert, which become an update, which stay silent, and
the ``StoryAlert`` a template renders.

A subscription sends one alert per story. Of a story's new qualifying entries the earliest of the
highest priority alerts, with every rule it matches as tags (priority, then score, decide the
header); the story's other outlets are named in it ("also reported by ..."). Later entries of the
story do not alert again:

- ``updates: none`` (default): they stay silent;
- ``updates: thread``: they become an update, threaded under the first alert (email
  In-Reply-To/References; channels that cannot thread get the same compact "also reported by"
  message), at most ``max_updates`` per story and one per ``update_interval``: entries inside the
  interval wait silently: a later update names their outlets, and lists them too while the alert
  scan still reads them (``SCAN_OVERLAP``).

A story alerts again only when it newly matches a rule of a higher priority than any alert it had
(a rule named in ``rules:`` with ``priority: digest`` first, then one with ``priority: alert``).
An entry without a story (stories disabled, data from before stories) is its own story, under the
id a story started by it would get (``own_story_id``).

The caller (``enqueue``) reads the store: the wanted matches, ``Storage.stories_of``, the
story's earlier deliveries (``Storage.deliveries_with_prefix``) and the entries already held by
an alert of the subscription; this module decides on that data and ``now``, no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from monitor.config.channels import SubscriptionSettings
from monitor.delivery.digest import Alert, Item, make_item, source_label
from monitor.delivery.outbox import story_alert_key, story_alert_prefix, story_update_key
from monitor.delivery.spike import Spike
from monitor.model import Delivery, Entry, Hit, Match, Priority, StoryRecord

__all__ = [
    "Decision",
    "Outcome",
    "Reason",
    "StoryAlert",
    "StoryLog",
    "Tag",
    "Wanted",
    "build_story_alert",
    "decide",
    "explain_hits",
    "group_wanted",
    "own_story_id",
    "single_alert",
    "story_log",
    "tier_rank",
]

EntryKey = tuple[str, str]

_SQUASH = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
FIELD_ORDER = ("title", "summary", "content")
TERM_MAX = 40
"""A matched text longer than this (a ``near:`` hit spans words) is shown by its concept id."""


def tier_rank(priority: Priority) -> int:
    return 2 if priority is Priority.ALERT else 1


def own_story_id(feed_url: str, entry_id: str) -> str:
    """The story id of an entry without a story: the id a story started by it gets (the same
    hash as ``monitor.app.stories.story_key``), so it stays one story if it gets one later."""
    h = hashlib.blake2b(digest_size=8)
    h.update(feed_url.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(entry_id.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


# --- input ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wanted:
    """One entry with the matches the subscription wants of it, best first."""

    entry: Entry
    matches: tuple[Match, ...]

    @property
    def key(self) -> EntryKey:
        return (self.entry.feed_url, self.entry.id)

    @property
    def tier(self) -> Priority:
        return max(self.matches, key=lambda m: tier_rank(m.priority)).priority

    @property
    def best(self) -> Match:
        return self.matches[0]


def _match_order(m: Match) -> tuple[int, int, str]:
    return (-tier_rank(m.priority), -m.score, m.rule_id)


def group_wanted(pairs: Iterable[tuple[Entry, Match]]) -> list[Wanted]:
    """(entry, match) pairs -> one ``Wanted`` per entry (one match per rule: the best score)."""
    entries: dict[EntryKey, Entry] = {}
    best: dict[EntryKey, dict[str, Match]] = {}
    for entry, match in pairs:
        k = (entry.feed_url, entry.id)
        entries[k] = entry
        rules = best.setdefault(k, {})
        if match.rule_id not in rules or match.score > rules[match.rule_id].score:
            rules[match.rule_id] = match
    return [
        Wanted(entries[k], tuple(sorted(rules.values(), key=_match_order)))
        for k, rules in best.items()
    ]


@dataclass(frozen=True, slots=True)
class StoryLog:
    """What the outbox holds for one story of one subscription."""

    tier: Priority | None = None
    """The highest priority the story alerted with; None: it never alerted."""
    root_key: str | None = None
    """The key of its first alert: what updates thread under."""
    root_id: int | None = None
    updates: int = 0
    last_message: datetime | None = None
    """When its latest alert or update was made."""


def story_log(subscription: str, story_id: str, deliveries: Iterable[Delivery]) -> StoryLog:
    """The story's log from its deliveries (any state; ``Storage.deliveries_with_prefix``)."""
    prefix = story_alert_prefix(subscription, story_id)
    tier: Priority | None = None
    root: Delivery | None = None
    updates = 0
    last: datetime | None = None
    for d in deliveries:
        if not d.key.startswith(prefix):
            continue
        suffix = d.key[len(prefix) :]
        if suffix in (Priority.ALERT.value, Priority.DIGEST.value):
            p = Priority(suffix)
            if tier is None or tier_rank(p) > tier_rank(tier):
                tier = p
            if root is None or (d.created, d.id or 0) < (root.created, root.id or 0):
                root = d
        elif suffix.startswith("u"):
            updates += 1
        else:
            continue
        last = d.created if last is None else max(last, d.created)
    if root is None:
        return StoryLog(None, None, None, updates, last)
    return StoryLog(tier, root.key, root.id, updates, last)


# --- the decision -----------------------------------------------------------------------------


class Outcome(StrEnum):
    ALERT = "alert"
    """The story's first alert."""
    REALERT = "realert"
    """The story alerted before, and now matches a rule of a higher priority."""
    UPDATE = "update"
    """A follow-up of an alerted story (``updates: thread``)."""
    SILENT = "silent"


@dataclass(frozen=True, slots=True)
class Decision:
    story_id: str
    outcome: Outcome
    entries: tuple[Wanted, ...]
    """Alert: the alerting entry first, then the story's other new entries it covers (named as
    outlets, recorded as its items). Update: the entries it reports. Silent: the one entry."""
    reason: str
    key: str | None = None
    """The delivery key (None when silent)."""
    thread_key: str | None = None
    """Update: the key of the first alert it threads under."""
    tier: Priority | None = None

    @property
    def lead(self) -> Wanted:
        return self.entries[0]


def _entry_order(w: Wanted) -> tuple[datetime, str, str]:
    return (w.entry.published, w.entry.feed_url, w.entry.id)


def decide(
    subscription: SubscriptionSettings,
    wanted: Sequence[Wanted],
    story_ids: Mapping[EntryKey, str],
    logs: Mapping[str, StoryLog],
    reported: Collection[EntryKey],
    now: datetime,
) -> list[Decision]:
    """One decision per story with new entries (alert, re-alert, update) plus one per silent
    entry, stories in the order of their earliest new entry.

    ``story_ids``: each entry's story (entries missing here are their own story); ``logs``:
    per story id, what the outbox holds; ``reported``: entries already in an alert or update
    of this subscription (the same match read twice, or an alert made before stories).
    """
    by_story: dict[str, list[Wanted]] = {}
    for w in sorted(wanted, key=_entry_order):
        sid = story_ids.get(w.key) or own_story_id(*w.key)
        by_story.setdefault(sid, []).append(w)
    out: list[Decision] = []
    name = subscription.name
    for sid, group in by_story.items():
        new = [w for w in group if w.key not in reported]
        out.extend(
            Decision(sid, Outcome.SILENT, (w,), "already reported to this subscription")
            for w in group
            if w.key in reported
        )
        if not new:
            continue
        log = logs.get(sid, StoryLog())
        top = max((w.tier for w in new), key=tier_rank)
        if log.tier is None or tier_rank(top) > tier_rank(log.tier):
            lead = next(w for w in new if w.tier is top)
            rest = tuple(w for w in new if w is not lead)
            realert = log.tier is not None
            out.append(
                Decision(
                    sid,
                    Outcome.REALERT if realert else Outcome.ALERT,
                    (lead, *rest),
                    (
                        f"newly matches a rule of priority {top.value} (alerted before with "
                        f"{log.tier.value if log.tier else ''})"
                        if realert
                        else "the story's first qualifying entry"
                    ),
                    key=story_alert_key(name, sid, top),
                    tier=top,
                )
            )
            continue
        silent = _why_silent(subscription, log, now)
        if silent is not None:
            out.extend(Decision(sid, Outcome.SILENT, (w,), silent) for w in new)
            continue
        first = new[0]
        out.append(
            Decision(
                sid,
                Outcome.UPDATE,
                tuple(new),
                f"{len(new)} new entr{'y' if len(new) == 1 else 'ies'} of an alerted story",
                key=story_update_key(name, sid, first.entry.feed_url, first.entry.id),
                thread_key=log.root_key,
                tier=log.tier,
            )
        )
    return out


def _why_silent(sub: SubscriptionSettings, log: StoryLog, now: datetime) -> str | None:
    if sub.updates == "none":
        return "the story was alerted already (updates: none)"
    if log.updates >= sub.max_updates:
        return f"the story had its {sub.max_updates} updates (max_updates)"
    if log.last_message is not None and now - log.last_message < sub.update_interval:
        return "an update or alert of the story was sent within update_interval"
    return None


# --- what the template gets -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tag:
    """One rule the alerting entry matched."""

    rule_id: str
    title: str
    score: int
    priority: Priority


@dataclass(frozen=True, slots=True)
class Reason:
    """Reader-facing evidence: the matched terms (as they stand in the text) of one field."""

    field: str
    terms: tuple[str, ...]
    cosine: float | None = None
    """``field`` "semantic": ``terms`` is the rule's example sentence the entry is close to,
    with this cosine against ``threshold``."""
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class StoryAlert:
    """An alert (or update) about one story, as the alert templates see it."""

    subscription: str
    language: str
    timezone: str
    template: str
    now: datetime
    item: Item
    """The alerting entry, with the header rule's match (for an update: its first entry)."""
    story_id: str
    variant: str = "alert"
    """"alert", "realert" or "update"."""
    tags: tuple[Tag, ...] = ()
    """Every rule the entry matched that the subscription wants, header rule first."""
    reasons: tuple[Reason, ...] = ()
    outlets: tuple[str, ...] = ()
    """All the story's outlets, in order of their first report (the item's own first)."""
    also: tuple[str, ...] = ()
    """The story's outlets other than the item's own ("also reported by")."""
    members: int = 1
    languages: tuple[str, ...] = ()
    breaking: Spike | None = None
    updates: tuple[Item, ...] = ()
    """An update: the entries it reports, each with its best match."""
    new_outlets: tuple[str, ...] = ()
    """An update: the story's outlets not named in an earlier message (those of its entries
    first)."""
    thread_key: str | None = None
    thread_subject: str | None = None
    """An update: the subject of the first alert (an email update answers it: "Re: ...")."""
    alert_hits: tuple[Hit, ...] = field(default=())
    """Every hit of every tag's match (the JSON payload keeps the exact spans)."""

    @property
    def is_update(self) -> bool:
        return self.variant == "update"

    @property
    def header(self) -> Tag | None:
        return self.tags[0] if self.tags else None


def _term(hit: Hit, labels: Mapping[str, str]) -> str:
    label = labels.get(hit.concept)
    if label:
        return _SQUASH.sub(" ", label).strip()
    text = _SQUASH.sub(" ", hit.text).strip()
    if not text or len(text) > TERM_MAX:
        return hit.concept.replace("-", " ")
    return text


def explain_hits(
    hits: Iterable[Hit], labels: Mapping[str, str] | None = None
) -> tuple[Reason, ...]:
    """Per field (headline first), the concepts found, each by its reader-facing label (``labels``:
    concept id -> label, the rule files' ``label:`` in the subscription's language), else by the
    text it matched there: no offsets, no stems. A concept found in several fields is named in
    the first only."""
    labels = labels or {}
    seen: set[str] = set()
    by_field: dict[str, dict[str, str]] = {}
    ordered = sorted(
        hits,
        key=lambda h: (FIELD_ORDER.index(h.field) if h.field in FIELD_ORDER else 9, h.start),
    )
    semantic: list[Reason] = []
    for hit in ordered:
        if hit.semantic:
            if not semantic:
                cut = None if hit.threshold is None else hit.threshold / 100
                semantic.append(Reason("semantic", (hit.variant,), hit.similarity / 100, cut))
            continue
        if hit.concept in seen:
            continue
        seen.add(hit.concept)
        terms = by_field.setdefault(hit.field, {})
        term = _term(hit, labels)
        terms.setdefault(term.casefold(), term)
    return (*(Reason(f, tuple(t.values())) for f, t in by_field.items() if t), *semantic)


def _outlet_labels(story: StoryRecord | None) -> dict[EntryKey, str]:
    """Each member's outlet as a reader knows it: its masthead (the feed's name) when only that
    outlet carries it in the story, else the outlet itself (an aggregator's feed names one
    masthead for many outlets)."""
    if story is None:
        return {}
    outlets_of: dict[str, set[str]] = {}
    for m in story.members:
        if m.masthead:
            outlets_of.setdefault(m.masthead, set()).add(m.outlet)
    label: dict[str, str] = {}
    for m in story.members:  # one label per outlet: its first member's
        label.setdefault(
            m.outlet, m.masthead if m.masthead and len(outlets_of[m.masthead]) == 1 else m.outlet
        )
    return {(m.feed_url, m.entry_id): label[m.outlet] for m in story.members}


def build_story_alert(
    decision: Decision,
    subscription: SubscriptionSettings,
    now: datetime,
    *,
    story: StoryRecord | None = None,
    sources: Mapping[str, str] | None = None,
    rule_titles: Mapping[str, str] | None = None,
    breaking: Spike | None = None,
    named_before: Collection[str] = (),
    thread_subject: str | None = None,
    concept_labels: Mapping[str, str] | None = None,
) -> StoryAlert:
    """The message model of an alert, re-alert or update decision.

    ``story``: the whole story (None: the entry is its own story); ``named_before``: outlets an
    earlier message of the story named (an update lists only the new ones as new);
    ``concept_labels``: concept id -> what readers see (else the matched text).
    """
    if decision.outcome is Outcome.SILENT:
        raise ValueError(f"story {decision.story_id}: a silent decision has no message")
    sources = sources or {}
    titles = rule_titles or {}
    lead = decision.lead
    item = make_item(lead.entry, lead.best, sources=sources, rule_titles=titles)
    labels = _outlet_labels(story)

    def outlet(w: Wanted | EntryKey) -> str:
        k = w.key if isinstance(w, Wanted) else w
        return labels.get(k) or source_label(k[0], sources)

    if story is not None:
        outlets = tuple(dict.fromkeys(outlet((m.feed_url, m.entry_id)) for m in story.members))
    else:
        outlets = (outlet(lead),)
    own = outlet(lead)
    outlets = (own, *(o for o in outlets if o != own))
    tags = tuple(
        Tag(
            m.rule_id,
            _SQUASH.sub(" ", titles.get(m.rule_id, m.rule_id)).strip(),
            m.score,
            m.priority,
        )
        for m in lead.matches
    )
    hits = tuple(h for m in lead.matches for h in m.hits)
    updates: tuple[Item, ...] = ()
    new_outlets: tuple[str, ...] = ()
    if decision.outcome is Outcome.UPDATE:
        updates = tuple(
            make_item(w.entry, w.best, sources=sources, rule_titles=titles)
            for w in decision.entries
        )
        before = set(named_before)
        # Every outlet of the story not named before: also those whose entries waited out the
        # update interval (or matched no rule), they belong to the story all the same.
        reporting = [outlet(w) for w in decision.entries]
        if story is not None:
            reporting += [outlet((m.feed_url, m.entry_id)) for m in story.members]
        new_outlets = tuple(o for o in dict.fromkeys(reporting) if o not in before)
    return StoryAlert(
        subscription=subscription.name,
        language=subscription.language,
        timezone=subscription.timezone,
        template=subscription.template,
        now=now,
        item=item,
        story_id=decision.story_id,
        variant=decision.outcome.value,
        tags=tags,
        reasons=explain_hits(hits, concept_labels),
        outlets=outlets,
        also=outlets[1:],
        members=len(story.members) if story is not None else 1,
        languages=story.languages if story is not None else (),
        breaking=breaking,
        updates=updates,
        new_outlets=new_outlets,
        thread_key=decision.thread_key,
        thread_subject=thread_subject if decision.outcome is Outcome.UPDATE else None,
        alert_hits=hits,
    )


def single_alert(alert: Alert) -> StoryAlert:
    """An old one-match ``digest.Alert`` as a story alert of its own (for callers that build
    alerts of single matches, like the template previews and tests)."""
    item = alert.item
    return StoryAlert(
        subscription=alert.subscription,
        language=alert.language,
        timezone=alert.timezone,
        template=alert.template,
        now=alert.now,
        item=item,
        story_id=own_story_id(item.entry.feed_url, item.entry.id),
        tags=(Tag(item.rule_id, item.rule_title, item.score, item.match.priority),),
        reasons=explain_hits(item.hits),
        outlets=(item.source,),
        alert_hits=item.hits,
    )
