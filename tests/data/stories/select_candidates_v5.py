"""Find candidate story groups for the fifth held-out story set, heldout5.jsonl (run once).

Selection only, built on select_candidates_v4.py (imported, not copied): items of 2025-2026 at
most three days apart, from different publishers or languages, sharing rare words weighted by
inverse frequency, single-link groups. Changes for a fifth fresh set: every item of
labels.jsonl, heldout2.jsonl, heldout3.jsonl and heldout4.jsonl is left out, and a candidate
group is dropped when one of its items pairs (same rule, same score) with an item of any of the
four; a few more German/English spellings are mapped (``V5_SAME``, fixed before any item was
read). Two more tranches, printed after the first (items printed before are marked "*", already
labelled):

- ``--later L`` (likely hard negatives, chosen with the first tranche before any item was read):
  groups of same-language pairs, from any publisher, published more than two and at most six
  days apart, that score at least L on shared rare words (names), so that an event and its
  follow-up days later, or two rounds of one dispute, are read side by side;
- ``--wide CAP:S`` (more German-English stories, chosen on its count after the first two
  tranches were labelled and held 19 German-English stories): German-English groups scored
  with words found in up to CAP items instead of 40 (names such as Gaza, Hamas, Starmer), at
  score S or more, that hold an item neither earlier tranche printed.

The selector never decides a label. ``--count`` prints only the number of groups, of
German-English groups and of records (used to choose the thresholds before a tranche was
read); with ``--second S`` (v4's), ``--later L`` or ``--wide CAP:S`` it counts that tranche. As
run (ORIGIN.md, "heldout5"):

    python tests/data/stories/select_candidates_v5.py ../shared/corpus/news 5.5 14 --count
    python tests/data/stories/select_candidates_v5.py ../shared/corpus/news 5.5 14 > /tmp/c5.txt
    python tests/data/stories/select_candidates_v5.py ../shared/corpus/news 5.5 14 --later 25
    python tests/data/stories/select_candidates_v5.py ../shared/corpus/news 5.5 14 --wide 300:12
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from monitor.matching.text import fold, tokens
from tests.data.stories import select_candidates_v4 as v4
from tests.data.stories.select_candidates import SAME, STOP

# The four earlier sets: their items are left out, and groups touching them are dropped.
v4.DONE = [*v4.DONE, Path(__file__).with_name("heldout4.jsonl")]
# Added for heldout5, fixed before any item was read: German plural/inhabitant nouns and a few
# event nouns whose English is one word.
V5_SAME = {
    "russen": "russia", "ukrainer": "ukraine", "amerikaner": "us", "chinesen": "china",
    "iraner": "iran", "israelis": "israel", "briten": "britain", "franzosen": "france",
    "polizei": "police", "armee": "army", "militaer": "military", "flughafen": "airport",
    "flughaefen": "airports", "hafen": "port", "schiff": "ship", "schiffe": "ships",
    "flugzeug": "plane", "brand": "fire", "feuer": "fire", "tote": "dead", "opfer": "victims",
    "verletzte": "injured", "explosionen": "explosions", "abstimmung": "vote",
    "gesetz": "law", "verbot": "ban", "einigung": "deal", "waffen": "weapons",
    "waffenlieferungen": "weapons", "regierung": "government", "ministerpraesident":
    "primeminister", "premierminister": "primeminister", "botschafter": "ambassador",
    "botschaft": "embassy", "praesidentschaftswahl": "election", "parlamentswahl": "election",
    "wahlsieg": "election", "wahlsieger": "election", "anklage": "charges",
    "angeklagt": "charged", "prozess": "trial", "gefaengnis": "prison", "haft": "prison",
    "ermittlungen": "investigation", "zentralbankchef": "centralbank", "fed": "fed",
    "notenbankchef": "centralbank", "rohoel": "oil", "erdgas": "gas", "lithium": "lithium",
    "nickel": "nickel", "zoelle": "tariffs", "exportstopp": "exportban",
    "exportverbot": "exportban", "zollabkommen": "tradedeal", "handelsabkommen": "tradedeal",
}  # fmt: skip
_ARGS = [a for a in sys.argv[2:4] if not a.startswith("--")]
CROSS = float(_ARGS[0]) if _ARGS else 5.5
SAME_LANGUAGE = float(_ARGS[1]) if len(_ARGS) > 1 else 14.0
DAY = 86400
LATER = 25.0  # the --later score as run (ORIGIN.md, "heldout5")


def words(text: str) -> set[str]:
    out = set()
    for t in tokens(fold(text)):
        if len(t) < 3 and not t.isdigit():
            continue
        if t in STOP:
            continue
        t = SAME.get(t, t)
        t = v4.MORE_SAME.get(t, t)
        t = v4.V4_SAME.get(t, t)
        out.add(V5_SAME.get(t, t))
    return out


v4.words = words  # v4.scored_items tokenizes with the module's ``words``


def later_groups(
    items: list[v4.Item], score: dict[tuple[int, int], float], later_min: float
) -> list[list[int]]:
    """Single-link groups of same-language pairs 2-6 days apart scoring ``later_min`` or more,
    none touching an item of the four earlier sets (likely same-topic different events)."""
    pairs = []
    near_done: set[int] = set()
    for (a, b), s in score.items():
        da, db = items[a], items[b]
        gap = abs((da[3] - db[3]).total_seconds())
        if not 2 * DAY < gap <= 6 * DAY or da[0]["language"][:2] != db[0]["language"][:2]:
            continue
        if s >= later_min:
            if da[5] or db[5]:
                near_done.update(x for x in (a, b) if not items[x][5])
            else:
                pairs.append((a, b))
    parent = list(range(len(items)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    groups: dict[int, set[int]] = defaultdict(set)
    for a, b in pairs:
        groups[find(a)].update((a, b))
    fresh = [
        sorted(g, key=lambda i: (items[i][3], items[i][0]["id"]))
        for g in groups.values()
        if not near_done & g
    ]
    return sorted(fresh, key=lambda g: (items[g[0]][3], items[g[0]][0]["id"]))


def wide_scores(items: list[v4.Item], cap: int) -> dict[tuple[int, int], float]:
    """German-English pair scores as v4's, but counting words in up to ``cap`` items (not 40)."""
    df: dict[str, int] = defaultdict(int)
    for it in items:
        for w in it[4]:
            df[w] += 1
    post: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        for w in it[4]:
            if 2 <= df[w] <= cap:
                post[w].append(i)
    score: dict[tuple[int, int], float] = defaultdict(float)
    for w, ids in post.items():
        idf = math.log(len(items) / df[w])
        for a in ids:
            for b in ids:
                if a < b and items[a][0]["language"][:2] != items[b][0]["language"][:2]:
                    score[(a, b)] += idf
    return score


def main(
    news: Path, count_only: bool, second: float | None, later: float | None, wide: str | None
) -> None:
    if wide is not None:
        # Third tranche: German-English groups from pairs scored with words in up to CAP items,
        # at score S or more, that hold an item neither earlier tranche printed.
        cap, least = wide.split(":")
        items, score = v4.scored_items(news)
        shown = {i for g in v4.fresh_groups(items, score, CROSS, SAME_LANGUAGE) for i in g}
        shown |= {i for g in later_groups(items, score, LATER) for i in g}
        wide_score = wide_scores(items, int(cap))
        groups = [
            g
            for g in v4.fresh_groups(items, wide_score, float(least), math.inf)
            if v4.bilingual(items, g) and set(g) - shown
        ]
        if count_only:
            new = sum(len(set(g) - shown) for g in groups)
            print(f"wide tranche at {wide}: {len(groups)} groups, "
                  f"{sum(len(g) for g in groups)} records, {new} not printed before")  # fmt: skip
            return
        _print(items, groups, shown, "wide group")
        return
    if later is None:
        v4.CROSS, v4.SAME_LANGUAGE = CROSS, SAME_LANGUAGE
        v4.main(news, count_only, second)
        return
    items, score = v4.scored_items(news)
    shown = {i for g in v4.fresh_groups(items, score, CROSS, SAME_LANGUAGE) for i in g}
    groups = [g for g in later_groups(items, score, later) if set(g) - shown]
    if count_only:
        new = sum(len(set(g) - shown) for g in groups)
        print(f"later tranche at {later:g}: {len(groups)} groups, "
              f"{sum(len(g) for g in groups)} records, {new} not printed before")  # fmt: skip
        return
    _print(items, groups, shown, "later group")


def _print(items: list[v4.Item], groups: list[list[int]], shown: set[int], kind: str) -> None:
    for k, g in enumerate(groups):
        print(f"=== {kind} {k} ({len(g)} items)")
        for i in g:
            d, title, summary, when, _, _, name = items[i]
            mark = "*" if i in shown else ""
            print(f"{mark}{d['id']} {name.removesuffix('.jsonl')} {d['language']} "
                  f"{when:%Y-%m-%d %H:%M} [{d['source']}] {title} || {summary[:400]}")  # fmt: skip


if __name__ == "__main__":
    rest = sys.argv[2:]
    lower = float(rest[rest.index("--second") + 1]) if "--second" in rest else None
    days = float(rest[rest.index("--later") + 1]) if "--later" in rest else None
    wide = rest[rest.index("--wide") + 1] if "--wide" in rest else None
    main(Path(sys.argv[1]), "--count" in rest, lower, days, wide)
