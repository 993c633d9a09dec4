"""Scoring of main-text extraction against the gold of ``../shared/corpus/articles`` (pure).

The gold of each page is a list of snippets that belong to the main text (``with``) and of
snippets that must not be extracted (``without``: navigation, footers, comments), as in the
trafilatura project's own evaluation. Two measures:

- **snippet level** (trafilatura's): a ``with`` snippet found in the extracted text is a true
  positive, one missing a false negative; a ``without`` snippet found is a false positive.
- **token level**: the same counted in word 3-grams, so a snippet extracted with one word
  changed or cut at a line break still counts for most of its tokens. A ``with`` snippet's
  3-grams found are true positives, missing ones false negatives; a ``without`` snippet's
  3-grams found are false positives.

The gold is snippets, not the whole article body: precision here is "boilerplate kept out",
measured on the boilerplate the gold names, not on every word of the page.

Text is compared after Unicode NFKC, case folding and collapsing whitespace.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GoldPage", "Score", "load_gold", "norm", "score_page", "total"]

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def norm(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _grams(text: str) -> list[tuple[str, ...]]:
    words = _WORD.findall(text)
    if len(words) < 3:
        return [tuple(words)] if words else []
    return [tuple(words[i : i + 3]) for i in range(len(words) - 2)]


@dataclass(frozen=True, slots=True)
class GoldPage:
    page: Path
    url: str
    language: str
    with_: tuple[str, ...]
    without: tuple[str, ...]
    title: str = ""


@dataclass(frozen=True, slots=True)
class Score:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0
    token_tp: int = 0
    token_fn: int = 0
    token_fp: int = 0

    def __add__(self, other: Score) -> Score:
        return Score(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))

    @staticmethod
    def _prf(tp: int, fn: int, fp: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f

    @property
    def snippet(self) -> tuple[float, float, float]:
        """Precision, recall, F1 over snippets."""
        return self._prf(self.tp, self.fn, self.fp)

    @property
    def token(self) -> tuple[float, float, float]:
        """Precision, recall, F1 over word 3-grams of the snippets."""
        return self._prf(self.token_tp, self.token_fn, self.token_fp)


def load_gold(articles: Path) -> list[GoldPage]:
    pages = []
    with (articles / "gold.jsonl").open(encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            pages.append(
                GoldPage(
                    articles / d["page"],
                    d["url"],
                    d["language"],
                    tuple(d.get("with") or ()),
                    tuple(d.get("without") or ()),
                    d.get("title") or "",
                )
            )
    return pages


def score_page(gold: GoldPage, extracted: str | None) -> Score:
    text = norm(extracted or "")
    found = set(_grams(text))
    tp = fn = fp = tn = ttp = tfn = tfp = 0
    for snippet in gold.with_:
        s = norm(snippet)
        if s and s in text:
            tp += 1
        else:
            fn += 1
        for g in _grams(s):
            if g in found:
                ttp += 1
            else:
                tfn += 1
    for snippet in gold.without:
        s = norm(snippet)
        if s and s in text:
            fp += 1
        else:
            tn += 1
        tfp += sum(1 for g in _grams(s) if g in found)
    return Score(tp, fn, fp, tn, ttp, tfn, tfp)


def total(scores: Iterable[Score]) -> Score:
    out = Score()
    for s in scores:
        out = out + s
    return out


def by_language(pages: Sequence[GoldPage], scores: Sequence[Score]) -> dict[str, Score]:
    out: dict[str, Score] = {}
    for page, s in zip(pages, scores, strict=True):
        out[page.language] = out.get(page.language, Score()) + s
    out["all"] = total(scores)
    return out
