"""The Slack channel against a real HTTP endpoint on 127.0.0.1: splitting, order, 429, retries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.channels import SlackChannelSettings, SubscriptionSettings
from monitor.delivery.digest import build_digest
from monitor.delivery.render import Renderer
from monitor.errors import DeliveryError
from monitor.model import Entry, Hit, Match, RenderedMessage
from monitor.notify.registry import build_channel
from monitor.notify.slack import SlackChannel
from tests.fixtures.http_sink import HttpSink, Reply
from tests.support import free_port

NOW = datetime(2025, 11, 24, 6, 0, tzinfo=UTC)
HOOK = "/services/T000/B000/secret-token"


def big_digest(n: int = 400) -> RenderedMessage:
    """``n`` matches over four rules, titles hostile, some long."""
    pairs = []
    for i in range(n):
        title = f"#{i:03d} Gallium <!channel> <@U123> *bold* " + ("Ä" * 600 if i % 50 == 0 else "")
        e = Entry(
            feed_url="https://news.example.org/feed",
            id=str(i),
            title=title,
            link=f"https://news.example.org/{i}?a=1&b=2",
            summary=f"Exportkontrollen für Gallium, Meldung {i} 🚢",
            content="",
            published=NOW - timedelta(minutes=i),
        )
        start = e.summary.index("Gallium")
        hit = Hit("gallium", "Gallium", "summary", start, start + 7, "Gallium")
        pairs.append((e, Match(f"rule-{i % 4}", 50 + i % 50, hits=(hit,))))
    sub = SubscriptionSettings(
        name="morgen", channel="s", mode="digest", schedule="0 7 * * *", max_stories=1000
    )
    return Renderer().render_digest(build_digest(pairs, sub, NOW))


def channel(sink: HttpSink, **kw: object) -> tuple[SlackChannel, list[float]]:
    slept: list[float] = []
    settings = SlackChannelSettings.model_validate(
        {"type": "slack", "webhook_url": sink.url + HOOK, "timeout": 5} | kw
    )
    ch = build_channel("slack-rohstoffe", settings)
    assert isinstance(ch, SlackChannel)
    ch._sleep = slept.append  # record waits instead of sleeping
    return ch, slept


@pytest.fixture(scope="module")
def message() -> RenderedMessage:
    return big_digest()


def titles_in(payloads: list[dict[str, object]]) -> list[str]:
    text = "\n".join(str(p["blocks"]) for p in payloads)
    return re.findall(r"#(\d{3}) Gallium", text)


def test_four_hundred_matches_arrive_split_within_limits_in_order(
    http_sink: HttpSink, message: RenderedMessage
) -> None:
    ch, _ = channel(http_sink)
    ch.send(message, key="digest-morgen-1")
    got = [r.json() for r in http_sink.accepted()]
    assert len(got) == len(message.slack_payloads) >= 9  # 400 entries, at most 49 per message
    assert got == message.slack_payloads  # every part, in order, unchanged on the wire
    for payload in got:
        assert len(payload["blocks"]) <= 50
        assert payload["text"] and len(payload["text"]) <= 3000
        for block in payload["blocks"]:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
    # Every story exactly once, and in the digest's order (priority, score, outlets, time).
    seen = titles_in(got)
    assert sorted(seen) == [f"{i:03d}" for i in range(400)]
    expected = [s["items"][0]["entry_id"] for s in message.data["stories"]]
    assert [str(int(s)) for s in seen] == expected
    # A continuation says which part it is.
    assert "2/" in got[1]["blocks"][0]["elements"][0]["text"]
    wire = "".join(r.body.decode() for r in http_sink.requests)
    assert "<!channel>" not in wire and "<@U123>" not in wire
    assert all(r.path == HOOK for r in http_sink.requests)
    assert http_sink.requests[0].headers["content-type"].startswith("application/json")


def test_429_then_200_waits_retry_after_and_sends_once(http_sink: HttpSink) -> None:
    message = big_digest(3)
    ch, slept = channel(http_sink)
    http_sink.script(Reply(429, {"Retry-After": "2"}, b"rate_limited"), Reply(200))
    ch.send(message, key="digest-429")
    assert slept == [2.0]
    assert [r.status for r in http_sink.requests] == [429, 200]
    assert [r.json() for r in http_sink.accepted()] == message.slack_payloads


def test_long_retry_after_goes_back_to_the_outbox_and_resumes_without_repeats(
    http_sink: HttpSink, message: RenderedMessage
) -> None:
    ch, slept = channel(http_sink, max_inline_wait=5)
    http_sink.script(Reply(200), Reply(200), Reply(429, {"Retry-After": "120"}))
    with pytest.raises(DeliveryError) as info:
        ch.send(message, key="digest-resume")
    assert info.value.temporary and info.value.retry_after == 120.0 and slept == []
    assert "part 3/" in str(info.value) and "slack-rohstoffe" in str(info.value)
    assert len(http_sink.accepted()) == 2

    ch.send(message, key="digest-resume")  # the outbox retries later: parts 3.. only
    got = [r.json() for r in http_sink.accepted()]
    assert got == message.slack_payloads  # each part exactly once, in order

    ch.send(message, key="digest-resume")  # a repeat of a finished key sends nothing
    assert len(http_sink.accepted()) == len(message.slack_payloads)


@pytest.mark.parametrize(
    ("reply", "temporary", "says"),
    [
        (Reply(500, body=b"internal"), True, "server error HTTP 500"),
        (Reply(503, {"Retry-After": "30"}), True, "HTTP 503"),
        (Reply(404, body=b"no_service"), False, "check the webhook URL"),
        (Reply(400, body=b"invalid_blocks"), False, "invalid_blocks"),
        (Reply(410, body=b"channel_is_archived"), False, "archived"),
    ],
)
def test_failures_are_classified(
    http_sink: HttpSink, reply: Reply, temporary: bool, says: str
) -> None:
    ch, _ = channel(http_sink)
    http_sink.script(reply)
    with pytest.raises(DeliveryError) as info:
        ch.send(big_digest(1), key="k")
    assert info.value.temporary is temporary and says in str(info.value)
    assert "secret-token" not in str(info.value)


def test_unreachable_webhook_is_temporary_and_keeps_the_url_secret() -> None:
    settings = SlackChannelSettings(
        type="slack", webhook_url=f"http://127.0.0.1:{free_port()}{HOOK}", timeout=2
    )
    ch = SlackChannel("slack-rohstoffe", settings)
    with pytest.raises(DeliveryError) as info:
        ch.send(big_digest(1), key="k")
    assert info.value.temporary and "cannot reach the webhook" in str(info.value)
    assert "secret-token" not in str(info.value) and "secret-token" not in repr(ch)
