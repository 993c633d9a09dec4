"""Find candidate story groups for the seventh held-out story set, heldout7.jsonl (run once).

Selection only; it decides what is read, never a label. heldout5's candidates came through
shared rare words, heldout6's German-English candidates through a route that needs no rare word;
a set drawn by one route favours the signal that route measures. This selector draws by a mix
of the earlier routes, imported, not copied (v4/v5's rare-word scores, v6's DE->EN map, idf
cosine and best-partner groups), in six tranches printed in this order (items printed by an
earlier tranche are marked "*", already labelled; each tranche keeps only groups holding an item
no earlier tranche printed):

- ``R`` (``--rare C:S``, v5's route): single-link groups of pairs at most three days apart, from
  different publishers or languages, scoring C (German-English) or S (same language) on shared
  rare words (document frequency 40 or less), v4's ``fresh_groups``;
- ``X`` (``--cross C``, v6's route T): German-English pairs at most one calendar day apart with
  idf cosine C or more and no shared rare word (rare-word score under 5.5), best partner only;
- ``S`` (``--later-same L``, v5's hard-negative route): same-language pairs from any publisher
  more than two and at most six days apart scoring L or more on shared rare words;
- ``H`` (``--later-cross C``, v6's hard-negative route H): German-English pairs more than two and
  at most six calendar days apart with cosine C or more, best partner only;
- ``D`` and ``W`` (``--bilingual COS:CAP:S``, chosen on their count after R, X, S and H were
  labelled and held 11 German-English stories): German-English pairs at most one calendar day
  apart, best partner only, with idf cosine COS or more whether or not they share a rare word
  (D), or with v5's wide rare-word score (words in up to CAP items) S or more (W). Unlike the
  other tranches, a D or W group is kept when one of its items pairs with an earlier set's item
  (only the earlier sets' items themselves are left out), since that drop had removed nearly all
  the remaining same-story German-English pairs.

No sentence embedding and no clusterer is used. Items of the six earlier sets are left out, by
(corpus file, id) and by text hash; in R, X, S and H a group is dropped when one of its items
pairs with an earlier set's item (each route's own rule; X and H also under v5's rare-word rule,
as in v6).

``--count`` prints only the number of groups, German-English groups and records of each tranche
(used to fix each tranche's threshold before any of its items was read). ``--set`` leaves out the
records of the feed-scraped commentary publishers (``FEEDS``; decided after labelling, see
ORIGIN.md): the set is every record ``--set`` prints except those labelled out. As run
(ORIGIN.md, "heldout7"):

    python tests/data/stories/select_candidates_v7.py ../shared/corpus/news --rare 5.5:12 \
        --cross 0.06 --later-same 20 --later-cross 0.12 --count
    python tests/data/stories/select_candidates_v7.py ../shared/corpus/news --rare 5.5:12 \
        --cross 0.06 --later-same 20 --later-cross 0.12 > /tmp/c7.txt
    python tests/data/stories/select_candidates_v7.py ../shared/corpus/news --rare 5.5:12 \
        --cross 0.06 --later-same 20 --later-cross 0.12 --bilingual 0.12:300:14
    python tests/data/stories/select_candidates_v7.py ../shared/corpus/news --rare 5.5:12 \
        --cross 0.06 --later-same 20 --later-cross 0.12 --bilingual 0.10:300:14
    python tests/data/stories/select_candidates_v7.py ../shared/corpus/news --rare 5.5:12 \
        --cross 0.06 --later-same 20 --later-cross 0.12 --bilingual 0.10:300:14 --set
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
# v4 and v5 read their scores from sys.argv at import; this selector takes its own options.
ARGV, sys.argv[2:] = sys.argv[1:], []
from tests.data.stories import select_candidates_v4 as v4  # noqa: E402
from tests.data.stories import select_candidates_v5 as v5  # noqa: E402
from tests.data.stories import select_candidates_v6 as v6  # noqa: E402

# The six earlier sets: their items are left out (v6.load also by text hash), and groups
# touching them are dropped. v6 already added heldout5.
v4.DONE = [*v4.DONE, Path(__file__).with_name("heldout6.jsonl")]
# Feed-scraped commentary publishers whose records are left out of the set (``--set``): their
# records are mostly titles with empty summaries (market commentary, fund notes, flat tours).
FEEDS = {"Seeking Alpha", "MarketScreener (de)", "sharedeals.de", "Visual Capitalist", "AD Magazin"}


def tranches(
    news: Path, rare: tuple[float, float], cross: float, later_same: float, later_cross: float
) -> tuple[list[v4.Item], dict[tuple[int, int], float], list[tuple[str, list[list[int]]]]]:
    """The items, their rare-word pair scores and tranches R, X, S, H (each group holds an item
    no earlier tranche holds)."""
    items, score = v6.load(news)
    vecs = v6.weights(items)
    out: list[tuple[str, list[list[int]]]] = []
    shown: set[int] = set()

    def add(kind: str, groups: list[list[int]]) -> None:
        fresh = [g for g in groups if set(g) - shown]
        out.append((kind, fresh))
        shown.update(i for g in fresh for i in g)

    add("R", v4.fresh_groups(items, score, rare[0], rare[1]))
    pairs = [
        (c, a, b)
        for c, a, b in v6.cross_pairs(items, vecs, 0, 1, cross)
        if score.get((min(a, b), max(a, b)), 0.0) < v6.RARE_CROSS
    ]
    add("X", v6.best_partner_groups(items, pairs, score))
    add("S", v5.later_groups(items, score, later_same))
    add("H", v6.best_partner_groups(items, v6.cross_pairs(items, vecs, 3, 6, later_cross), score))
    return items, score, out


def fresh_best_partner(
    items: list[v4.Item], pairs: list[tuple[float, int, int]]
) -> list[list[int]]:
    """Best-partner groups of pairs of fresh items, with no earlier-set drop (only the earlier
    sets' items themselves are left out)."""
    fresh = [(c, a, b) for c, a, b in pairs if not items[a][5] and not items[b][5]]
    return v6.best_partner_groups(items, fresh, {})


def bilingual_tranches(
    items: list[v4.Item], shown: set[int], cosine: float, wide: tuple[int, float]
) -> list[tuple[str, list[list[int]]]]:
    """Tranches D and W: German-English pairs at most one calendar day apart, groups kept even
    when an item pairs with an earlier set's item. D: idf cosine ``cosine`` or more (shared rare
    words allowed). W: v5's wide rare-word score (words in up to CAP items) S or more. Each
    group holds an item no earlier tranche holds."""
    vecs = v6.weights(items)
    out: list[tuple[str, list[list[int]]]] = []
    seen = set(shown)
    d = fresh_best_partner(items, v6.cross_pairs(items, vecs, 0, 1, cosine))
    d = [g for g in d if set(g) - seen]
    out.append(("D", d))
    seen.update(i for g in d for i in g)
    cap, least = wide
    pairs = [
        (s, a, b)
        for (a, b), s in v5.wide_scores(items, cap).items()
        if s >= least and abs((v6.day(items[a]) - v6.day(items[b])).days) <= 1
    ]
    out.append(("W", [g for g in fresh_best_partner(items, pairs) if set(g) - seen]))
    return out


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("news", type=Path)
    p.add_argument("--rare", default="5.5:12")
    p.add_argument("--cross", type=float, default=0.06)
    p.add_argument("--later-same", type=float, default=20.0)
    p.add_argument("--later-cross", type=float, default=0.12)
    p.add_argument("--bilingual", default=None, help="COSINE:CAP:SCORE for tranches D and W")
    p.add_argument("--set", dest="final", action="store_true", help="leave out FEEDS records")
    p.add_argument("--count", action="store_true")
    a = p.parse_args(argv)
    c, s = (float(x) for x in a.rare.split(":"))
    items, _, out = tranches(a.news, (c, s), a.cross, a.later_same, a.later_cross)
    if a.bilingual is not None:
        cos, cap, least = a.bilingual.split(":")
        printed = {i for _, groups in out for g in groups for i in g}
        out += bilingual_tranches(items, printed, float(cos), (int(cap), float(least)))
    if a.final:
        # The set (ORIGIN.md, "heldout7"): no record of the feed-scraped commentary publishers;
        # a label "OUT" still leaves a printed record out.
        out = [
            (
                kind,
                [
                    k
                    for k in ([i for i in g if items[i][0]["source"] not in FEEDS] for g in groups)
                    if k
                ],
            )
            for kind, groups in out
        ]
    shown: set[int] = set()
    for kind, groups in out:
        new = sum(len(set(g) - shown) for g in groups)
        if a.count:
            both = sum(1 for g in groups if v4.bilingual(items, g))
            print(f"tranche {kind}: {len(groups)} groups, {both} German-English, "
                  f"{sum(len(g) for g in groups)} records, {new} not printed before")  # fmt: skip
        else:
            for k, g in enumerate(groups):
                print(f"=== {kind} group {k} ({len(g)} items)")
                for i in g:
                    d, title, summary, when, _, _, name = items[i]
                    mark = "*" if i in shown else ""
                    print(f"{mark}{d['id']} {name.removesuffix('.jsonl')} {d['language']} "
                          f"{when:%Y-%m-%d %H:%M} [{d['source']}] {title} || "
                          f"{summary[:400]}")  # fmt: skip
        shown.update(i for g in groups for i in g)


if __name__ == "__main__":
    main(ARGV)
