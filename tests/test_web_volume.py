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


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def test_stories_per_rule_and_day_count_a_story_once_a_day() -> None:
    rows = [
        ("kobalt", at(0), "s1"),
        ("kobalt", at(0.1), "s1"),  # the same story again that day: one story, two entries
        ("kobalt", at(0.2), "s2"),
        ("kobalt", at(1), "s1"),  # and the next day: counts there too, once over the window
        ("lithium", at(2), None),  # no story (stored before stories): a story of its own
        ("lithium", at(2.1), None),
        ("china", at(-3), "s0"),  # before the window: ignored
    ]
    v = rule_volume(rows, D0, D0 + timedelta(days=6))
    assert v.unit == "day" and v.days == 7
    assert [(r.rule_id, r.stories, r.entries) for r in v.rows] == [
        ("kobalt", 2, 4),
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
    top = kobalt.bars[0]
    assert top.height == height and top.y == 0
    assert kobalt.bars[1].height == height / 2 and kobalt.bars[1].y == height / 2
    assert kobalt.bars[1].x > top.x and kobalt.bars[1].x < width / 7 * 2
    assert lithium.bars[0].x > width / 7 * 2


def test_a_busy_context_rule_neither_flattens_nor_leads_the_others() -> None:
    rows = [("china", at(0), f"c{i}") for i in range(40)] + [
        ("gallium", at(0), "g1"),
        ("gallium", at(1), "g2"),
        ("gallium", at(1), "g3"),
    ]
    v = rule_volume(rows, D0, D0 + timedelta(days=1), context={"china"})
    assert [(r.rule_id, r.context, r.peak) for r in v.rows] == [
        ("gallium", False, 2),
        ("china", True, 40),
    ]
    gallium = v.rows[0]
    assert [b.height for b in gallium.bars] == [BAR_AREA[1] / 2, BAR_AREA[1]]
    # a bar of one story among 40 is still seen
    few = rule_volume([*rows, ("china", at(1), "c-late")], D0, D0 + timedelta(days=1))
    assert few.rows[0].rule_id == "china" and few.rows[0].bars[1].height >= 1.0


def test_the_filtered_rule_comes_first_and_rows_are_capped() -> None:
    rows = [(f"rule-{i:02d}", at(0), f"s{i}-{k}") for i in range(15) for k in range(i + 1)]
    v = rule_volume(rows, D0, D0, limit=5, first="rule-03")
    assert [r.rule_id for r in v.rows] == ["rule-03", "rule-14", "rule-13", "rule-12", "rule-11"]
    assert v.left_out == 10
    assert v.rows[1].peak == 15


def test_a_long_window_is_drawn_in_weeks() -> None:
    end = D0 + timedelta(days=MAX_DAILY)  # MAX_DAILY + 1 days
    v = rule_volume([("kobalt", at(0), "a"), ("kobalt", at(8), "b")], D0, end)
    assert v.unit == "week"
    assert [(b.when, b.count) for b in v.rows[0].bars] == [
        ("2026-11-20 – 2026-11-26", 1),
        ("2026-11-27 – 2026-12-03", 1),
    ]


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
