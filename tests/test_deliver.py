"""Delivery end to end in one process: stored matches -> outbox -> real SMTP and HTTP servers.

Time is a settable clock; the servers, the store (SQLite and PostgreSQL) and the channels are
real. Each fault is checked by what arrived: every message exactly once, in order, complete.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app.service import Service
from monitor.config.settings import Settings
from monitor.delivery.deliver import SCAN_OVERLAP, Deliverer, decode_message
from monitor.errors import ConfigError
from monitor.model import DeliveryKind, DeliveryState, Entry, FeedState, Hit, Match, Priority
from monitor.store.sql import SQLStorage
from tests.fixtures.http_sink import HttpSink, Reply
from tests.fixtures.smtp_server import SmtpServer, start

FEED = "https://example.org/rohstoffe.xml"
T0 = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)  # a Monday, 06:30 in Berlin
TITLES = {"gallium": "Gallium", "lithium": "Lithium", "kobalt": "Kobalt"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def settings(channels: dict[str, Any], subscriptions: list[dict[str, Any]]) -> Settings:
    return Settings.model_validate({"channels": channels, "subscriptions": subscriptions})


def email_channel(smtp: SmtpServer, **kw: Any) -> dict[str, Any]:
    return {
        "type": "email",
        "host": smtp.host,
        "port": smtp.port,
        "security": "none",
        "from": "monitor@example.org",
        "to": ["analyst@example.org"],
        "timeout": 5,
        **kw,
    }


def deliverer(cfg: Settings, storage: SQLStorage, clock: Clock) -> Deliverer:
    return Deliverer(cfg, storage, clock=clock, rule_titles=lambda: TITLES, rng=random.Random(3))


def record(
    storage: SQLStorage,
    clock: Clock,
    *items: tuple[str, str, int, Priority],
    published: datetime | None = None,
    at: datetime | None = None,
) -> None:
    """Store entries (id, rule, score, priority) as one poll at ``at`` (default: now)."""
    entries, matches = [], {}
    for entry_id, rule, score, priority in items:
        title = f"{rule.title()}: Meldung {entry_id}"
        summary = f"Neue Nachricht über {rule} ({entry_id})."
        entries.append(
            Entry(
                FEED,
                entry_id,
                title,
                f"https://example.org/{entry_id}",
                summary,
                "",
                published or clock(),
            )
        )
        at_ = summary.index(rule)
        hit = Hit(rule, rule, "summary", at_, at_ + len(rule), rule)
        matches[entry_id] = [Match(rule, score, priority, (hit,))]
    storage.record_poll(FeedState(FEED), entries, matches, at or clock())


def digest_titles(message: Any) -> list[str]:
    return sorted(i["title"] for g in message["groups"] for i in g["items"])


# --- faults -------------------------------------------------------------------------------------


def test_smtp_refuses_then_accepts_the_digest_arrives_once(
    storage: SQLStorage, smtp_server: SmtpServer, clock: Clock
) -> None:
    cfg = settings(
        {"mail": email_channel(smtp_server)},
        [{"name": "morgen", "channel": "mail", "mode": "digest", "schedule": "0 7 * * *"}],
    )
    d = deliverer(cfg, storage, clock)
    clock.advance(minutes=5)
    record(storage, clock, ("a", "lithium", 80, Priority.DIGEST))
    smtp_server.refuse(1)  # 451 at DATA
    clock.advance(minutes=5)
    report, outcomes = d.run()
    assert outcomes[0].delivery is not None and outcomes[0].items == 1
    assert not report.sent and len(report.retrying) == 1 and smtp_server.messages() == []
    retry = report.retrying[0]
    assert "451" in (retry.last_error or "") and "channel mail" in (retry.last_error or "")

    d.send_due()  # not due yet: backoff
    assert smtp_server.messages() == []
    clock.advance(minutes=2)
    again = d.send_due()
    assert [x.key for x in again.sent] == [retry.key]
    assert d.send_due().sent == [] and d.run()[0].sent == []
    [mail] = smtp_server.messages()
    assert "Lithium: Meldung a" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert mail["Message-ID"].startswith(f"<{retry.key}@")
    stored = storage.delivery(retry.id or 0)
    assert stored and stored.state is DeliveryState.SENT and stored.attempts == 2


def test_slack_429_then_200_sends_each_part_once_and_in_order_across_a_restart(
    storage: SQLStorage, http_sink: HttpSink, clock: Clock
) -> None:
    cfg = settings(
        {"slack": {"type": "slack", "webhook_url": f"{http_sink.url}/hook"}},
        [
            {
                "name": "morgen",
                "channel": "slack",
                "mode": "digest",
                "schedule": "0 7 * * *",
                "max_stories": 100,
            }
        ],
    )
    d = deliverer(cfg, storage, clock)
    clock.advance(minutes=1)
    record(storage, clock, *((f"e{i:02}", "gallium", 90, Priority.DIGEST) for i in range(60)))
    clock.advance(minutes=1)
    # Part 1 accepted, part 2 rate limited for longer than the channel waits in place.
    http_sink.script(Reply(200), Reply(429, {"Retry-After": "30"}, b"rate_limited"))
    report, _ = d.run()
    [retry] = report.retrying
    assert retry.next_attempt is not None and retry.next_attempt >= clock() + timedelta(seconds=30)
    payloads = decode_message(storage.delivery_message(retry.id or 0)).slack_payloads
    assert len(payloads) >= 2

    # A new process (new deliverer, same store) resumes at part 2.
    clock.advance(seconds=31)
    restarted = deliverer(cfg, storage, clock)
    assert [x.key for x in restarted.send_due().sent] == [retry.key]
    accepted = [r.json() for r in http_sink.accepted()]
    assert accepted == payloads  # every part once, in order
    assert storage.sent_parts(retry.key) == set()  # forgotten once sent


def test_a_digest_spanning_an_smtp_outage_goes_out_once_with_everything(
    storage: SQLStorage, smtp_server: SmtpServer, clock: Clock
) -> None:
    cfg = settings(
        {"mail": email_channel(smtp_server)},
        [{"name": "stunde", "channel": "mail", "mode": "digest", "schedule": "0 * * * *"}],
    )
    d = deliverer(cfg, storage, clock)  # 05:30 UTC
    d.run()  # the first digest at once: nothing stored yet, so nothing sent
    clock.advance(minutes=10)
    record(
        storage, clock, ("a", "lithium", 80, Priority.DIGEST), ("b", "kobalt", 70, Priority.DIGEST)
    )
    smtp_server.stop()  # down from 05:45 to 07:10
    clock.advance(minutes=20)  # 06:00: the digest is made, and cannot go out
    report, outcomes = d.run()
    first = outcomes[0].delivery
    assert first is not None and report.retrying and not report.sent
    clock.advance(minutes=20)
    record(storage, clock, ("c", "gallium", 95, Priority.DIGEST))
    clock.advance(minutes=10)
    assert d.run()[0].retrying  # 06:30: retried, still down
    clock.advance(minutes=30)  # 07:00: the next digest takes over the first one's items
    report, outcomes = d.run()
    second = outcomes[0].delivery
    assert second is not None and report.retrying
    superseded = storage.delivery(first.id or 0)
    assert superseded and superseded.state is DeliveryState.SUPERSEDED

    start(smtp_server, smtp_server.port)  # back at 07:10
    clock.advance(minutes=10)
    report, _ = d.run()
    assert [x.key for x in report.sent] == [second.key]
    [mail] = smtp_server.messages()
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for title in ("Lithium: Meldung a", "Kobalt: Meldung b", "Gallium: Meldung c"):
        assert text.count(title) == 1
    clock.advance(hours=1)
    d.run()
    assert len(smtp_server.messages()) == 1  # nothing twice, and no empty digest


def test_a_daily_digest_retried_through_an_hour_of_outage_keeps_its_content(
    storage: SQLStorage, smtp_server: SmtpServer, clock: Clock
) -> None:
    cfg = settings(
        {"mail": email_channel(smtp_server)},
        [{"name": "morgen", "channel": "mail", "mode": "digest", "schedule": "0 7 * * *"}],
    )
    d = deliverer(cfg, storage, clock)
    d.run()
    clock.advance(minutes=10)
    record(storage, clock, ("a", "lithium", 80, Priority.DIGEST))
    smtp_server.stop()
    clock.now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 07:00 Berlin
    assert d.run()[1][0].delivery is not None
    clock.advance(minutes=15)
    record(storage, clock, ("b", "kobalt", 70, Priority.DIGEST))  # after the slot: next digest
    for _ in range(5):
        clock.advance(minutes=10)
        d.run()
    start(smtp_server, smtp_server.port)
    clock.advance(minutes=10)
    assert len(d.run()[0].sent) == 1
    [mail] = smtp_server.messages()
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Lithium: Meldung a" in text and "Kobalt: Meldung b" not in text
    clock.now = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # next morning: b comes then
    d.run()
    assert "Kobalt: Meldung b" in smtp_server.messages()[1].get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_one_failing_channel_does_not_hold_up_another(
    storage: SQLStorage, smtp_server: SmtpServer, http_sink: HttpSink, clock: Clock
) -> None:
    cfg = settings(
        {
            "slack": {"type": "slack", "webhook_url": f"{http_sink.url}/hook"},
            "mail": email_channel(smtp_server),
        },
        [
            {"name": "a-slack", "channel": "slack", "mode": "alert", "rules": ["gallium"]},
            {"name": "b-mail", "channel": "mail", "mode": "alert", "rules": ["gallium"]},
        ],
    )
    d = deliverer(cfg, storage, clock)
    clock.advance(minutes=1)
    record(storage, clock, *((f"g{i}", "gallium", 90, Priority.ALERT) for i in range(3)))
    http_sink.script(*[Reply(503, {}, b"down")] * 10)
    report, _ = d.run()
    assert len(report.sent) == 3 and {x.channel for x in report.sent} == {"mail"}
    assert len(report.retrying) == 1  # Slack tried once in this run, then left alone
    assert len(http_sink.requests) == 1 and len(smtp_server.messages()) == 3
    pending = storage.deliveries(states=[DeliveryState.PENDING])
    assert len(pending) == 3 and {x.channel for x in pending} == {"slack"}


def test_retrying_ends_in_failed_after_retry_for_and_is_counted(
    storage: SQLStorage, http_sink: HttpSink, clock: Clock, tmp_path: Path
) -> None:
    cfg = settings(
        {"hook": {"type": "webhook", "url": f"{http_sink.url}/in", "retry_for": "10m"}},
        [{"name": "eil", "channel": "hook", "mode": "alert", "rules": ["gallium"]}],
    )
    d = deliverer(cfg, storage, clock)
    clock.advance(minutes=1)
    record(storage, clock, ("g", "gallium", 90, Priority.ALERT))
    http_sink.script(*[Reply(500, {}, b"oops")] * 50)
    for _ in range(12):
        d.run()
        clock.advance(minutes=1)
    [failed] = storage.deliveries(states=[DeliveryState.FAILED])
    assert "gave up after" in (failed.last_error or "") and "channel hook" in (
        failed.last_error or ""
    )
    assert storage.delivery_counts()[DeliveryState.FAILED] == 1
    assert all(r.headers["idempotency-key"] == failed.key for r in http_sink.requests)


def test_a_delivery_whose_channel_was_removed_fails_with_a_hint(
    storage: SQLStorage, tmp_path: Path, clock: Clock
) -> None:
    first = settings(
        {"files": {"type": "file", "path": str(tmp_path / "out")}},
        [{"name": "eil", "channel": "files", "mode": "alert", "rules": ["gallium"]}],
    )
    d = deliverer(first, storage, clock)
    clock.advance(minutes=1)
    record(storage, clock, ("g", "gallium", 90, Priority.ALERT))
    assert len(d.enqueue_alerts()) == 1
    later = settings({}, [])
    report = deliverer(later, storage, clock).send_due()
    [failed] = report.failed
    assert "channel files: is no longer under channels:" in (failed.last_error or "")
    assert "--retry" in (failed.last_error or "")


# --- what becomes an alert and what goes into a digest -----------------------------------------


def test_alerts_are_made_once_for_new_news_of_the_chosen_rules(
    storage: SQLStorage, tmp_path: Path, clock: Clock
) -> None:
    record(storage, clock, ("before", "gallium", 90, Priority.ALERT))  # history: no alert
    clock.advance(minutes=1)
    cfg = settings(
        {"files": {"type": "file", "path": str(tmp_path / "out")}},
        [
            {"name": "prio", "channel": "files", "mode": "alert", "min_score": 60},
            {"name": "named", "channel": "files", "mode": "alert", "rules": ["lithium"]},
        ],
    )
    d = deliverer(cfg, storage, clock)
    clock.advance(minutes=1)
    record(
        storage,
        clock,
        ("g", "gallium", 90, Priority.ALERT),  # prio
        ("weak", "gallium", 50, Priority.ALERT),  # below min_score
        ("l", "lithium", 70, Priority.DIGEST),  # named (a digest rule, but named)
    )
    record(storage, clock, ("old", "gallium", 90, Priority.ALERT), published=T0 - timedelta(days=5))
    made = d.enqueue_alerts()
    got = {(x.subscription, storage.delivery_items(x.id or 0)[0][1]) for x in made}
    assert got == {("prio", "g"), ("named", "l")}
    assert d.enqueue_alerts() == []  # idempotent
    # An edited entry is re-matched (new matched_at): it does not alert again.
    clock.advance(minutes=1)
    record(storage, clock, ("g", "gallium", 95, Priority.ALERT))
    assert d.enqueue_alerts() == []
    report = d.send_due()
    assert len(report.sent) == 2
    files = sorted(p.name for p in (tmp_path / "out").glob("*.json") if "slack" not in p.name)
    assert len(files) == 2 and all(f.startswith("alert-") for f in files)


def test_a_match_committed_late_is_not_lost(
    storage: SQLStorage, tmp_path: Path, clock: Clock
) -> None:
    """A poll stamps matches with its start time and may commit after a scan ran meanwhile."""
    cfg = settings(
        {"files": {"type": "file", "path": str(tmp_path / "out")}},
        [
            {"name": "eil", "channel": "files", "mode": "alert", "rules": ["gallium"]},
            {"name": "tag", "channel": "files", "mode": "digest", "schedule": "0 * * * *"},
        ],
    )
    d = deliverer(cfg, storage, clock)
    d.run()
    clock.advance(minutes=40)  # 06:10
    d.run()
    started = clock() - SCAN_OVERLAP / 2
    record(storage, clock, ("late", "gallium", 90, Priority.ALERT), at=started)
    clock.advance(minutes=55)  # 07:05: the 07:00 digest
    report, outcomes = d.run()
    assert {x.kind for x in report.sent} == {DeliveryKind.ALERT, DeliveryKind.DIGEST}
    digest = outcomes[0].delivery
    assert digest is not None
    assert storage.delivery_items(digest.id or 0) == [(FEED, "late", "gallium")]


def test_digest_marks_or_omits_what_was_alerted(
    storage: SQLStorage, tmp_path: Path, clock: Clock
) -> None:
    out = str(tmp_path / "out")
    cfg = settings(
        {"files": {"type": "file", "path": out}},
        [
            {"name": "eil", "channel": "files", "mode": "alert", "rules": ["gallium"]},
            {"name": "mark", "channel": "files", "mode": "digest", "schedule": "0 7 * * *"},
            {
                "name": "omit",
                "channel": "files",
                "mode": "digest",
                "schedule": "0 7 * * *",
                "alerted": "omit",
                "language": "en",
            },
        ],
    )
    d = deliverer(cfg, storage, clock)
    clock.advance(minutes=1)
    record(
        storage, clock, ("g", "gallium", 90, Priority.ALERT), ("l", "lithium", 60, Priority.DIGEST)
    )
    clock.advance(minutes=1)
    report, outcomes = d.run()
    assert len(report.sent) == 3  # the alert first, then both digests
    assert report.sent[0].kind is DeliveryKind.ALERT
    data = {
        o.subscription: json.loads((tmp_path / "out" / f"{o.delivery.key}.json").read_text("utf-8"))
        for o in outcomes
        if o.delivery
    }
    marked = {i["entry_id"]: s["alerted"] for s in data["mark"]["stories"] for i in s["items"]}
    assert marked == {"g": True, "l": False}
    assert [i["entry_id"] for s in data["omit"]["stories"] for i in s["items"]] == ["l"]
    assert data["omit"]["omitted_alerted"] == 1


def test_send_empty_sends_a_digest_with_nothing_new_but_never_the_first(
    storage: SQLStorage, tmp_path: Path, clock: Clock
) -> None:
    cfg = settings(
        {"files": {"type": "file", "path": str(tmp_path / "out")}},
        [
            {
                "name": "leer",
                "channel": "files",
                "mode": "digest",
                "schedule": "0 7 * * *",
                "send_empty": True,
            }
        ],
    )
    d = deliverer(cfg, storage, clock)
    assert d.run()[0].sent == []  # first run: nothing to say yet
    clock.now = datetime(2026, 3, 2, 6, 0, 30, tzinfo=UTC)
    [sent] = d.run()[0].sent
    assert sent.key == "digest-leer-20260302T0600Z"
    assert d.run()[0].sent == []  # the same slot is not made twice


def test_a_subscription_naming_an_unknown_rule_stops_the_start(tmp_path: Path) -> None:
    cfg = Settings.model_validate(
        {
            "database": f"sqlite:///{tmp_path / 'm.db'}",
            "channels": {"files": {"type": "file", "path": "out"}},
            "subscriptions": [
                {"name": "eil", "channel": "files", "mode": "alert", "rules": ["galium"]}
            ],
        }
    )
    with pytest.raises(ConfigError) as caught:
        Service(cfg)
    message = str(caught.value)
    assert "subscription 'eil' names rule 'galium'" in message
    assert "subscriptions[0].rules" in message and "did you mean 'gallium-germanium'" in message


def test_a_story_spreading_fast_is_breaking_at_the_top_of_the_digest(
    storage: SQLStorage, tmp_path: Path, clock: Clock
) -> None:
    from monitor.model import StoryAssignment

    out = tmp_path / "out"
    cfg = settings(
        {"files": {"type": "file", "path": str(out)}},
        [{"name": "morgen", "channel": "files", "mode": "digest", "schedule": "0 7 * * *"}],
    )
    d = deliverer(cfg, storage, clock)
    clock.advance(minutes=1)
    now = clock()
    # A quiet story with a better score, and one that four outlets carried within the hour.
    outlets = ["wire-a.example", "wire-b.example", "paper-c.example", "paper-d.example"]
    items = [("quiet", "lithium", 95, "quiet.example", "s-quiet")] + [
        (f"hot{n}", "gallium", 60, o, "s-hot") for n, o in enumerate(outlets)
    ]
    for eid, rule, score, outlet, sid in items:
        feed = f"https://{outlet}/rss"
        e = Entry(feed, eid, f"{rule.title()}: Meldung {eid}", f"https://{outlet}/{eid}",
                  f"Neue Nachricht über {rule}.", "", now - timedelta(minutes=30))  # fmt: skip
        at = e.summary.index(rule)
        hit = Hit(rule, rule, "summary", at, at + len(rule), rule)
        story = StoryAssignment(
            feed, eid, sid, e.published, "de", outlet, new=eid in {"quiet", "hot0"}
        )
        storage.record_poll(
            FeedState(feed), [e], {eid: [Match(rule, score, Priority.DIGEST, (hit,))]}, now,
            stories=[story],
        )  # fmt: skip
    clock.advance(minutes=1)
    _, outcomes = d.run()
    [outcome] = [o for o in outcomes if o.delivery]
    assert outcome.delivery is not None
    data = json.loads((out / f"{outcome.delivery.key}.json").read_text("utf-8"))
    first, second = data["stories"]
    assert first["story_id"] == "s-hot" and second["story_id"] == "s-quiet"
    assert first["breaking"] and "4 Medien" in first["breaking"] and second["breaking"] is None
    html = (out / f"{outcome.delivery.key}.html").read_text("utf-8")
    assert "Eilmeldung" in html and html.index("Gallium") < html.index("Lithium")
