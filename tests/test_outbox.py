"""Outbox decisions (pure): backoff, Retry-After, expiry, crash recovery; and one run of them
against a real SMTP server that is down for an hour (time is simulated, the server is real)."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config.channels import EmailChannelSettings, FileChannelSettings
from monitor.delivery.outbox import (
    BACKOFF_CAP,
    alert_key,
    backoff_delay,
    claim,
    digest_key,
    is_due,
    is_expired,
    mark_sent,
    next_attempt_after_failure,
    recover,
)
from monitor.errors import DeliveryError
from monitor.model import Delivery, DeliveryKind, DeliveryState, RenderedMessage
from monitor.notify.email import EmailChannel
from monitor.notify.file import FileChannel
from tests.fixtures.smtp_server import SmtpServer, start
from tests.support import free_port

T0 = datetime(2025, 11, 24, 6, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TEMPORARY = DeliveryError("mail", "server said 451", temporary=True)


def delivery(**kw: Any) -> Delivery:
    base = Delivery(
        id=1,
        kind=DeliveryKind.DIGEST,
        subscription="morgen",
        channel="mail",
        key="digest-morgen-20251124T0600Z",
        created=T0,
    )
    return replace(base, **kw)


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, rng) for n in range(1, 15)]
    assert timedelta(seconds=15) <= delays[0] <= timedelta(seconds=30)
    assert timedelta(seconds=60) <= delays[3] / 2 <= timedelta(seconds=120)  # 4th: 2-4 min
    assert all(BACKOFF_CAP / 2 <= d <= BACKOFF_CAP for d in delays[8:])
    assert len({backoff_delay(5, random.Random(s)) for s in range(20)}) > 10  # spread out


def test_temporary_failure_schedules_a_retry() -> None:
    d = claim(delivery(), T0)
    assert d.state is DeliveryState.SENDING and d.attempts == 1
    after = next_attempt_after_failure(d, TEMPORARY, T0, rng=random.Random(1))
    assert after.state is DeliveryState.PENDING and after.last_error == str(TEMPORARY)
    assert after.next_attempt is not None and T0 < after.next_attempt <= T0 + timedelta(seconds=30)
    assert not is_due(after, T0) and is_due(after, after.next_attempt)


def test_retry_after_is_a_floor() -> None:
    error = DeliveryError("slack", "rate limited", retry_after=600)
    after = next_attempt_after_failure(claim(delivery(), T0), error, T0, rng=random.Random(1))
    assert after.next_attempt == T0 + timedelta(seconds=600)


def test_permanent_failure_fails_at_once() -> None:
    error = DeliveryError("mail", "550 no such user", temporary=False)
    after = next_attempt_after_failure(claim(delivery(), T0), error, T0)
    assert after.state is DeliveryState.FAILED and "550" in (after.last_error or "")
    assert not is_due(after, T0 + timedelta(days=9))


def test_gives_up_after_retry_for() -> None:
    d = claim(delivery(attempts=30), T0 + timedelta(hours=23, minutes=59))
    assert not is_expired(d, T0 + timedelta(hours=23))
    after = next_attempt_after_failure(d, TEMPORARY, T0 + timedelta(hours=23, minutes=59))
    assert after.state is DeliveryState.FAILED
    assert re.search(r"gave up after 31 attempts over 23 h 59 min", after.last_error or "")
    # With retry_for 1 h, a first retry (15-30 s later) fits at 50 min, no longer at 59:50.
    fresh = claim(delivery(), T0)
    fits = next_attempt_after_failure(fresh, TEMPORARY, T0 + timedelta(minutes=50), HOUR)
    assert fits.state is DeliveryState.PENDING
    late = next_attempt_after_failure(fresh, TEMPORARY, T0 + timedelta(seconds=3590), HOUR)
    assert late.state is DeliveryState.FAILED


def test_crash_while_sending_is_recovered_as_due() -> None:
    d = claim(delivery(), T0)
    restarted = recover(d, T0 + timedelta(minutes=3))
    assert restarted.state is DeliveryState.PENDING and is_due(restarted, T0 + timedelta(minutes=3))
    done = mark_sent(claim(restarted, T0), T0 + timedelta(minutes=3))
    assert done.state is DeliveryState.SENT and done.attempts == 2
    assert recover(done, T0) == done  # only "sending" records are touched


def test_keys_are_stable_distinct_and_file_and_header_safe() -> None:
    a = alert_key("urgent", "https://x.example/feed", "id-1", "gallium")
    assert a == alert_key("urgent", "https://x.example/feed", "id-1", "gallium")
    assert a != alert_key("urgent", "https://x.example/feed", "id-1", "germanium")
    berlin_7 = datetime.fromisoformat("2025-11-24T07:00:00+01:00")
    assert digest_key("morgen", berlin_7) == "digest-morgen-20251124T0600Z"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", a)


def message() -> RenderedMessage:
    return RenderedMessage("digest", "Digest", "Text\n", "<p>Text</p>", [], {}, T0)


def test_smtp_down_for_an_hour_then_the_digest_goes_out_once() -> None:
    """The outbox loop in miniature: attempts at the times the decisions give, SMTP down for the
    first hour (connection refused), then up. Exactly one message arrives."""
    server = SmtpServer()
    server.port = free_port()
    settings = EmailChannelSettings.model_validate(
        {"type": "email", "host": "127.0.0.1", "port": server.port, "security": "none",
         "from": "m@example.org", "to": "a@example.org", "timeout": 2}
    )  # fmt: skip
    channel = EmailChannel("mail", settings)
    rng = random.Random(3)
    d, now, attempts_while_down = delivery(), T0, 0
    try:
        while d.state is not DeliveryState.SENT:
            assert d.state is DeliveryState.PENDING and now < T0 + timedelta(hours=3)
            if now >= T0 + timedelta(hours=1) and server.controller is None:
                start(server)
            d = claim(d, now)
            try:
                channel.send(message(), key=d.key)
            except DeliveryError as exc:
                attempts_while_down += 1
                d = next_attempt_after_failure(d, exc, now, rng=rng)
                assert d.next_attempt is not None
                now = d.next_attempt
            else:
                d = mark_sent(d, now)
        assert len(server.received) == 1
        assert 5 <= attempts_while_down <= 12 and d.attempts == attempts_while_down + 1
        assert d.sent_at is not None and d.sent_at - T0 < timedelta(hours=2)
    finally:
        server.stop()


def test_killed_between_sending_and_commit_repeats_one_message_under_the_same_name(
    tmp_path: Path,
) -> None:
    """The documented window: the file channel accepted, the process died before "sent" was
    committed. After recovery the same key is sent again and lands on the same files."""
    channel = FileChannel("archiv", FileChannelSettings(type="file", path=tmp_path))
    d = claim(delivery(), T0)
    channel.send(message(), key=d.key)  # accepted ... and then kill -9: "sent" never committed
    d = recover(d, T0 + timedelta(minutes=1))
    assert is_due(d, T0 + timedelta(minutes=1))
    channel.send(message(), key=d.key)
    d = mark_sent(claim(d, T0), T0 + timedelta(minutes=1))
    assert d.state is DeliveryState.SENT
    assert len(list(tmp_path.glob("*.eml"))) == 1
