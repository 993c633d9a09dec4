"""The spike signal as a table: outlets in the window against the rule's usual story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.delivery.spike import FACTOR, MIN_BASELINE, MIN_OUTLETS, spike, story_spike

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def outlets(n: int, minutes: float = 10, prefix: str = "o") -> list[tuple[str, datetime]]:
    return [(f"{prefix}{i}.example", ago(minutes)) for i in range(n)]


# (case, members, baseline counts, breaking?, outlets counted, baseline)
CASES = [
    ("2 outlets never break", outlets(2), [], False, None, None),
    ("3 fresh outlets, no history: default baseline 1.0", outlets(3), [], True, 3, 1.0),
    ("too little history keeps 1.0", outlets(3), [5, 5, 5, 5], True, 3, 1.0),
    ("usual story of 1.4: 7 outlets break", outlets(7), [1, 2, 1, 2, 1], True, 7, 1.4),
    (
        "usual story of 1.4: 4 outlets break (>= 4.2? no)",
        outlets(4),
        [1, 2, 1, 2, 1],
        False,
        None,
        None,
    ),
    ("a busy rule (3.0) needs 9", outlets(8), [3] * 6, False, None, None),
    ("a busy rule (3.0): 9 break", outlets(9), [3] * 6, True, 9, 3.0),
    ("old outlets do not count", outlets(5, minutes=180), [], False, None, None),
    (
        "only the window's outlets count",
        outlets(2, minutes=180, prefix="old") + outlets(3, prefix="new"),
        [],
        True,
        3,
        1.0,
    ),
    ("one outlet's many feeds count once", [("dpa.de", ago(5))] * 6, [], False, None, None),
    (
        "an outlet counts at its first report",
        [("a", ago(200)), ("a", ago(5)), ("b", ago(5)), ("c", ago(5))],
        [],
        False,
        None,
        None,
    ),
    (
        "slightly future-dated members count",
        [(f"f{i}", NOW + timedelta(minutes=5)) for i in range(3)],
        [],
        True,
        3,
        1.0,
    ),
    (
        "far future-dated members do not",
        [(f"f{i}", NOW + timedelta(hours=3)) for i in range(3)],
        [],
        False,
        None,
        None,
    ),
    ("a baseline below 1 counts as 1", outlets(3), [0, 0, 0, 0, 0, 1], True, 3, 1.0),
]


@pytest.mark.parametrize(
    ("members", "baseline", "breaking", "count", "usual"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_spike_table(
    members: list[tuple[str, datetime]],
    baseline: list[int],
    breaking: bool,
    count: int | None,
    usual: float | None,
) -> None:
    got = spike(members, baseline, NOW, rule_id="r")
    assert (got is not None) == breaking
    if got is not None:
        assert got.outlets == count
        assert got.baseline == pytest.approx(usual)
        assert got.outlets >= MIN_OUTLETS and got.outlets >= FACTOR * got.baseline


def test_the_explanation_reads_as_the_alert_shows_it() -> None:
    got = spike(outlets(7), [1, 2, 1, 2, 1], NOW)
    assert got is not None
    assert got.explanation() == "7 outlets in 2 h; this rule's usual story reaches 1.4"
    assert got.explanation("de") == (
        "7 Medien in 2 Std.; sonst erreicht eine Meldung dieser Regel im Schnitt 1,4"
    )
    assert got.baseline_stories == MIN_BASELINE


def test_story_spike_leaves_the_story_out_of_its_own_baseline_and_takes_the_strongest_rule() -> (
    None
):
    members = outlets(6)
    # Counted in, the story itself (6 outlets) would lift rule a's baseline to 2.0 (6 < 3 * 2.0).
    baselines = {"a": {"s1": 1, "s2": 1, "s3": 1, "s4": 1, "s5": 1, "me": 6}, "b": {}}
    got = story_spike("me", members, ["a", "b"], baselines, NOW)
    assert got is not None and got.rule_id == "a" and got.baseline == 1.0
    assert got.baseline_stories == 5
    # A rule that is busy anyway does not make it breaking; the quiet one still does.
    busy = {"a": {f"s{i}": 4 for i in range(8)}}
    assert story_spike("me", members, ["a"], busy, NOW) is None
    assert story_spike("me", members, ["a", "b"], busy, NOW) is not None  # b: no history
