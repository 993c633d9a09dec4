"""The webhook and Apprise channels against a real HTTP endpoint on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.config.channels import AppriseChannelSettings, WebhookChannelSettings
from monitor.errors import DeliveryError
from monitor.model import RenderedMessage
from monitor.notify.apprise import AppriseChannel
from monitor.notify.registry import build_channel
from monitor.notify.webhook import WebhookChannel
from tests.fixtures.http_sink import HttpSink, Reply

NOW = datetime(2025, 11, 24, 6, 0, tzinfo=UTC)
MESSAGE = RenderedMessage(
    kind="alert",
    subject="Rohstoff-Alarm: Gallium – Exportstopp 🚫",
    text="China stoppt Gallium-Exporte.\n",
    html="<p>China stoppt <mark>Gallium</mark>-Exporte.</p>",
    slack_payloads=[],
    data={"kind": "alert", "subscription": "urgent", "item": {"title": "Exportstopp", "score": 91}},
    created=NOW,
)


def webhook(sink: HttpSink, **kw: object) -> WebhookChannel:
    raw = {"type": "webhook", "url": sink.url + "/hook", "timeout": 5} | kw
    ch = build_channel("hook", WebhookChannelSettings.model_validate(raw))
    assert isinstance(ch, WebhookChannel)
    return ch


def test_posts_the_data_as_json_with_an_idempotency_key(http_sink: HttpSink) -> None:
    webhook(http_sink, headers={"Authorization": "Bearer t0k"}).send(MESSAGE, key="alert-u-1")
    [req] = http_sink.requests
    assert (req.method, req.path) == ("POST", "/hook")
    assert req.headers["idempotency-key"] == "alert-u-1"
    assert req.headers["authorization"] == "Bearer t0k"
    body = req.json()
    assert body["key"] == "alert-u-1" and body["subject"] == MESSAGE.subject
    assert body["kind"] == "alert" and body["item"] == {"title": "Exportstopp", "score": 91}


@pytest.mark.parametrize(
    ("reply", "temporary", "retry_after"),
    [
        (Reply(429, {"Retry-After": "45"}), True, 45.0),
        (Reply(502), True, None),
        (Reply(401, body=b"unauthorized"), False, None),
        (Reply(301, {"Location": "https://elsewhere.example/"}), False, None),
    ],
)
def test_failures_are_classified(
    http_sink: HttpSink, reply: Reply, temporary: bool, retry_after: float | None
) -> None:
    http_sink.script(reply)
    with pytest.raises(DeliveryError) as info:
        webhook(http_sink).send(MESSAGE, key="k")
    assert info.value.temporary is temporary and info.value.retry_after == retry_after
    assert info.value.channel == "hook" and f"HTTP {reply.status}" in str(info.value)


def apprise_channel(sink: HttpSink, *paths: str) -> AppriseChannel:
    urls = [f"json://127.0.0.1:{sink.port}{p}" for p in paths]
    ch = build_channel("apprise", AppriseChannelSettings(type="apprise", urls=urls))
    assert isinstance(ch, AppriseChannel)
    return ch


def test_apprise_notifies_each_url_and_retries_only_the_failed_one(http_sink: HttpSink) -> None:
    ch = apprise_channel(http_sink, "/a", "/b")
    http_sink.script(Reply(200), Reply(500))
    with pytest.raises(DeliveryError, match=r"URL #2 \(json\)") as info:
        ch.send(MESSAGE, key="alert-u-2")
    assert info.value.temporary
    ch.send(MESSAGE, key="alert-u-2")
    assert [(r.path, r.status) for r in http_sink.requests] == [
        ("/a", 200),
        ("/b", 500),
        ("/b", 200),
    ]
    body = http_sink.requests[0].json()
    assert body["title"] == MESSAGE.subject and body["message"].startswith("China stoppt")


def test_apprise_rejects_an_unknown_url_without_printing_it() -> None:
    ch = AppriseChannel(
        "apprise", AppriseChannelSettings(type="apprise", urls=["nosuchservice://tok3n@x"])
    )
    with pytest.raises(DeliveryError) as info:
        ch.send(MESSAGE, key="k")
    assert not info.value.temporary and "tok3n" not in str(info.value)
