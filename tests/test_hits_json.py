"""The hits' JSON as stored: written directly (``codec._hit_json``), it must be exactly what
``json.dumps`` of the hits' fields wrote before, so that stored rows, the web view and
PostgreSQL's jsonb read the same text; and the per-poll memo must not change it."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.model import Hit
from monitor.store.codec import decode_hits, encode_hits


def reference(hits: list[Hit]) -> str:
    """The encoding before the direct writer (``json.dumps`` of each hit's fields)."""
    items = [{f.name: getattr(h, f.name) for f in dataclasses.fields(Hit)} for h in hits]
    return json.dumps(items, ensure_ascii=False, allow_nan=False)


texts = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=30)
finite = st.floats(allow_nan=False, allow_infinity=False)
hits = st.builds(
    Hit,
    concept=texts,
    variant=texts,
    field=st.sampled_from(["title", "summary", "content"]),
    start=st.integers(min_value=0, max_value=10**6),
    end=st.integers(min_value=0, max_value=10**6),
    text=texts,
    similarity=st.one_of(finite, st.just(100.0), st.integers(0, 100)),
    kind=st.sampled_from(["term", "semantic"]),
    threshold=st.one_of(st.none(), finite, st.integers(0, 100)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(hits, max_size=5))
@example([Hit('a"b\\', "ä\n\x00\u2028", "title", 0, 5, "\ud800x", 99.5)])
@example([Hit("semantic", "Satz", "summary", 0, 0, "", 87.3, kind="semantic", threshold=80.0)])
@example([Hit("c", "v", "title", 1, 2, "t", 1e-7), Hit("c", "v", "title", 1, 2, "t", 1e22)])
def test_direct_encoding_is_json_dumps(hs: list[Hit]) -> None:
    expected = reference(hs)
    assert encode_hits(hs) == expected
    memo: dict[int, str] = {}
    assert encode_hits(hs, memo) == expected
    assert encode_hits(hs + hs, memo) == reference(hs + hs)  # from the memo the second time
    assert decode_hits(expected) == tuple(hs)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_as_before(bad: float) -> None:
    for hit in (
        Hit("c", "v", "title", 0, 1, "t", bad),
        Hit("c", "v", "title", 0, 1, "t", threshold=bad),
    ):
        with pytest.raises(ValueError, match="not JSON compliant"):
            encode_hits([hit])
