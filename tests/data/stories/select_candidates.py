"""Find candidate story groups for the labelled story set in ../shared/corpus/news (run once).

Selection only: it decides which real items get read, never whether they are one story. Items of
2025-2026 (title + summary cut as in tests/test_eval.py) are paired when they are at most three
days apart, come from different publishers or languages, and share rare words (document frequency
<= 40) weighted by inverse frequency; a few German/English spellings of common names are mapped
first so cross-language pairs surface. Pairs above a score are grouped (single link) and printed
for the person labelling, with the text, so that they can be read and judged against GUIDELINE.md.

    python tests/data/stories/select_candidates.py ../shared/corpus/news > /tmp/candidates.txt
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from monitor.matching.text import fold, tokens
from tests.test_eval import excerpt

FILES = [
    "de_tagesschau-zeit_2025-2026.jsonl",
    "de_web-feed-scraped_2025-2026.jsonl",
    "de_zeit-sz-filtered_2026.jsonl",
    "en_ft-wsj-nyt-economist_2025-2026.jsonl",
    "en_reuters-ap_2025-2026.jsonl",
    "en_web-feed-scraped_2025-2026.jsonl",
]
SAME = {
    "russland": "russia", "russlands": "russia", "ukrainische": "ukraine", "ukrainian": "ukraine",
    "selenskyj": "zelensky", "zelenskiy": "zelensky", "usa": "us", "vereinigten": "us",
    "peking": "beijing", "chinesische": "china", "chinese": "china", "israels": "israel",
    "israelische": "israel", "israeli": "israel", "iranische": "iran", "iranian": "iran",
    "deutschland": "germany", "german": "germany", "bundesregierung": "germany",
    "frankreich": "france", "french": "france", "europaeische": "eu", "european": "eu",
    "zoelle": "tariffs", "zoellen": "tariffs", "zoll": "tariffs", "tariff": "tariffs",
    "waffenruhe": "ceasefire", "feuerpause": "ceasefire", "gipfel": "summit",
    "wahl": "election", "praesident": "president", "venezuelas": "venezuela",
    "grossbritannien": "britain", "uk": "britain", "british": "britain", "japans": "japan",
    "japanese": "japan", "indien": "india", "indian": "india", "tuerkei": "turkey",
}  # fmt: skip
_STOP_WORDS = (
    "der die das und in zu den von mit sich des auf fuer ist im dem nicht ein eine als auch es an"
    " werden aus er hat dass sie nach wird bei einer um am sind noch wie einem ueber einen so zum"
    " war haben nur oder aber vor zur bis mehr durch man sein wurde sei the of and to a in for is"
    " on that with as it at by from be has was are this have an will its after said his not but"
    " new more their says which who been they he were would over than also about into could"
)
STOP = set(_STOP_WORDS.split())


def words(text: str) -> set[str]:
    out = set()
    for t in tokens(fold(text)):
        if len(t) < 3 and not t.isdigit():
            continue
        if t in STOP:
            continue
        out.add(SAME.get(t, t))
    return out


def main(news: Path) -> None:
    items = []
    for name in FILES:
        for line in (news / name).read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            if not d["date"].startswith(("2025", "2026")):
                continue
            title, summary = excerpt(d)
            when = datetime.fromisoformat(d["date"].replace("Z", "+00:00"))
            items.append((d, title, summary, when, words(f"{title} {summary}")))
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
    pairs = []
    for (a, b), s in score.items():
        da, db = items[a], items[b]
        if abs((da[3] - db[3]).total_seconds()) > 3 * 86400:
            continue
        cross = da[0]["language"][:2] != db[0]["language"][:2]
        if da[0]["source"] == db[0]["source"] and not cross:
            continue
        if s >= (14 if cross else 22):
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
    cross_first = sorted(
        groups.values(),
        key=lambda g: (-len({items[i][0]["language"][:2] for i in g}), items[g[0]][3]),
    )
    for k, g in enumerate(cross_first):
        print(f"=== group {k} ({len(g)} items)")
        for i in sorted(g, key=lambda i: items[i][3]):
            d, title, summary, when, _ = items[i]
            print(f"{d['id']} {d['dataset'][:10]} {d['language']} {when:%Y-%m-%d %H:%M} "
                  f"[{d['source']}] {title} || {summary[:260]}")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
