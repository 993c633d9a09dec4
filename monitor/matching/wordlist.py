"""The shipped list of common real words (``data/common_words.txt``, built from real news by
``tools/build_common_words.py``).

Fuzzy matching tolerates a typo of a rule's term, but a word that is itself common in real German
or English news is no typo: "Scheitern" is not "Scheelit", "Ausweitung" is not "Ausweisung". The
matcher never takes a listed word for a fuzzy variant; exact forms still match.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["COMMON_WORDS_PATH", "common_words"]

COMMON_WORDS_PATH = Path(__file__).with_name("data") / "common_words.txt"


@cache
def common_words() -> frozenset[str]:
    """The folded common words (read once per process)."""
    text = COMMON_WORDS_PATH.read_text(encoding="utf-8")
    return frozenset(w for w in text.splitlines() if w and not w.startswith("#"))
