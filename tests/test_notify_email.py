"""The email channel against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from monitor.config.channels import EmailChannelSettings
from monitor.errors import DeliveryError
from monitor.model import RenderedMessage
from monitor.notify.base import Channel
from monitor.notify.email import EmailChannel
from monitor.notify.registry import build_channel
from tests.fixtures.smtp_server import PASSWORD, USER, SmtpServer, start
from tests.support import free_port

NOW = datetime(2025, 11, 24, 6, 0, tzinfo=UTC)


def message(subject: str = "Rohstoff-Digest: 3 Treffer zu Seltenen Erden 🔋") -> RenderedMessage:
    return RenderedMessage(
        kind="digest",
        subject=subject,
        text="Größere Lieferungen von Gallium nach Übersee 🚢\n",
        html="<!DOCTYPE html><html><body><p>Größere Lieferungen von <mark>Gallium</mark></p>",
        slack_payloads=[],
        data={},
        created=NOW,
    )


def channel(server: SmtpServer, **kw: object) -> EmailChannel:
    raw: dict[str, object] = {
        "type": "email",
        "host": server.host,
        "port": server.port,
        "security": "none",
        "from": "Rohstoff-Monitor <monitor@example.org>",
        "to": ["Jürgen Müller <analyst@example.org>", "einkauf@example.org"],
        "timeout": 5,
    }
    ch = build_channel("team-mail", EmailChannelSettings.model_validate(raw | kw))
    assert isinstance(ch, EmailChannel) and isinstance(ch, Channel)
    return ch


def test_multipart_alternative_utf8_with_all_headers(smtp_server: SmtpServer) -> None:
    channel(smtp_server).send(message(), key="digest-morning-20251124T0600Z")
    assert [m.rcpt_tos for m in smtp_server.received] == [
        ("analyst@example.org",),
        ("einkauf@example.org",),
    ]
    assert smtp_server.received[0].mail_from == "monitor@example.org"
    msg = smtp_server.messages()[0]
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert "Übersee 🚢" in text.get_content() and "<mark>Gallium</mark>" in html.get_content()
    assert str(msg["Subject"]) == "Rohstoff-Digest: 3 Treffer zu Seltenen Erden 🔋"
    assert msg["Message-ID"] == "<digest-morning-20251124T0600Z@example.org>"
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert "Jürgen Müller" in str(msg["To"]) and "einkauf@example.org" in str(msg["To"])
    assert msg["Auto-Submitted"] == "auto-generated"
    # Both recipients get the very same message (one Message-ID: clients can deduplicate).
    assert {m["Message-ID"] for m in smtp_server.messages()} == {msg["Message-ID"]}


def test_hostile_subject_cannot_add_headers_or_break_the_message(smtp_server: SmtpServer) -> None:
    evil = "Gallium\r\nBcc: victim@example.org\r\n\r\nbody" + " Ä" * 2500  # 5,000+ characters
    channel(smtp_server, to="analyst@example.org").send(message(evil), key="k/../1 2")
    raw = smtp_server.received[0].data
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = smtp_server.messages()[0]
    assert msg["Bcc"] is None and len(msg.get_all("Subject") or []) == 1
    subject = str(msg["Subject"])
    assert subject.startswith("Gallium Bcc: victim@example.org body Ä Ä") and len(subject) <= 250
    assert msg["Message-ID"].startswith("<k-1-2-") and " " not in msg["Message-ID"]


def test_refused_then_accepted_arrives_once(smtp_server: SmtpServer) -> None:
    ch = channel(smtp_server, to="analyst@example.org")
    smtp_server.refuse(1, "451 4.3.0 Mailbox busy, try later")
    with pytest.raises(DeliveryError) as info:
        ch.send(message(), key="alert-1")
    assert info.value.temporary and info.value.channel == "team-mail"
    assert "451" in str(info.value) and "analyst@example.org" in str(info.value)
    assert smtp_server.received == []
    ch.send(message(), key="alert-1")
    assert len(smtp_server.received) == 1


def test_one_refused_recipient_does_not_block_or_duplicate_the_other(
    smtp_server: SmtpServer,
) -> None:
    ch = channel(smtp_server)
    smtp_server.refuse_recipient("einkauf@example.org", "550 5.1.1 No such user")
    with pytest.raises(DeliveryError) as info:
        ch.send(message(), key="digest-x")
    assert not info.value.temporary  # 5xx: retrying will not help
    assert "einkauf@example.org (550" in str(info.value) and "the other 1 got it" in str(info.value)
    assert [m.rcpt_tos for m in smtp_server.received] == [("analyst@example.org",)]

    smtp_server.accept_recipient("einkauf@example.org")  # the user fixed the mailbox; retried
    ch.send(message(), key="digest-x")
    ch.send(message(), key="digest-x")  # a further repeat of the same key sends nothing
    assert [m.rcpt_tos for m in smtp_server.received] == [
        ("analyst@example.org",),
        ("einkauf@example.org",),
    ]


def test_server_down_then_up_sends_once() -> None:
    server = SmtpServer()
    server.port = free_port()  # nothing listens here yet
    ch = channel(server, to="analyst@example.org")
    with pytest.raises(DeliveryError) as info:
        ch.send(message(), key="digest-down")
    assert info.value.temporary
    assert f"127.0.0.1:{server.port}" in str(info.value) and "hint" in str(info.value)
    start(server)
    try:
        ch.send(message(), key="digest-down")
        assert len(server.received) == 1
    finally:
        server.stop()


def test_starttls_with_login(smtp_starttls_server: SmtpServer, tls_cert: tuple[Path, Path]) -> None:
    ch = channel(
        smtp_starttls_server,
        security="starttls",
        username=USER,
        password=PASSWORD,
        ca_file=str(tls_cert[0]),
        to="analyst@example.org",
    )
    ch.send(message(), key="tls-1")
    assert len(smtp_starttls_server.received) == 1
    assert PASSWORD not in repr(ch) and PASSWORD not in repr(ch.settings)


def test_wrong_password_is_permanent(
    smtp_starttls_server: SmtpServer, tls_cert: tuple[Path, Path]
) -> None:
    ch = channel(
        smtp_starttls_server,
        security="starttls",
        username=USER,
        password="wrong",
        ca_file=str(tls_cert[0]),
    )
    with pytest.raises(DeliveryError, match=r"refused the login.*check username") as info:
        ch.send(message(), key="tls-2")
    assert not info.value.temporary and "wrong" not in str(info.value)


def test_untrusted_certificate_fails_with_a_hint(smtp_starttls_server: SmtpServer) -> None:
    ch = channel(smtp_starttls_server, security="starttls", username=USER, password=PASSWORD)
    with pytest.raises(DeliveryError, match=r"TLS with .* failed.*ca_file"):
        ch.send(message(), key="tls-3")
    assert smtp_starttls_server.received == []


def test_implicit_tls(smtps_server: SmtpServer, tls_cert: tuple[Path, Path]) -> None:
    ch = channel(smtps_server, security="tls", ca_file=str(tls_cert[0]), to="a@example.org")
    ch.send(message(), key="smtps-1")
    assert len(smtps_server.received) == 1


def test_starttls_against_a_plain_server_says_what_to_change(smtp_server: SmtpServer) -> None:
    with pytest.raises(DeliveryError, match=r"STARTTLS.*hint: set security") as info:
        channel(smtp_server, security="starttls").send(message(), key="x")
    assert not info.value.temporary
