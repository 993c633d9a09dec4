"""Pick the unlabeled candidates for the evaluation set from ../shared/corpus/news (run once).

Selection only: it decides which real items get read and labeled, never their labels. Pools are
keyword regexes over the stored text (title + summary cut to 500 characters); each pool is sampled
with a fixed seed. Output: one JSON object per line on stdout, with ``labels`` left empty (with
title and summary for the person labeling; the repository keeps ids, a text hash and labels).
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.test_eval import excerpt as stored_text

# (pool name, regex on casefolded text, how many to take)
POOLS: list[tuple[str, str, int]] = [
    (
        "ree",
        r"selten\w* erd|seltenerd|rare.earth|neodym|dysprosi|terbium|praseodym|yttrium"
        r"|lanthan|samarium|\bcer(ium)?\b",
        45,
    ),
    ("lithium", r"lithium", 60),
    ("cobalt", r"kobalt|cobalt", 30),
    ("ga-ge", r"gallium|germanium", 10),
    ("graphite", r"graphit|grafit", 15),
    ("supply", r"lieferkett|supply.chain|lieferengp|engpass|engpäss|shortage|bottleneck", 45),
    (
        "export",
        r"export.?(control|ban|curb|restrict|licen)|exportkontroll|exportverbot|exportbeschr|ausfuhr|exportstopp",
        40,
    ),
    ("china", r"\bchin|peking|beijing|\bxi\b", 60),
    (
        "critical",
        r"kritische\w* (rohstoff|mineral|metall)|critical (raw|mineral|metal)"
        r"|strategic (metal|mineral)|rohstoffpartner",
        35,
    ),
    # hard negatives: trap words
    ("trap-wolfram", r"wolfram", 8),
    ("trap-minen", r"\bminen\b|\bmine\b|\bminers?\b", 15),
    ("trap-german", r"germanist|\bgerman\b|germania", 12),
    ("trap-knapp", r"\bknapp", 12),
    ("trap-galli", r"\bgalli|gallien|gallier", 5),
    ("trap-chinatown", r"chinatown|china-?restaurant|porcelain|porzellan|\bfine china", 8),
    ("trap-taiwan-hk", r"taiwan|hong kong|hongkong", 20),
    ("trap-blue", r"\bblue\b|blau", 8),
    ("trap-pencil", r"pencil|bleistift|graphic|grafik", 10),
    ("trap-supply-other", r"\bsupply\b|liefer|\bchain", 15),
    ("trap-export-other", r"\bexport|ausfuhr", 15),
    ("trap-selten", r"\bselten|\berden\b|\brare\b", 12),
    ("trap-critical", r"\bcritical\b|kritisch|strateg", 10),
    ("trap-nickel-kupfer", r"nickel|kupfer|copper|rohstoff|raw material", 10),
    ("random", r"", 90),
]


def main(news_dir: Path) -> None:
    rng = random.Random(20260101)
    items = []
    for path in sorted(news_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                item["_file"] = path.name
                items.append(item)
    taken: dict[str, dict[str, object]] = {}
    for name, pattern, count in POOLS:
        rx = re.compile(pattern)
        pool = []
        for item in items:
            title, summary = stored_text(item)
            if item["id"] in taken:
                continue
            if rx.search(f"{title} {summary}".casefold()):
                pool.append(item)
        rng.shuffle(pool)
        for item in pool[:count]:
            title, summary = stored_text(item)
            taken[item["id"]] = {
                "id": item["id"],
                "source": f"corpus/news/{item['_file']}",
                "publisher": item.get("source", ""),
                "pool": name,
                "language": item["language"],
                "title": title,
                "summary": summary,
                "labels": [],
            }
    for record in taken.values():
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
