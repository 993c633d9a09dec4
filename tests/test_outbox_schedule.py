"""When a digest is due and which matches become alerts (pure: data and `now` in, data out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config.channels import SubscriptionSettings
from monitor.delivery.outbox import (
    ALERT_MAX_AGE,
    digest_key,
    digest_slot,
    next_digest_time,
    wants_alert,
)
from monitor.model import Priority

WEEKDAYS_7 = "0 7 * * mon-fri"
BERLIN = "Europe/Berlin"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_first_digest_is_due_at_once() -> None:
    now = utc(2026, 11, 25, 0, 13)
    assert digest_slot(WEEKDAYS_7, BERLIN, None, now) == now


def test_the_slot_is_07_00_in_berlin_in_winter_and_in_summer() -> None:
    winter_last = utc(2026, 11, 24, 6, 0)  # Tue 07:00 CET
    assert digest_slot(WEEKDAYS_7, BERLIN, winter_last, utc(2026, 11, 25, 5, 59)) is None
    assert digest_slot(WEEKDAYS_7, BERLIN, winter_last, utc(2026, 11, 25, 6, 0)) == utc(
        2026, 11, 25, 6, 0
    )
    summer_last = utc(2026, 7, 1, 5, 0)  # Wed 07:00 CEST
    assert digest_slot(WEEKDAYS_7, BERLIN, summer_last, utc(2026, 7, 2, 5, 0, 1)) == utc(
        2026, 7, 2, 5, 0
    )


def test_missed_slots_fold_into_the_latest_one() -> None:
    last = utc(2026, 11, 13, 6, 0)  # Friday
    # Down over the weekend and all of Monday to Wednesday: one digest, for Wednesday's slot.
    assert digest_slot(WEEKDAYS_7, BERLIN, last, utc(2026, 11, 18, 12, 0)) == utc(
        2026, 11, 18, 6, 0
    )
    # Saturday and Sunday have no slot.
    assert digest_slot(WEEKDAYS_7, BERLIN, last, utc(2026, 11, 15, 12, 0)) is None
    # A frequent schedule after a long pause: the latest minute, found quickly.
    assert digest_slot("* * * * *", BERLIN, utc(2026, 1, 1), utc(2026, 11, 18, 12, 0, 30)) == utc(
        2026, 11, 18, 12, 0
    )
    # A yearly schedule missed long ago is still found.
    assert digest_slot("0 7 1 1 *", BERLIN, utc(2024, 6, 1), utc(2026, 11, 18)) == utc(
        2026, 1, 1, 6, 0
    )


def test_next_digest_time_and_keys() -> None:
    assert next_digest_time(WEEKDAYS_7, BERLIN, utc(2026, 11, 27, 6, 0)) == utc(2026, 11, 30, 6, 0)
    assert digest_key("morgen", utc(2026, 11, 30, 6, 0)) == "digest-morgen-20261130T0600Z"
    assert digest_key("morgen", utc(2026, 11, 30, 6, 0, 7)) == "digest-morgen-20261130T060007Z"


def sub(**kw: object) -> SubscriptionSettings:
    return SubscriptionSettings.model_validate(
        {"name": "eil", "channel": "c", "mode": "alert", **kw}
    )


def test_wants_alert_priority_rules_named_rules_score_and_age() -> None:
    now = utc(2026, 11, 25, 12, 0)
    fresh = now - timedelta(hours=1)
    assert wants_alert(sub(), "gallium", 90, Priority.ALERT, fresh, now)
    assert not wants_alert(sub(), "lithium", 90, Priority.DIGEST, fresh, now)  # "*": priority
    named = sub(rules=["lithium"])
    assert wants_alert(named, "lithium", 90, Priority.DIGEST, fresh, now)
    assert not wants_alert(named, "gallium", 90, Priority.ALERT, fresh, now)
    assert not wants_alert(sub(min_score=80), "gallium", 79, Priority.ALERT, fresh, now)
    old = now - ALERT_MAX_AGE - timedelta(seconds=1)
    assert not wants_alert(sub(), "gallium", 90, Priority.ALERT, old, now)
