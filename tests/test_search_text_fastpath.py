"""The search index's text built from per-field tokens (``folded_tokens``, shared with the story
layer) is the text folded and tokenized as one string, as it was stored before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.matching import text as T
from monitor.store.search_index import indexed_text

# Letters, digits, separators, umlauts, marks that fold drops or spells out (also at a field's
# start or end), ignorables, compatibility forms, final sigma, a lone surrogate.
_chars = st.sampled_from(
    [
        *"aZ09_ -.\n\t\x00äÖßÉ",
        *("\u0301", "\u0308", "\u00ad", "\u200b", "ﬁ", "Σ", "ς", "①"),
        *("\ud800", "\U0001d400", "\U000e0100", "\u0915\u093e", "İ"),
    ]
)
_field = st.lists(_chars, max_size=30).map("".join)


@settings(max_examples=1000, deadline=None)
@given(_field, _field, _field, st.booleans())
def test_indexed_text_is_the_text_folded_as_one(
    title: str, summary: str, content: str, warm: bool
) -> None:
    if not warm:
        T._FOLDED_TOKENS.clear()
    want = " ".join(T.tokens(T.fold(f"{title}\n{summary}\n{content}")))
    assert indexed_text(title, summary, content) == want
    assert indexed_text(title, summary, content) == want  # from the memo


def test_the_memo_is_bounded() -> None:
    T._FOLDED_TOKENS.clear()
    for i in range(T.FOLDED_MEMO_LIMIT + 10):
        assert T.folded_tokens(f"Wort {i}") == ("wort", str(i))
    assert len(T._FOLDED_TOKENS) <= T.FOLDED_MEMO_LIMIT
