"""Alerts per story: the pure decisions (table), the reader-facing message, and end to end on
both backends with the real store, a real SMTP server and a real HTTP endpoint as Slack.

One story alerts once per subscription; later entries stay silent or become updates threaded
under the first alert (rate limited); a rule of higher priority re-alerts once.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app.stories import story_key
from monitor.config.channels import SubscriptionSettings
from monitor.config.settings import Settings
from monitor.delivery.alerts import (
    Outcome,
    StoryLog,
    Wanted,
    build_story_alert,
    decide,
    explain_hits,
    own_story_id,
    story_log,
)
from monitor.delivery.deliver import Deliverer
from monitor.delivery.outbox import story_alert_key, story_alert_prefix, story_update_key
from monitor.delivery.render import Renderer
from monitor.delivery.spike import spike
from monitor.model import (
    Delivery,
    DeliveryKind,
    Entry,
    FeedState,
    Hit,
    Match,
    Priority,
    StoryAssignment,
    StoryMember,
    StoryRecord,
)
from monitor.store.sql import SQLStorage
from tests.fixtures.http_sink import HttpSink
from tests.fixtures.smtp_server import SmtpServer

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TITLES = {"seltene-erden": "Seltene Erden", "export": "Exportkontrollen", "lithium": "Lithium"}


def sub(**kw: Any) -> SubscriptionSettings:
    base: dict[str, Any] = {"name": "eil", "channel": "c", "mode": "alert", "language": "de"}
    return SubscriptionSettings.model_validate(base | kw)


def entry(eid: str, feed: str = "https://a.example/feed", minutes: float = 0, **kw: Any) -> Entry:
    title = kw.pop("title", f"China beschränkt Exporte Seltener Erden ({eid})")
    return Entry(
        feed,
        eid,
        title,
        kw.pop("link", f"https://{feed.split('/')[2]}/{eid}"),
        kw.pop("summary", "Peking kündigt Exportkontrollen für Seltene Erden an."),
        "",
        NOW - timedelta(minutes=30 - minutes),
    )


def hit_in(e: Entry, concept: str, text: str, field: str = "title") -> Hit:
    at = e.text(field).index(text)
    return Hit(concept, text[:-2] if len(text) > 4 else text, field, at, at + len(text), text)


def match(rule: str, score: int = 80, prio: Priority = Priority.ALERT, *hits: Hit) -> Match:
    return Match(rule, score, prio, hits)


def wanted(e: Entry, *matches: Match) -> Wanted:
    return Wanted(e, tuple(matches or (match("seltene-erden"),)))


# --- the decision, as a table -----------------------------------------------------------------


def test_one_story_alerts_once_with_the_earliest_entry_and_covers_the_rest() -> None:
    a, b, c = entry("a", minutes=1), entry("b", "https://b.example/f", 2), entry("c", minutes=0)
    ids = {w.key: "S" for w in (wanted(a), wanted(b), wanted(c))}
    got = decide(sub(), [wanted(a), wanted(b), wanted(c)], ids, {}, set(), NOW)
    assert [d.outcome for d in got] == [Outcome.ALERT]
    assert [w.entry.id for w in got[0].entries] == ["c", "a", "b"]  # earliest first
    assert got[0].key == story_alert_key("eil", "S", Priority.ALERT)


def test_entries_without_a_story_are_their_own_story_under_the_id_a_story_would_get() -> None:
    a, b = entry("a"), entry("b")
    got = decide(sub(), [wanted(a), wanted(b)], {}, {}, set(), NOW)
    assert [d.outcome for d in got] == [Outcome.ALERT, Outcome.ALERT]
    assert {d.story_id for d in got} == {
        own_story_id(a.feed_url, "a"),
        own_story_id(b.feed_url, "b"),
    }
    assert own_story_id(a.feed_url, "a") == story_key(a.feed_url, "a")


LATER = entry("later", "https://c.example/f", 20)
ROOT = "alert-eil-sX-alert"


@pytest.mark.parametrize(
    ("settings", "log", "outcome", "why"),
    [
        (
            {},
            StoryLog(Priority.ALERT, ROOT, 1, 0, NOW - timedelta(hours=5)),
            Outcome.SILENT,
            "updates: none",
        ),
        (
            {"updates": "thread"},
            StoryLog(Priority.ALERT, ROOT, 1, 0, NOW - timedelta(hours=2)),
            Outcome.UPDATE,
            "new entr",
        ),
        (
            {"updates": "thread"},
            StoryLog(Priority.ALERT, ROOT, 1, 0, NOW - timedelta(minutes=20)),
            Outcome.SILENT,
            "update_interval",
        ),
        (
            {"updates": "thread", "update_interval": "10m"},
            StoryLog(Priority.ALERT, ROOT, 1, 1, NOW - timedelta(minutes=20)),
            Outcome.UPDATE,
            "new entr",
        ),
        (
            {"updates": "thread", "max_updates": 2},
            StoryLog(Priority.ALERT, ROOT, 1, 2, NOW - timedelta(hours=9)),
            Outcome.SILENT,
            "max_updates",
        ),
        (
            {"updates": "thread", "max_updates": 0},
            StoryLog(Priority.ALERT, ROOT, 1, 0, NOW - timedelta(hours=9)),
            Outcome.SILENT,
            "max_updates",
        ),
    ],
    ids=["silent by default", "update", "rate limited", "interval passed", "cap reached", "cap 0"],
)
def test_a_later_entry_of_an_alerted_story(
    settings: dict[str, Any], log: StoryLog, outcome: Outcome, why: str
) -> None:
    w = wanted(LATER)
    got = decide(sub(**settings), [w], {w.key: "X"}, {"X": log}, set(), NOW)
    assert [d.outcome for d in got] == [outcome]
    assert why in got[0].reason
    if outcome is Outcome.UPDATE:
        assert got[0].thread_key == ROOT
        assert got[0].key == story_update_key("eil", "X", LATER.feed_url, "later")


def test_a_story_realerts_once_when_it_newly_matches_a_rule_of_higher_priority() -> None:
    s = sub(rules=["lithium", "seltene-erden"])
    low = wanted(entry("l"), match("lithium", 90, Priority.DIGEST))
    got = decide(s, [low], {low.key: "X"}, {}, set(), NOW)
    assert got[0].outcome is Outcome.ALERT and got[0].tier is Priority.DIGEST
    alerted = StoryLog(Priority.DIGEST, "k", 1, 0, NOW - timedelta(hours=1))
    again = wanted(entry("l2"), match("lithium", 95, Priority.DIGEST))
    assert (
        decide(s, [again], {again.key: "X"}, {"X": alerted}, set(), NOW)[0].outcome
        is Outcome.SILENT
    )
    high = wanted(entry("h"), match("seltene-erden", 70, Priority.ALERT))
    got = decide(s, [again, high], {again.key: "X", high.key: "X"}, {"X": alerted}, set(), NOW)
    assert [d.outcome for d in got] == [Outcome.REALERT]
    assert got[0].lead.entry.id == "h" and got[0].key == story_alert_key("eil", "X", Priority.ALERT)
    top = StoryLog(Priority.ALERT, "k", 1, 0, NOW)
    assert decide(s, [high], {high.key: "X"}, {"X": top}, set(), NOW)[0].outcome is Outcome.SILENT


def test_entries_an_alert_of_the_subscription_holds_stay_silent() -> None:
    w = wanted(entry("a"))
    got = decide(sub(updates="thread"), [w], {w.key: "X"}, {}, {w.key}, NOW)
    assert [(d.outcome, d.reason) for d in got] == [
        (Outcome.SILENT, "already reported to this subscription")
    ]


def test_story_log_reads_the_keys_of_the_story_only() -> None:
    def d(key: str, minutes: int, did: int) -> Delivery:
        created = NOW - timedelta(minutes=minutes)
        return Delivery(
            id=did,
            kind=DeliveryKind.ALERT,
            subscription="eil",
            channel="c",
            key=key,
            created=created,
        )

    p = story_alert_prefix("eil", "X")
    rows = [
        d(p + "digest", 90, 1),
        d(p + "alert", 60, 2),
        d(p + "u0123", 30, 3),
        d(story_alert_prefix("eil", "Y") + "alert", 1, 4),
    ]
    log = story_log("eil", "X", rows)
    assert log == StoryLog(Priority.ALERT, p + "digest", 1, 1, NOW - timedelta(minutes=30))
    assert story_log("eil", "Z", rows) == StoryLog()


def test_updates_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="updates"):
        sub(updates="sometimes")
    with pytest.raises(ValueError, match="only for alert subscriptions"):
        SubscriptionSettings.model_validate(
            {
                "name": "d",
                "channel": "c",
                "mode": "digest",
                "schedule": "0 7 * * *",
                "updates": "thread",
            }
        )
    with pytest.raises(ValueError, match="duration"):
        sub(update_interval="-1h")
    assert sub().updates == "none" and sub().update_interval == timedelta(hours=1)
    assert sub(update_interval="0s").update_interval == timedelta(0)


# --- what the reader sees ---------------------------------------------------------------------


def story_of(*entries: Entry, outlets: Sequence[str]) -> StoryRecord:
    members = tuple(
        StoryMember(e.feed_url, e.id, e.title, e.link, e.published, "de", o)
        for e, o in zip(entries, outlets, strict=True)
    )
    return StoryRecord("S", members[0].published, members[-1].published, members)


def rich_alert(lang: str, outlets: int = 8, **kw: Any) -> Any:
    e = entry("a")
    hits = (
        hit_in(e, "seltene-erden", "Seltener Erden"),
        hit_in(e, "export", "Exporte"),
        hit_in(e, "seltene-erden", "Seltene Erden", "summary"),
        hit_in(e, "export", "Exportkontrollen", "summary"),
    )
    w = Wanted(
        e,
        (
            match("seltene-erden", 90, Priority.ALERT, *hits),
            match("export", 70, Priority.ALERT, hits[1]),
        ),
    )
    others = [entry(f"o{i}", f"https://o{i}.example/f", i) for i in range(outlets - 1)]
    story = story_of(e, *others, outlets=["Reuters", *(f"Outlet {i}" for i in range(outlets - 1))])
    decision = decide(sub(language=lang), [w], {w.key: "S"}, {}, set(), NOW)[0]
    members = [(m.outlet, m.published) for m in story.members]
    return build_story_alert(
        decision,
        sub(language=lang),
        NOW,
        story=story,
        rule_titles=TITLES,
        breaking=spike(members, [1, 2, 1, 2, 1], NOW, rule_id="seltene-erden"),
        **kw,
    )


OFFSETS = re.compile(r"\[\d+\s*[–-]\s*\d+\]")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_readers_see_concepts_and_where_not_offsets_or_stems(lang: str) -> None:
    msg = Renderer().render_alert(rich_alert(lang))
    slack = json.dumps(msg.slack_payloads, ensure_ascii=False)
    for text in (msg.text, msg.html, slack):
        assert not OFFSETS.search(text), text
        assert "„Seltener Er“" not in text and "Variante" not in text and "variant" not in text
    where = "in der Überschrift" if lang == "de" else "in the headline"
    assert f"Exporte, Seltener Erden {where}" in msg.text  # each concept once, where first found
    assert "*Exportkontrollen* für *Seltene Erden*" in msg.text  # the snippet highlights
    # Every matched rule is a tag; the header is the best rule.
    assert msg.subject.endswith("Seltene Erden: China beschränkt Exporte Seltener Erden (a)")
    assert "Seltene Erden · Exportkontrollen" in msg.text
    # The exact spans stay in the JSON payload.
    spans = {(h["field"], h["start"], h["end"]) for h in msg.data["hits"]}
    assert ("title", 25, 39) in spans  # "Seltener Erden"
    assert msg.data["reasons"] == [{"field": "title", "terms": ["Exporte", "Seltener Erden"]}]


def test_outlets_breaking_and_plural_in_german() -> None:
    msg = Renderer().render_alert(rich_alert("de"))
    assert (
        "Auch gemeldet von Outlet 0, Outlet 1, Outlet 2, Outlet 3, Outlet 4 und 2 weiteren Medien"
        in msg.text
    )
    assert (
        "EILMELDUNG: 8 Medien in 2 Std.; sonst erreicht eine Meldung dieser Regel im Schnitt 1,4"
        in msg.text
    )
    assert "8 Meldungen aus 8 Medien" in msg.text
    assert msg.subject.startswith("[Rohstoff-Alarm · Eilmeldung]")
    # CSS inlined: the badge carries its own style and never wraps inside (390 px phones).
    badge = re.search(r'<span class="breaking" style="([^"]*)">Eilmeldung</span>', msg.html)
    assert badge is not None and "white-space: nowrap" in badge.group(1)
    assert (
        msg.data["breaking"]["explanation"]
        == "8 outlets in 2 h; this rule's usual story reaches 1.4"
    )
    one = Renderer().render_alert(rich_alert("de", outlets=7))
    assert "und 1 weiteren Medium" in one.text
    en = Renderer().render_alert(rich_alert("en", outlets=7))
    assert "and 1 other outlet\n" in en.text
    assert "Breaking" in en.slack_payloads[0]["blocks"][0]["text"]["text"]


def test_an_update_names_the_new_outlets_answers_the_first_subject_and_threads() -> None:
    first, later = entry("a"), entry("b", "https://b.example/f", 25)
    waited = entry("w", "https://w.example/f", 10)  # held back by update_interval, long ago
    story = story_of(first, waited, later, outlets=["Reuters", "AFP", "dpa"])
    w = wanted(later)
    log = StoryLog(Priority.ALERT, "alert-eil-sS-alert", 1, 0, NOW - timedelta(hours=2))
    decision = decide(sub(updates="thread"), [w], {w.key: "S"}, {"S": log}, set(), NOW)[0]
    alert = build_story_alert(
        decision,
        sub(updates="thread"),
        NOW,
        story=story,
        rule_titles=TITLES,
        named_before={"Reuters"},
        thread_subject="[Rohstoff-Alarm] Seltene Erden: China …",
    )
    msg = Renderer().render_alert(alert)
    assert msg.subject == "Re: [Rohstoff-Alarm] Seltene Erden: China …"
    assert msg.thread_key == "alert-eil-sS-alert"
    assert "Neue Meldung zu diesem Thema" in msg.text
    assert "Jetzt auch gemeldet von dpa, AFP" in msg.text  # its own first, then the story's
    assert msg.data["variant"] == "update" and msg.data["new_outlets"] == ["dpa", "AFP"]
    assert [u["entry_id"] for u in msg.data["updates"]] == ["b"]
    assert "NACHTRAG" in msg.text


def test_explain_hits_names_a_concept_once_in_its_first_field() -> None:
    e = entry("a")
    hits = [
        hit_in(e, "export", "Exportkontrollen", "summary"),
        hit_in(e, "seltene-erden", "Seltener Erden"),
        hit_in(e, "seltene-erden", "Seltene Erden", "summary"),
    ]
    got = explain_hits(hits)
    assert [(r.field, r.terms) for r in got] == [
        ("title", ("Seltener Erden",)),
        ("summary", ("Exportkontrollen",)),
    ]
    # The rule files' concept labels win over the matched text where they exist.
    labelled = explain_hits(hits, {"seltene-erden": "Seltene Erden"})
    assert [r.terms for r in labelled] == [("Seltene Erden",), ("Exportkontrollen",)]


# --- end to end: store, outbox, real channels (SQLite and PostgreSQL) --------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def poll(
    storage: SQLStorage,
    clock: Clock,
    feed: str,
    items: Sequence[tuple[str, str, str]],
    *,
    rule: str = "seltene-erden",
    prio: Priority = Priority.ALERT,
) -> None:
    """Store (entry id, story id, outlet) entries of ``feed`` matched by ``rule`` now."""
    entries, matches, stories = [], {}, []
    for eid, sid, outlet in items:
        e = Entry(
            feed,
            eid,
            f"Seltene Erden: Meldung {eid}",
            f"https://{outlet}/{eid}",
            "Exportkontrollen für Seltene Erden.",
            "",
            clock(),
        )
        entries.append(e)
        matches[eid] = [match(rule, 80, prio, hit_in(e, "seltene-erden", "Seltene Erden"))]
        if sid:
            stories.append(
                StoryAssignment(feed, eid, sid, e.published, "de", outlet, new=sid == eid)
            )
    storage.record_poll(FeedState(feed), entries, matches, clock(), stories=stories)


def settings(channels: dict[str, Any], subscriptions: list[dict[str, Any]]) -> Settings:
    return Settings.model_validate({"channels": channels, "subscriptions": subscriptions})


def test_email_one_alert_per_story_then_threaded_updates_rate_limited(
    storage: SQLStorage, smtp_server: SmtpServer
) -> None:
    clock = Clock(NOW)
    mail = {
        "type": "email", "host": smtp_server.host, "port": smtp_server.port, "security": "none",
        "from": "monitor@example.org", "to": ["analyst@example.org"], "timeout": 5,
    }  # fmt: skip
    cfg = settings(
        {"mail": mail},
        [{"name": "eil", "channel": "mail", "mode": "alert", "updates": "thread",
          "update_interval": "30m", "max_updates": 2}],
    )  # fmt: skip
    d = Deliverer(cfg, storage, clock=clock, rule_titles=lambda: TITLES, rng=random.Random(1))
    clock.now += timedelta(minutes=1)
    # One story from three feeds and outlets, and one entry without a story.
    poll(
        storage,
        clock,
        "https://a.example/f",
        [("a1", "a1", "reuters.com"), ("solo", "", "a.example")],
    )
    poll(storage, clock, "https://b.example/f", [("b1", "a1", "dpa.de")])
    poll(storage, clock, "https://c.example/f", [("c1", "a1", "ft.com")])
    report, _ = d.run(digests=False)
    assert len(report.sent) == 2  # the story once, the solo entry once
    first = smtp_server.messages()
    story_mail = next(
        m
        for m in first
        if "Meldung a1" in m["Subject"]
        or "Meldung b1" in m["Subject"]
        or "Meldung c1" in m["Subject"]
    )
    body = story_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Auch gemeldet von" in body
    assert d.run(digests=False)[0].sent == []  # nothing again

    clock.now += timedelta(minutes=10)
    poll(storage, clock, "https://d.example/f", [("d1", "a1", "handelsblatt.com")])
    assert d.run(digests=False)[0].sent == []  # within update_interval: silent for now
    clock.now += timedelta(minutes=25)
    poll(storage, clock, "https://e.example/f", [("e1", "a1", "faz.net")])
    report, _ = d.run(digests=False)
    assert len(report.sent) == 1
    update = smtp_server.messages()[-1]
    assert update["In-Reply-To"] == story_mail["Message-ID"] == update["References"]
    assert update["Subject"] == "Re: " + story_mail["Subject"]
    text = update.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # The entry held back by the interval comes along with the next update.
    assert "Meldung d1" in text and "Meldung e1" in text
    assert "Jetzt auch gemeldet von handelsblatt.com, faz.net" in text

    clock.now += timedelta(hours=1)
    poll(storage, clock, "https://f.example/f", [("f1", "a1", "welt.de")])
    assert len(d.run(digests=False)[0].sent) == 1  # the second and last update
    clock.now += timedelta(hours=1)
    poll(storage, clock, "https://g.example/f", [("g1", "a1", "zeit.de")])
    assert d.run(digests=False)[0].sent == []  # max_updates: 2
    ids = [m["Message-ID"] for m in smtp_server.messages()]
    assert len(ids) == len(set(ids)) == 4


def test_slack_webhook_gets_one_post_per_story_and_compact_follow_ups(
    storage: SQLStorage, http_sink: HttpSink
) -> None:
    clock = Clock(NOW)
    cfg = settings(
        {"slack": {"type": "slack", "webhook_url": f"{http_sink.url}/hook"}},
        [{"name": "eil", "channel": "slack", "mode": "alert", "language": "en", "updates": "thread",
          "update_interval": "0s"}],
    )  # fmt: skip
    d = Deliverer(cfg, storage, clock=clock, rule_titles=lambda: TITLES, rng=random.Random(1))
    clock.now += timedelta(minutes=1)
    # Four items of one story, as four rules' worth of feeds would bring them.
    for n, outlet in enumerate(["reuters.com", "dpa.de", "ft.com", "bloomberg.com"]):
        poll(storage, clock, f"https://{n}.example/f", [(f"x{n}", "x0", outlet)])
    d.run(digests=False)
    posts = [r.json() for r in http_sink.accepted()]
    assert len(posts) == 1
    text = json.dumps(posts[0], ensure_ascii=False)
    assert "Also reported by dpa.de, ft.com, bloomberg.com" in text
    assert "thread_ts" not in text  # a webhook returns no ts: nothing to thread under
    clock.now += timedelta(minutes=5)
    poll(storage, clock, "https://9.example/f", [("x9", "x0", "nikkei.com")])
    d.run(digests=False)
    posts = [r.json() for r in http_sink.accepted()]
    assert len(posts) == 2
    follow = json.dumps(posts[1], ensure_ascii=False)
    assert "Now also reported by nikkei.com" in follow and "Update" in follow
    assert len(posts[1]["blocks"]) <= 2  # compact: a header and one section


def test_a_story_alerted_before_stories_existed_does_not_alert_again(
    storage: SQLStorage, tmp_path: Path
) -> None:
    """An outbox from before story alerts: the entry's alert (old key) holds it."""
    clock = Clock(NOW)
    cfg = settings(
        {"files": {"type": "file", "path": str(tmp_path / "out"), "formats": ["data"]}},
        [{"name": "eil", "channel": "files", "mode": "alert"}],
    )
    d = Deliverer(cfg, storage, clock=clock, rule_titles=lambda: TITLES)
    clock.now += timedelta(minutes=1)
    poll(storage, clock, "https://a.example/f", [("a1", "a1", "reuters.com")])
    storage.add_delivery(
        Delivery(id=None, kind=DeliveryKind.ALERT, subscription="eil", channel="files",
                 key="alert-eil-0123456789abcdef", created=clock()),
        '{"kind": "alert"}',
        [("https://a.example/f", "a1", "seltene-erden")],
    )  # fmt: skip
    assert d.enqueue_alerts() == []


def test_store_reads_for_story_alerts(storage: SQLStorage) -> None:
    clock = Clock(NOW)
    poll(
        storage,
        clock,
        "https://a.example/f",
        [("a1", "a1", "reuters.com"), ("a2", "a2", "reuters.com")],
    )
    poll(storage, clock, "https://b.example/f", [("b1", "a1", "dpa.de"), ("b2", "a1", "dpa.de")])
    poll(storage, clock, "https://c.example/f", [("c1", "c1", "ft.com")], rule="lithium")
    got = storage.rule_story_outlets(
        ["seltene-erden", "lithium", "none"], since=NOW - timedelta(days=1)
    )
    assert got == {"seltene-erden": {"a1": 2, "a2": 1}, "lithium": {"c1": 1}, "none": {}}
    assert storage.rule_story_outlets(["seltene-erden"], since=NOW + timedelta(days=1)) == {
        "seltene-erden": {}
    }

    def add(sub_name: str, key: str) -> None:
        storage.add_delivery(
            Delivery(
                id=None,
                kind=DeliveryKind.ALERT,
                subscription=sub_name,
                channel="c",
                key=key,
                created=NOW,
            ),
            "{}",
            [],
        )

    p = story_alert_prefix("e_1", "a1")
    add("e_1", p + "alert")
    add("e_1", p + "u1")
    add("e_1", story_alert_prefix("e_1", "zz") + "alert")
    add("eX1", p.replace("e_1", "eX1") + "alert")  # "_" is no wildcard
    add("other", "alert-other-s" + "0" * 16 + "-alert")
    found = storage.deliveries_with_prefix("e_1", [p, "alert-e_1-nothing"])
    assert [x.key for x in found] == [p + "alert", p + "u1"]
    assert storage.deliveries_with_prefix("e_1", []) == []


@pytest.mark.parametrize("lang", ["de", "en"])
def test_user_templates_from_before_story_alerts_keep_working(lang: str, tmp_path: Path) -> None:
    """A user folder with the pre-story alert.txt.j2 and a _labels.j2 without the alert labels
    (copies of the shipped files of that time): both still render a story alert."""
    user = tmp_path / "templates" / "default" / lang
    user.mkdir(parents=True)
    labels = (
        '{% set t = {"score": "S", "alerted": "A", "variant": "V", "found_in": "in", '
        '"fields": {"title": "T", "summary": "Z", "content": "X"}, "similarity": "%", '
        '"more_hits": "+{}", "q_open": "<<", "q_close": ">>"} %}\n'
    )
    (user / "_labels.j2").write_text(labels, encoding="utf-8")
    msg = Renderer(tmp_path / "templates").render_alert(rich_alert(lang))
    assert "Outlet 0" in msg.text and "<<eil>>" in msg.text  # shipped at, the user's t
    (user / "alert.txt.j2").write_text(
        f'{{% import "default/_macros.txt.j2" as ui with context %}}\n'
        f'{{% from "default/{lang}/_labels.j2" import t %}}\n'
        "{% set subject %}[Alarm] {{ item.rule_title }}: {{ item.title.text }}{% endset %}\n"
        "ALARM {{ alert.subscription }} {{ alert.now|datetime('short') }}\n"
        "{{ ui.entry(item, t) }}\n",
        encoding="utf-8",
    )
    old = Renderer(tmp_path / "templates").render_alert(rich_alert(lang))
    assert old.subject.startswith("[Alarm] Seltene Erden: China")
    assert old.text.startswith("ALARM eil") and "Exporte" in old.text


def test_a_story_realerts_once_for_a_rule_of_higher_priority_end_to_end(
    storage: SQLStorage, tmp_path: Path
) -> None:
    clock = Clock(NOW)
    out = tmp_path / "out"
    cfg = settings(
        {"files": {"type": "file", "path": str(out), "formats": ["data"]}},
        [{"name": "eil", "channel": "files", "mode": "alert", "language": "en",
          "rules": ["lithium", "seltene-erden"]}],
    )  # fmt: skip
    d = Deliverer(cfg, storage, clock=clock, rule_titles=lambda: TITLES)
    clock.now += timedelta(minutes=1)
    poll(storage, clock, "https://a.example/f", [("l1", "l1", "a.example")], rule="lithium",
         prio=Priority.DIGEST)  # fmt: skip
    assert len(d.run(digests=False)[0].sent) == 1
    clock.now += timedelta(minutes=5)
    poll(storage, clock, "https://b.example/f", [("l2", "l1", "b.example")], rule="lithium",
         prio=Priority.DIGEST)  # fmt: skip
    assert d.run(digests=False)[0].sent == []  # same story, same priority: silent
    clock.now += timedelta(minutes=5)
    poll(storage, clock, "https://c.example/f", [("s1", "l1", "c.example")])
    poll(storage, clock, "https://e.example/f", [("s2", "l1", "e.example")])
    assert len(d.run(digests=False)[0].sent) == 1  # newly a priority: alert rule: once more
    clock.now += timedelta(minutes=5)
    poll(storage, clock, "https://f.example/f", [("s3", "l1", "f.example")])
    assert d.run(digests=False)[0].sent == []
    sent = sorted(json.loads(p.read_text("utf-8"))["variant"] for p in out.glob("*.json"))
    assert sent == ["alert", "realert"]
    keys = sorted(p.name for p in out.glob("*.json"))
    assert [k.rsplit("-", 1)[-1] for k in keys] == ["alert.json", "digest.json"]
