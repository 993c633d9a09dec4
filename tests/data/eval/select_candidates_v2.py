"""Pick the second batch of evaluation candidates: free word order and verb phrasings (run once).

Selection only, as ``select_candidates.py``: keyword pools over the stored text decide which real
items from ../shared/corpus/news get read and labeled, never their labels. Items already in
labels.jsonl are skipped. The pools look for an export word and a measure word within a few
words of each other in either order, or a German/English verb of restricting near "Export",
plus hard negatives (export figures, "exports fell", export words without a measure).
Output: JSON lines with empty ``labels`` on stdout.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.test_eval import LABELS_FILE
from tests.test_eval import excerpt as stored_text

_EXPORT = r"(export\w*|ausfuhr\w*)"
_MEASURE = (
    r"(control\w*|restrict\w*|curb\w*|ban\w*|licen[cs]\w*|limit\w*|halt\w*|grip|"
    r"kontroll\w*|beschr[aä]nk\w*|einschr[aä]nk\w*|schr[aä]nk\w*|verbot\w*|verbiet\w*|"
    r"genehmig\w*|stopp\w*|gestoppt|lizenz\w*|begrenz\w*)"
)
_GAP = r"(?:\W+\w+){0,8}?\W+"
POOLS: list[tuple[str, str, int]] = [
    # an export word and a measure word apart (not one compound), either order
    ("near-export-measure", rf"\b{_EXPORT}{_GAP}{_MEASURE}\b|\b{_MEASURE}{_GAP}{_EXPORT}\b", 70),
    # both anywhere in the text (same sentence or not)
    ("text-export-measure", rf"\b{_EXPORT}\b.*\b{_MEASURE}\b|\b{_MEASURE}\b.*\b{_EXPORT}\b", 30),
    # German verbs of restricting, any object (noun/verb pairs, separable verbs)
    (
        "verb-de",
        r"\b(beschr[aä]nk|einschr[aä]nk|eingeschr[aä]nk|schr[aä]nkt|verbiet|verboten)\w*",
        15,
    ),
    # hard negatives: export words with figures or movement, no measure word
    ("trap-export-figures", r"\bexport\w*\b.{0,40}\b(fell|rose|grew|stockt|sank|stieg|record)", 15),
]


def main(news_dir: Path) -> None:
    rng = random.Random(20261201)
    # Batch 1 only (batch 2 is what this script picked), so that a re-run gives the same items.
    ours = {name for name, _, _ in POOLS}
    records = [json.loads(line) for line in LABELS_FILE.read_text().splitlines()]
    labeled = {r["id"] for r in records if r["pool"] not in ours}
    items = []
    for path in sorted(news_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                item["_file"] = path.name
                items.append(item)
    taken: dict[str, dict[str, object]] = {}
    measure = re.compile(_MEASURE)
    for name, pattern, count in POOLS:
        rx = re.compile(pattern)
        pool = []
        seen_text = set()
        for item in items:
            title, summary = stored_text(item)
            text = f"{title} {summary}".casefold()
            if item["id"] in taken or item["id"] in labeled or text in seen_text:
                continue
            if rx.search(text) and (name != "trap-export-figures" or not measure.search(text)):
                pool.append(item)
                seen_text.add(text)
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
