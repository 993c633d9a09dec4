"""Normalization: folding rules, equivalent spellings, and offsets back into the source text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.matching.text import (
    TOKEN_RE,
    fold,
    fold_utf8,
    fold_with_offsets,
    is_phrase_gap,
    tokens,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ausfuhrbeschränkung", "Ausfuhrbeschraenkung"),
        ("Lieferengpässe", "LIEFERENGPAESSE"),
        ("Straße", "Strasse"),
        ("GROẞE", "grosse"),
        ("Lösung", "Lo\u0308sung"),  # precomposed and decomposed umlaut
        ("Selten\u00aderden", "Seltenerden"),  # soft hyphen
        ("rare\u200bearth", "rareearth"),  # zero-width space
        ("Ｃｈｉｎａ", "china"),  # fullwidth compatibility forms
        ("ﬁnancial", "financial"),  # ligature
        ("Šefčovič", "Sefcovic"),  # other diacritics dropped
    ],
)
def test_equivalent_spellings_fold_alike(a: str, b: str) -> None:
    assert fold(a) == fold(b)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Cafe\u0301", "cafe"),  # already decomposed: nothing to normalize, a mark to drop
        ("„Zitat“ – Straße… Sel\u00adtene Erden", "„zitat“ – strasse... seltene erden"),
        ("„Zitat“ – Straße", "„zitat“ – strasse"),  # nothing to drop among the non-ASCII
        ("\U0001d400BC a\U0001e944b", "abc ab"),  # astral letter folded, astral mark dropped
        ("Ｃｈｉｎａ\u200b’s", "china’s"),
    ],
)
def test_fold_drops_marks_and_ignorables_wherever_they_are(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert fold_with_offsets(text).text == folded


def test_hyphen_space_and_joined_spellings_give_the_same_letters() -> None:
    spellings = ["Seltene-Erden", "Seltene Erden", "seltene\u2011erden", "SELTENE\u00a0ERDEN"]
    assert {"".join(tokens(fold(s))) for s in spellings} == {"seltenee" + "rden"}
    assert tokens(fold("rare-earth")) == tokens(fold("rare earth")) == ["rare", "earth"]


def test_tokens_split_on_punctuation_and_apostrophes() -> None:
    assert tokens(fold("China’s export-curbs, (2025)")) == ["china", "s", "export", "curbs", "2025"]


@pytest.mark.parametrize(
    ("gap", "joined"),
    [
        (" ", True),
        ("-", True),
        (" - ", True),
        ("\n", True),
        (". ", False),
        (", ", False),
        ("", False),
    ],
)
def test_phrase_gap(gap: str, joined: bool) -> None:
    assert is_phrase_gap(gap) is joined


@pytest.mark.parametrize(
    ("source", "token", "expected"),
    [
        ("Die Lösung für Exportkontrollen", "exportkontrollen", "Exportkontrollen"),
        ("Über Seltene Erden", "seltene", "Seltene"),
        ("Sel\u00adtene Erden", "seltene", "Sel\u00adtene"),
        ("Maßnahmen gegen Lieferengpässe", "lieferengpaesse", "Lieferengpässe"),
        ("Ｃｈｉｎａ heute", "china", "Ｃｈｉｎａ"),
        ("Cafe\u0301 und Kobalt", "cafe", "Cafe\u0301"),  # trailing mark stays with its letter
    ],
)
def test_source_span_points_at_the_original_characters(
    source: str, token: str, expected: str
) -> None:
    folded = fold_with_offsets(source)
    m = next(m for m in TOKEN_RE.finditer(folded.text) if m.group() == token)
    start, end = folded.source_span(*m.span())
    assert source[start:end] == expected


def test_source_span_rejects_empty_and_out_of_range_spans() -> None:
    folded = fold_with_offsets("Kobalt")
    with pytest.raises(ValueError):
        folded.source_span(3, 3)
    with pytest.raises(ValueError):
        folded.source_span(0, 99)


_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", categories=("L", "M", "N", "P", "Z", "S", "Cf")),
        st.sampled_from("äöüÄÖÜß\u00ad\u200b\u0308ﬁ½Ｃ-–"),
    ),
    max_size=60,
)


@given(_TEXT)
def test_offsets_version_folds_exactly_like_the_fast_path(text: str) -> None:
    assert fold_with_offsets(text).text == fold(text)
    assert fold_with_offsets(text, fold(text)) == fold_with_offsets(text)


def reference_fold(text: str) -> str:
    """``fold`` as it was before the per-character fast path (2026-12-03): the whole text
    normalized, its marks dropped, then case-folded."""
    from monitor.matching.text import _strip_marks

    return _strip_marks(unicodedata.normalize("NFKD", text)).casefold()


_ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0x10FFFF),  # surrogates too
        st.sampled_from("äöüÄÖÜßẞ\u00ad\u200b\u0308\u0301\u0323ﬁ½Ｃ-–„“’ΣσςİıǅKŉ"),
        st.characters(max_codepoint=0x7F),
    ),
    max_size=60,
)


@given(_ANY_TEXT)
def test_fold_is_the_reference_fold(text: str) -> None:
    assert fold(text) == reference_fold(text)
    assert fold_utf8(text) == (fold(text), fold(text).encode("utf-8", "surrogatepass"))


def test_fold_is_the_reference_fold_on_every_code_point() -> None:
    """Every assigned character (planes 0-3 and 14; planes 4-13 are unassigned, 15-16 private
    use, sampled) in runs of its neighbours (marks after letters, mixed scripts), both ways
    round."""
    starts = [*range(0, 0x32000, 64), *range(0xE0000, 0xE1000, 64), *range(0x32000, 0x110000, 4099)]
    for start in starts:
        run = "".join(map(chr, range(start, start + 64)))
        assert fold(run) == reference_fold(run), hex(start)
        assert fold("Ab" + run[::-1] + "cD") == reference_fold("Ab" + run[::-1] + "cD"), hex(start)


@given(_TEXT)
def test_every_token_maps_back_to_source_text_that_folds_to_it(text: str) -> None:
    folded = fold_with_offsets(text)
    for m in TOKEN_RE.finditer(folded.text):
        start, end = folded.source_span(*m.span())
        assert 0 <= start < end <= len(text)
        assert m.group() in fold(text[start:end])


def _origin_by_char(text: str) -> list[int]:
    """The source offset of every folded character, the slow obvious way."""
    from monitor.matching.text import fold_char

    return [i for i, c in enumerate(text) for _ in fold_char(c)]


@given(_TEXT)
def test_the_piecewise_offset_map_agrees_with_folding_char_by_char(text: str) -> None:
    folded = fold_with_offsets(text)
    assert [folded.origin(p) for p in range(len(folded.text))] == _origin_by_char(text)
