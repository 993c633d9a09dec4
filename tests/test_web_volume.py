"""The web view's charts, the pure half (monitor.web.volume): stories per rule and day, and a
story's pieces over time. The pages that draw them are tested in Chromium
(tests/test_web_real_store.py) and over HTTP (tests/test_web_pages.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.model import StoryMember
from monitor.web.volume import BAR_AREA, MAX_DAILY, rule_volume, story_timeline

D0 = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_new_stories_and_entries_per_rule_and_day() -> None:
    counts = [
        ("kobalt", D0, 2, 3),
        ("kobalt", D0 + timedelta(days=1), 1, 1),
        ("lithium", D0 + timedelta(days=2), 2, 2),
        ("china", D0 - timedelta(days=3), 5, 5),  # before the window: ignored
    ]
    v = rule_volume(counts, D0, D0 + timedelta(days=6))
    assert v.unit == "day" and v.days == 7
    assert [(r.rule_id, r.stories, r.entries) for r in v.rows] == [
        ("kobalt", 3, 4),
        ("lithium", 2, 2),
    ]
    kobalt, lithium = v.rows
    assert [(b.when, b.count, b.entries) for b in kobalt.bars] == [
        ("2026-11-20", 2, 3),
        ("2026-11-21", 1, 1),
    ]
    assert [(b.when, b.count) for b in lithium.bars] == [("2026-11-22", 2)]
    assert (kobalt.peak, lithium.peak) == (2, 2)
    assert kobalt.peak_day == D0 and lithium.peak_day == D0 + timedelta(days=2)
    # Each row to its own peak: the busiest bar is the full height, one story half of it;
    # bars stand on the base line at their day's slot.
    width, height = BAR_AREA
    top, one = kobalt.bars
    assert top.height == height and top.y == 0
    assert one.height == height / 2 and one.y == height / 2
    assert top.x < one.x < width / 7 * 2 < lithium.bars[0].x < width / 7 * 3


def test_a_busy_context_rule_neither_flattens_nor_leads_the_others() -> None:
    counts = [
        ("china", D0, 40, 45),
        ("china", D0 + timedelta(days=1), 1, 1),
        ("gallium", D0, 1, 1),
        ("gallium", D0 + timedelta(days=1), 2, 2),
    ]
    v = rule_volume(counts, D0, D0 + timedelta(days=1), context={"china"})
    assert [(r.rule_id, r.context, r.peak) for r in v.rows] == [
        ("gallium", False, 2),
        ("china", True, 40),
    ]
    gallium, china = v.rows
    assert [b.height for b in gallium.bars] == [BAR_AREA[1] / 2, BAR_AREA[1]]
    assert 1.0 <= china.bars[1].height < 2.0  # one story among 40: thin, but seen
    plain = rule_volume(counts, D0, D0 + timedelta(days=1))
    assert [r.rule_id for r in plain.rows] == ["china", "gallium"]


def test_the_filtered_rule_comes_first_and_rows_are_capped() -> None:
    counts = [(f"rule-{i:02d}", D0, i + 1, i + 1) for i in range(15)]
    v = rule_volume(counts, D0, D0, limit=5, first="rule-03")
    assert [r.rule_id for r in v.rows] == ["rule-03", "rule-14", "rule-13", "rule-12", "rule-11"]
    assert v.left_out == 10
    assert v.rows[1].peak == 15


def test_a_long_window_is_drawn_in_weeks_summing_its_days() -> None:
    end = D0 + timedelta(days=MAX_DAILY)  # MAX_DAILY + 1 days
    counts = [("kobalt", D0 + timedelta(days=d), 1, 2) for d in (0, 3, 8)]
    v = rule_volume(counts, D0, end)
    assert v.unit == "week"
    assert [(b.when, b.count, b.entries) for b in v.rows[0].bars] == [
        ("2026-11-20 – 2026-11-26", 2, 4),
        ("2026-11-27 – 2026-12-03", 1, 2),
    ]
    assert v.rows[0].stories == 3


def test_an_empty_window_draws_nothing() -> None:
    v = rule_volume([], D0, D0 + timedelta(days=13))
    assert v.rows == () and v.left_out == 0


def member(hours: float, language: str) -> StoryMember:
    return StoryMember(
        feed_url="https://a.example/f",
        entry_id=f"{hours}-{language}",
        title="t",
        link=None,
        published=T0 + timedelta(hours=hours),
        language=language,
        outlet="a.example",
    )


def test_a_story_timeline_is_hourly_and_stacked_by_language() -> None:
    members = [member(0, "en"), member(0.5, "de"), member(0.7, "en"), member(5, "de")]
    t = story_timeline(members)
    assert t is not None
    assert t.unit == "hour" and t.buckets == 6 and t.series == ("de", "en") and t.peak == 3
    assert [(b.when, b.series, b.count) for b in t.bars] == [
        ("2026-11-20 09:00", "de", 1),
        ("2026-11-20 09:00", "en", 2),
        ("2026-11-20 14:00", "de", 1),
    ]
    de, en, late = t.bars
    height = BAR_AREA[1]
    assert de.y + de.height == pytest.approx(height)  # the first stands on the base line
    assert en.y + en.height == pytest.approx(de.y) and en.y == 0  # the next on top, to the peak
    assert late.height == pytest.approx(height / 3)


def test_a_story_over_days_is_daily_and_one_piece_has_no_chart() -> None:
    t = story_timeline([member(0, "en"), member(24 * 3, "en")])
    assert t is not None and t.unit == "day" and t.buckets == 4
    assert story_timeline([member(0, "en")]) is None
