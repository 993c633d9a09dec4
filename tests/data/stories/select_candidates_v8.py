"""Find candidate story groups for the eighth held-out story set, heldout8.jsonl (run once).

Selection only; it decides what is read, never a label. Like v7, it draws by a mix of the
earlier routes, imported, not copied (v4/v5's rare-word scores and groups, v6's DE->EN map, idf
cosine and best-partner groups, v7's fresh best-partner groups and feed publishers), so that the
set favours no single signal. Tranches, printed in this order (items printed by an earlier
tranche are marked "*", already labelled; each tranche keeps only groups holding an item no
earlier tranche printed):

- ``R`` (``--rare C:S``, v5's route): single-link groups of pairs at most three days apart, from
  different publishers or languages, scoring C (German-English) or S (same language) on shared
  rare words, v4's ``fresh_groups`` (groups touching an earlier set dropped);
- ``X`` (``--cross C``, v6's route T): German-English pairs at most one calendar day apart with
  idf cosine C or more and no shared rare word (rare-word score under 5.5), best partner only
  (groups touching an earlier set dropped);
- ``S`` (``--later-same L``, v5's hard-negative route): same-language pairs more than two and at
  most six days apart scoring L or more on shared rare words (groups touching an earlier set
  dropped);
- ``H`` (``--later-cross C``, v6's hard-negative route H): German-English pairs more than two and
  at most six calendar days apart with cosine C or more, best partner only (groups touching an
  earlier set dropped);
- ``D`` and ``W`` (``--bilingual COS:CAP:S``, v7's routes): German-English pairs at most one
  calendar day apart, best partner only, with idf cosine COS or more whether or not they share a
  rare word (D), or with v5's wide rare-word score (words in up to CAP items) S or more (W); as
  in v7, a D or W group is kept when one of its items pairs with an earlier set's item (only the
  earlier sets' items themselves are left out).

Unlike v7, all six tranches are fixed together, by their counts, before any item is read, and
the records of v7's feed-scraped commentary publishers (``v7.FEEDS``: mostly title-only market
and fund commentary) are left out before any pair is formed (they take part in no pair and no
group; decided before counting, not after labelling as in v7). No sentence embedding and no
clusterer is used. Items of the seven earlier sets (labels.jsonl, heldout2..heldout7) are left
out, by (corpus file, id) and by text hash.

``--count`` prints only the number of groups, German-English groups and records of each tranche
(used to fix the thresholds before any item was read). As run (ORIGIN.md, "heldout8"):

    python tests/data/stories/select_candidates_v8.py ../shared/corpus/news --count --rare 5.5:8 \
        --cross 0.05 --later-same 16 --later-cross 0.09 --bilingual 0.07:300:10
    python tests/data/stories/select_candidates_v8.py ../shared/corpus/news --rare 5.5:8 \
        --cross 0.05 --later-same 16 --later-cross 0.09 --bilingual 0.07:300:10 > /tmp/c8.txt

(the other counted settings are in ORIGIN.md). The set is every record that run prints, except
those labelled out.
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
from tests.data.stories import select_candidates_v7 as v7  # noqa: E402

# The seven earlier sets: v7 left out labels.jsonl and heldout2..heldout6; add heldout7.
v4.DONE = [*v4.DONE, Path(__file__).with_name("heldout7.jsonl")]

Pairs = list[tuple[float, int, int]]


def tranches(
    news: Path,
    rare: tuple[float, float],
    cross: float,
    later_same: float,
    later_cross: float,
    bilingual: tuple[float, int, float],
) -> tuple[list[v4.Item], list[tuple[str, list[list[int]]]]]:
    """The items and tranches R, X, S, H, D, W (each group holds an item no earlier tranche
    holds). Fresh records of ``v7.FEEDS`` take part in no pair."""
    items, score = v6.load(news)
    feed = {i for i, it in enumerate(items) if it[0]["source"] in v7.FEEDS and not it[5]}
    score = {k: s for k, s in score.items() if k[0] not in feed and k[1] not in feed}
    vecs = v6.weights(items)

    def keep(pairs: Pairs) -> Pairs:
        return [(c, a, b) for c, a, b in pairs if a not in feed and b not in feed]

    out: list[tuple[str, list[list[int]]]] = []
    shown: set[int] = set()

    def add(kind: str, groups: list[list[int]]) -> None:
        fresh = [g for g in groups if set(g) - shown]
        out.append((kind, fresh))
        shown.update(i for g in fresh for i in g)

    add("R", v4.fresh_groups(items, score, rare[0], rare[1]))
    near = keep(v6.cross_pairs(items, vecs, 0, 1, min(cross, bilingual[0])))
    x = [
        (c, a, b)
        for c, a, b in near
        if c >= cross and score.get((min(a, b), max(a, b)), 0.0) < v6.RARE_CROSS
    ]
    add("X", v6.best_partner_groups(items, x, score))
    add("S", v5.later_groups(items, score, later_same))
    later = keep(v6.cross_pairs(items, vecs, 3, 6, later_cross))
    add("H", v6.best_partner_groups(items, later, score))
    cos, cap, least = bilingual
    add("D", v7.fresh_best_partner(items, [p for p in near if p[0] >= cos]))
    wide = [
        (s, a, b)
        for (a, b), s in v5.wide_scores(items, cap).items()
        if s >= least and abs((v6.day(items[a]) - v6.day(items[b])).days) <= 1
    ]
    add("W", v7.fresh_best_partner(items, keep(wide)))
    return items, out


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("news", type=Path)
    p.add_argument("--rare", default="5.5:12")
    p.add_argument("--cross", type=float, default=0.06)
    p.add_argument("--later-same", type=float, default=20.0)
    p.add_argument("--later-cross", type=float, default=0.12)
    p.add_argument("--bilingual", default="0.10:300:14", help="COSINE:CAP:SCORE for D and W")
    p.add_argument("--count", action="store_true")
    a = p.parse_args(argv)
    c, s = (float(x) for x in a.rare.split(":"))
    cos, cap, least = a.bilingual.split(":")
    items, out = tranches(
        a.news, (c, s), a.cross, a.later_same, a.later_cross, (float(cos), int(cap), float(least))
    )
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
