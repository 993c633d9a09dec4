"""Find candidate story groups for the second held-out story set, heldout2.jsonl (run once).

Selection only, like select_candidates.py (same pairing: items of 2025-2026 at most three days
apart, from different publishers or languages, sharing rare words weighted by inverse frequency,
single-link groups), with three changes for a fresh set: every item already in labels.jsonl is
left out; a candidate group is dropped when one of its items pairs (same rule, same score) with an
item of labels.jsonl, so that the groups printed are events the first set does not hold; and a
German-English pair needs a score of 10 (not 14), as the first set took most of the strong ones.
Groups are printed with their text for the person labelling; it never decides a label.

    python tests/data/stories/select_candidates_v2.py ../shared/corpus/news 10 > /tmp/cand2.txt
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.data.stories.select_candidates import FILES, words
from tests.test_eval import excerpt

LABELS = Path(__file__).with_name("labels.jsonl")
# Score a pair needs: German-English (second argument, default 10), same language.
CROSS, SAME_LANGUAGE = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0, 22.0


def main(news: Path) -> None:
    labelled = set()
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        w = json.loads(line)
        labelled.add((w["source"].rsplit("/", 1)[-1].removesuffix(".jsonl"), w["id"]))
    items = []
    for name in FILES:
        for line in (news / name).read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            if not d["date"].startswith(("2025", "2026")):
                continue
            title, summary = excerpt(d)
            when = datetime.fromisoformat(d["date"].replace("Z", "+00:00"))
            seen = (name.removesuffix(".jsonl"), d["id"]) in labelled
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
    pairs = []
    near_labelled: set[int] = set()
    for (a, b), s in score.items():
        da, db = items[a], items[b]
        if abs((da[3] - db[3]).total_seconds()) > 3 * 86400:
            continue
        cross = da[0]["language"][:2] != db[0]["language"][:2]
        if da[0]["source"] == db[0]["source"] and not cross:
            continue
        if s >= (CROSS if cross else SAME_LANGUAGE):
            if da[5] or db[5]:
                near_labelled.update(x for x in (a, b) if not items[x][5])
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
    fresh = [g for g in groups.values() if not near_labelled & set(g)]
    for g in fresh:
        g.sort(key=lambda i: (items[i][3], items[i][0]["id"]))
    # German-English groups first, then by date; ties by id (set order varies between runs).
    cross_first = sorted(
        fresh,
        key=lambda g: (-len({items[i][0]["language"][:2] for i in g}), items[g[0]][3], g[0]),
    )
    for k, g in enumerate(cross_first):
        print(f"=== group {k} ({len(g)} items)")
        for i in g:
            d, title, summary, when, _, _, name = items[i]
            print(f"{d['id']} {name.removesuffix('.jsonl')} {d['language']} {when:%Y-%m-%d %H:%M} "
                  f"[{d['source']}] {title} || {summary[:400]}")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
