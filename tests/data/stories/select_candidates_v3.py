"""Find candidate story groups for the third held-out story set, heldout3.jsonl (run once).

Selection only, like select_candidates_v2.py (items of 2025-2026 at most three days apart, from
different publishers or languages, sharing rare words weighted by inverse frequency, single-link
groups), with these changes for a third fresh set: every item of labels.jsonl and heldout2.jsonl
is left out; a candidate group is dropped when one of its items pairs (same rule, same score)
with an item of either set, so that the groups printed are events neither set holds; more
German/English spellings of names and a few common nouns are mapped (``MORE_SAME``) so that
cross-language pairs surface; a German-English pair needs the score given as the second argument
(default 7.5, not 10) and a same-language pair the third (default 18, not 22), as the first two
sets took nearly all strong pairs (at 10 / 22 only 6 groups are left).

``--count`` prints only the number of groups and of German-English groups (used to choose the
thresholds before any item was read). ``--second S`` prints a second tranche: the German-English
groups at a German-English score of S that hold an item the first run did not print (items it
did print are marked "*"). Groups are printed with their text for the person labelling; the
selector never decides a label.

    python tests/data/stories/select_candidates_v3.py ../shared/corpus/news 7.5 18 --count
    python tests/data/stories/select_candidates_v3.py ../shared/corpus/news 7.5 18 > /tmp/c3.txt
    python tests/data/stories/select_candidates_v3.py ../shared/corpus/news 7.5 18 --second 7
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from monitor.matching.text import fold, tokens
from tests.data.stories.select_candidates import FILES, SAME, STOP
from tests.test_eval import excerpt

DONE = [Path(__file__).with_name("labels.jsonl"), Path(__file__).with_name("heldout2.jsonl")]
MORE_SAME = {
    "moskau": "moscow", "kiew": "kyiv", "kyjiw": "kyiv", "kiev": "kyiv", "bruessel": "brussels",
    "trumps": "trump", "putins": "putin", "syrien": "syria", "syrian": "syria",
    "aegypten": "egypt", "egyptian": "egypt", "polen": "poland", "polish": "poland",
    "daenemark": "denmark", "danish": "denmark", "groenland": "greenland",
    "groenlands": "greenland", "italien": "italy", "italian": "italy", "spanien": "spain",
    "spanish": "spain", "schweiz": "switzerland", "swiss": "switzerland",
    "oesterreich": "austria", "austrian": "austria", "niederlande": "netherlands",
    "dutch": "netherlands", "belgien": "belgium", "belgian": "belgium", "schweden": "sweden",
    "swedish": "sweden", "norwegen": "norway", "norwegian": "norway", "finnland": "finland",
    "finnish": "finland", "griechenland": "greece", "greek": "greece", "ungarn": "hungary",
    "hungarian": "hungary", "tschechien": "czech", "rumaenien": "romania",
    "romanian": "romania", "serbien": "serbia", "serbian": "serbia", "kanada": "canada",
    "canadian": "canada", "mexiko": "mexico", "mexican": "mexico", "brasilien": "brazil",
    "brazilian": "brazil", "argentinien": "argentina", "argentine": "argentina",
    "kolumbien": "colombia", "colombian": "colombia", "kuba": "cuba", "cuban": "cuba",
    "suedkorea": "southkorea", "nordkorea": "northkorea", "australien": "australia",
    "australian": "australia", "suedafrika": "southafrica", "libanon": "lebanon",
    "lebanese": "lebanon", "irak": "iraq", "iraqi": "iraq", "jemen": "yemen", "hisbollah":
    "hezbollah", "aethiopien": "ethiopia", "kongo": "congo", "europa": "europe",
    "netanjahu": "netanyahu", "papst": "pope", "vatikan": "vatican", "ezb": "ecb",
    "erdbeben": "earthquake", "sanktionen": "sanctions", "zentralbank": "centralbank",
    "notenbank": "centralbank", "drohnen": "drones", "drohne": "drones", "drone": "drones",
    "seltene": "rare", "erden": "earths", "wahlen": "election", "elections": "election",
    "venezolanische": "venezuela", "venezuelan": "venezuela", "maduros": "maduro",
    "japanische": "japan", "taiwans": "taiwan", "taiwanese": "taiwan", "chinas": "china",
    "amerikanische": "us", "american": "us", "britische": "britain", "londons": "london",
    "thailand": "thailand", "kambodscha": "cambodia", "cambodian": "cambodia",
    "thailaendische": "thailand", "thai": "thailand", "nigerianische": "nigeria",
    "nigerian": "nigeria", "afghanische": "afghanistan", "afghan": "afghanistan",
    "pakistanische": "pakistan", "pakistani": "pakistan", "indonesien": "indonesia",
    "indonesian": "indonesia", "philippinen": "philippines", "philippine": "philippines",
    "neuseeland": "newzealand", "katar": "qatar", "qatari": "qatar", "saudi": "saudiarabia",
    "saudiarabien": "saudiarabia", "saudischen": "saudiarabia", "weisse": "white",
    "weissen": "white", "hauses": "house", "haus": "house", "zentralafrika": "centralafrica",
}  # fmt: skip
# An item: record, title, summary, date, words, whether in the first two sets, corpus file.
Item = tuple[dict[str, Any], str, str, datetime, set[str], bool, str]
# Score a pair needs: German-English (second argument, default 7.5), same language (third, 18).
_ARGS = [a for a in sys.argv[2:4] if not a.startswith("--")]
CROSS = float(_ARGS[0]) if _ARGS else 7.5
SAME_LANGUAGE = float(_ARGS[1]) if len(_ARGS) > 1 else 18.0


def words(text: str) -> set[str]:
    out = set()
    for t in tokens(fold(text)):
        if len(t) < 3 and not t.isdigit():
            continue
        if t in STOP:
            continue
        t = SAME.get(t, t)
        out.add(MORE_SAME.get(t, t))
    return out


def scored_items(news: Path) -> tuple[list[Item], dict[tuple[int, int], float]]:
    """The items of 2025-2026 (excerpt, words, whether in the first two sets) and pair scores."""
    done = set()
    for path in DONE:
        for line in path.read_text(encoding="utf-8").splitlines():
            w = json.loads(line)
            done.add((w["source"].rsplit("/", 1)[-1].removesuffix(".jsonl"), w["id"]))
    items: list[Item] = []
    for name in FILES:
        for line in (news / name).read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            if not d["date"].startswith(("2025", "2026")):
                continue
            title, summary = excerpt(d)
            when = datetime.fromisoformat(d["date"].replace("Z", "+00:00"))
            seen = (name.removesuffix(".jsonl"), d["id"]) in done
            items.append((d, title, summary, when, words(f"{title} {summary}"), seen, name))
    df: dict[str, int] = defaultdict(int)
    for it in items:
        for w in it[4]:
            df[w] += 1
    n = len(items)
    post: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        for w in it[4]:
            if 2 <= df[w] <= 40:
                post[w].append(i)
    score: dict[tuple[int, int], float] = defaultdict(float)
    for w, ids in post.items():
        idf = math.log(n / df[w])
        for a in ids:
            for b in ids:
                if a < b:
                    score[(a, b)] += idf
    return items, score


def fresh_groups(
    items: list[Item], score: dict[tuple[int, int], float], cross_min: float, same_min: float
) -> list[list[int]]:
    """Single-link groups of pairs above the scores, none touching an item of the first two sets."""
    n = len(items)
    pairs = []
    near_done: set[int] = set()
    for (a, b), s in score.items():
        da, db = items[a], items[b]
        if abs((da[3] - db[3]).total_seconds()) > 3 * 86400:
            continue
        cross = da[0]["language"][:2] != db[0]["language"][:2]
        if da[0]["source"] == db[0]["source"] and not cross:
            continue
        if s >= (cross_min if cross else same_min):
            if da[5] or db[5]:
                near_done.update(x for x in (a, b) if not items[x][5])
            else:
                pairs.append((s, a, b, cross))
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, a, b, _ in pairs:
        parent[find(a)] = find(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for _, a, b, _ in pairs:
        for x in (a, b):
            if x not in groups[find(x)]:
                groups[find(x)].append(x)
    fresh = [g for g in groups.values() if not near_done & set(g)]
    for g in fresh:
        g.sort(key=lambda i: (items[i][3], items[i][0]["id"]))
    # German-English groups first, then by date; ties by id (set order varies between runs).
    return sorted(
        fresh,
        key=lambda g: (-len({items[i][0]["language"][:2] for i in g}), items[g[0]][3], g[0]),
    )


def bilingual(items: list[Item], g: list[int]) -> bool:
    return len({items[i][0]["language"][:2] for i in g}) == 2


def main(news: Path, count_only: bool, second: float | None) -> None:
    items, score = scored_items(news)
    first = fresh_groups(items, score, CROSS, SAME_LANGUAGE)
    if count_only:
        both = sum(1 for g in first if bilingual(items, g))
        records = sum(len(g) for g in first)
        print(f"thresholds {CROSS:g} / {SAME_LANGUAGE:g}: {len(first)} groups, {both} "
              f"German-English, {records} records")  # fmt: skip
        return
    shown: set[int] = set()
    if second is not None:
        # Second pass: German-English groups at the lower score that hold an item the first pass
        # did not print; items the first pass printed are marked "*" (already labelled).
        shown = {i for g in first for i in g}
        groups = [
            g
            for g in fresh_groups(items, score, second, SAME_LANGUAGE)
            if bilingual(items, g) and set(g) - shown
        ]
    else:
        groups = first
    for k, g in enumerate(groups):
        print(f"=== group {k} ({len(g)} items)")
        for i in g:
            d, title, summary, when, _, _, name = items[i]
            mark = "*" if i in shown else ""
            print(f"{mark}{d['id']} {name.removesuffix('.jsonl')} {d['language']} "
                  f"{when:%Y-%m-%d %H:%M} [{d['source']}] {title} || {summary[:400]}")  # fmt: skip


if __name__ == "__main__":
    rest = sys.argv[2:]
    lower = float(rest[rest.index("--second") + 1]) if "--second" in rest else None
    main(Path(sys.argv[1]), "--count" in rest, lower)
