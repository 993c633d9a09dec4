"""The story window's fast paths decide what the plain code decided: candidates (postings summed
in C, top-k by a stable sort), ``similarity`` (set intersections, one counting pass), the
weight memo, the skipped ``_score`` call for stories far outside the span, members' terms as
unsorted tuples and index terms sorted only when they do not all fit."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.stories import window as W
from monitor.stories.features import Features, extract
from monitor.stories.model import Decision, StoryEntry

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

_term = st.one_of(
    st.sampled_from(["@arrest", "@death", "@government", "@fire", "@tariffs", "@court"]),
    st.from_regex(r"#[0-9]{1,4}", fullmatch=True),
    st.from_regex(r"[a-z]{3,8}", fullmatch=True),
)
_terms = st.frozensets(_term, max_size=14)


def _plain_candidates(window: W.Window, features: Features) -> list[W.Story]:
    """``Window.candidates`` as it was written before the fast paths."""
    s = window.settings
    specific = frozenset(w for w in features.words if w[0] != "@")
    postings = [(len(ids), t, ids) for t in specific if (ids := window._index.get(t))]
    postings.sort(key=lambda p: (p[0], p[1]))
    hits: dict[str, float] = defaultdict(float)
    for n, _, ids in postings[: s.rare_terms]:
        if n > s.max_postings:
            break
        rarity = 1.0 / n
        for sid in ids:
            hits[sid] += 1.0 + rarity
    best = sorted(hits, key=lambda sid: (-hits[sid], sid))[: s.max_candidates]
    return [window.stories[sid] for sid in sorted(best)]


def _plain_similarity(
    a: Features, b: W._Member, mass_a: float, mass_b: float, cross: bool = False
) -> tuple[float, int, dict[str, float]]:
    joined = 0
    if cross:
        shared = {t for t in b.names if t in a.names}
        title_shared = {t for t in b.title if t in a.title and t in shared}
        if b.pairs and a.pairs:
            joined = sum(1 for p in b.pairs if p in a.pairs)
    else:
        shared = {t for t in b.words if t in a.words}
        title_shared = {t for t in b.title if t in a.title}
    if not shared:
        return 0.0, 0, {}
    w = W.weight
    got = math.fsum(map(w, shared)) + W.TITLE_BONUS * math.fsum(map(w, title_shared))
    overlap = got / max(min(mass_a, mass_b), 1.0)
    specific = sum(1 for t in shared if t[0] != "@")
    signals = {
        "words": float(sum(1 for t in shared if t[0] not in "@#")),
        "numbers": float(sum(1 for t in shared if t[0] == "#")),
        "concepts": float(sum(1 for t in shared if t[0] == "@")),
        "title": float(len(title_shared)),
    }
    if cross:
        signals["entities"] = float(max(specific - joined, 1 if specific else 0))
        twins = [t for t in shared if t[0] not in "@#" and t + "s" in shared]
        signals["twins"] = float(len(twins))
        signals["bare_twins"] = float(len([t for t in twins if t + "s" not in title_shared]))
        signals["title_names"] = float(len([t for t in title_shared if t[0] != "@"]))
    return min(overlap, 1.0), specific, signals


def _features(words: frozenset[str], title: frozenset[str], names: frozenset[str]) -> Features:
    pairs = frozenset(f"{x} {y}" for x in sorted(names)[:3] for y in sorted(names)[1:4] if x < y)
    return Features(words | title, title & (words | title), names & (words | title), pairs=pairs)


@settings(max_examples=300, deadline=None)
@given(_terms, _terms, _terms, _terms, _terms, _terms, st.booleans())
def test_similarity_is_the_plain_one(
    wa: frozenset[str],
    ta: frozenset[str],
    na: frozenset[str],
    wb: frozenset[str],
    tb: frozenset[str],
    nb: frozenset[str],
    cross: bool,
) -> None:
    a, fb = _features(wa, ta, na), _features(wb, tb, nb)
    b = W._Member(
        "de",
        W._compact(fb.words),
        W._compact(fb.title),
        W._compact(fb.names),
        0.0,
        0.0,
        W._compact(fb.pairs),
    )
    mass_a, mass_b = W._mass(a), W._mass(fb)
    assert W._mass(a) == math.fsum(map(W.weight, a.words)) + W.TITLE_BONUS * math.fsum(
        map(W.weight, a.title)
    )
    assert W._name_mass(a) == math.fsum(map(W.weight, a.names))
    assert W.similarity(a, b, mass_a, mass_b, cross) == _plain_similarity(
        a, b, mass_a, mass_b, cross
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(_terms, st.integers(0, 80)), min_size=1, max_size=60),
    _terms,
    st.integers(1, 6),
    st.integers(1, 8),
)
def test_candidates_are_the_plain_ones(
    stories: list[tuple[frozenset[str], int]], query: frozenset[str], cap: int, postings: int
) -> None:
    window = W.Window(W.Settings(max_candidates=cap, max_postings=postings, max_terms=6))
    for i, (words, hours) in enumerate(stories):
        e = StoryEntry(f"s{i:02d}", "", "", "de", T0 + timedelta(hours=hours / 10))
        f = Features(words, frozenset(), frozenset())
        window.add(e, f, Decision(f"story{i % 23:02d}", i < 23, 0.0, ""))
    f = Features(query, frozenset(), frozenset())
    got = window.candidates(f)
    assert [s.id for s in got] == [s.id for s in _plain_candidates(window, f)]


def _entry(i: int, title: str, summary: str, hours: float, language: str = "de") -> StoryEntry:
    return StoryEntry(f"e{i}", title, summary, language, T0 + timedelta(hours=hours))


_WORDS = ["Lithium", "Kobalt", "Peking", "Zölle", "13.000", "Minen", "Gericht", "Festnahme"]
_WORDS += ["arrested", "China", "tariffs", "2,5", "Brand", "Regierung", "court", "Bosch"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(_WORDS), min_size=1, max_size=6),
            st.lists(st.sampled_from(_WORDS), max_size=8),
            st.integers(-60, 60),
            st.sampled_from(["de", "en"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_decisions_are_those_of_the_plain_window(
    items: list[tuple[list[str], list[str], int, str]],
) -> None:
    """The whole path (``assign``, entries out of time order) with the fast helpers and with
    the plain candidates and similarity."""
    fast, plain = W.Window(), W.Window()
    saved = W.similarity, W.Window._candidates

    def plain_candidates(self: W.Window, specific: frozenset[str]) -> list[W.Story]:
        return _plain_candidates(self, Features(specific, frozenset(), frozenset()))

    for i, (title, summary, hours, language) in enumerate(items):
        e = _entry(i, " ".join(title), " ".join(summary), hours, language)
        got = W.assign(e, fast)
        try:
            W.similarity = _plain_similarity
            W.Window._candidates = plain_candidates  # type: ignore[method-assign]
            want = W.assign(e, plain)
        finally:
            W.similarity, W.Window._candidates = saved  # type: ignore[method-assign]
        assert got == want


_times = st.builds(
    lambda days, minutes, midnight: (
        T0 + timedelta(days=days) + (timedelta(0) if midnight else timedelta(minutes=minutes))
    ),
    st.integers(-4, 4),
    st.integers(1, 24 * 60 - 1),
    st.booleans(),
)


@settings(max_examples=500, deadline=None)
@given(_times, _times, _times)
def test_a_story_skipped_as_far_outside_the_span_is_outside_it(
    published: datetime, first: datetime, last: datetime
) -> None:
    """``decide`` skips a story when the entry is more than span + a day from it; ``_score``
    says "outside_span" for every such story (and the skip changes nothing else)."""
    s = W.Settings()
    first, last = min(first, last), max(first, last)
    far = s.span + W.DAY
    if not (published - first > far or last - published > far):
        return
    story = W.Story("x", first, last)
    e = StoryEntry("e", "Lithium", "", "de", published)
    f = extract(e)
    assert W._score(e, f, 1.0, story, s, 1.0) == (0.0, 0, {"outside_span": 1.0})


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "a#2", "a#02", "b#x", "b", "a#3#2"]), st.integers(0, 5)),
        min_size=1,
        max_size=40,
    )
)
def test_new_story_ids_are_the_first_free_ones(items: list[tuple[str, int]]) -> None:
    """New story ids start where the last search for the entry id stopped, and start lower
    when the stories below expire: the first id no story of the window has, as a search from
    the bare id finds it."""
    window = W.Window(W.Settings(span=timedelta(hours=2)))
    when = T0
    for entry_id, hours in items:
        when += timedelta(hours=hours)
        e = StoryEntry(entry_id, "", "", "de", when)
        window.expire(when)
        sid, n = entry_id, 1
        while sid in window.stories:
            n += 1
            sid = f"{entry_id}#{n}"
        assert window.new_story_id(e) == sid
        window.add(e, Features(frozenset(), frozenset(), frozenset()), Decision(sid, True, 0.0, ""))
