"""The story window's memory stays bounded over a long run with the clock advancing (issue 14).

Each hour brings distinct stories; with a 1 h span the window must hold about one hour's worth
whatever the run's length. Asserted on the structures' sizes, not on RSS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.stories import Settings, StoryEntry, Window, assign

T0 = datetime(2026, 3, 14, 8, tzinfo=UTC)
WORDS = [f"Wort{chr(97 + i)}{chr(97 + j)}" for i in range(26) for j in range(26)]


def distinct(n: int) -> StoryEntry:
    """An entry sharing no specific word with its neighbours: each starts its own story."""
    words = " ".join(WORDS[(n * 5 + k) % len(WORDS)] + str(n) for k in range(5))
    return StoryEntry(f"e{n}", f"Lithium {words}", words, "de", T0 + timedelta(minutes=n))


def run(window: Window, entries: int) -> None:
    for n in range(entries):
        assign(distinct(n), window)


def test_stories_index_and_expiry_heap_stay_bounded() -> None:
    window = Window(Settings(span=timedelta(hours=1)))
    run(window, 600)  # ten hours, one entry a minute
    assert len(window.stories) >= 50  # they did start stories of their own, and expired
    assert len(window.stories) <= 61  # the last hour's
    assert len(window._ends) <= 2 * 61
    live = set(window.stories)
    assert all(ids <= live for ids in window._index.values())
    assert len(window._index) <= 61 * window.settings.max_terms


def test_started_story_ids_stay_bounded() -> None:
    window = Window(Settings(span=timedelta(hours=1)))
    run(window, 600)
    assert len(window._ids) <= 2 * 61
