"""Build ``monitor/matching/data/common_words.txt``: the real words that fuzzy matching must not
take for a typo of a rule's term ("Scheitern" is not a misspelt "Scheelit").

Source: the real German and English news items of ``../shared/corpus/news`` (see its SOURCES.md),
without the CC BY-NC-SA 10kGNAD part. A word is listed when its folded form (as the matcher
folds text: lower case, umlauts and ß spelt out) has at least ``FUZZY_MIN_LEN`` letters and occurs
in at least ``--min-items`` items. Only the words are kept, one per line, sorted: no text.

    python tools/build_common_words.py [--corpus ../shared/corpus/news] [--min-items 3]

Run it again when the corpus grows; the list is data shipped with the package, so nothing is
read from the corpus at run time.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.matching.scan import FUZZY_MIN_LEN  # noqa: E402
from monitor.matching.text import fold, tokens  # noqa: E402
from monitor.matching.wordlist import COMMON_WORDS_PATH  # noqa: E402

SKIP = ("10kgnad",)
"""Datasets left out: non-commercial licence."""


def build(corpus: Path, min_items: int) -> tuple[list[str], int]:
    counts: Counter[str] = Counter()
    items = 0
    for path in sorted(corpus.glob("*.jsonl")):
        if any(s in path.name for s in SKIP):
            continue
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                item = json.loads(line)
                text = f"{item.get('title') or ''} {item.get('summary') or ''}"
                words = {w for w in tokens(fold(text)) if len(w) >= FUZZY_MIN_LEN}
                counts.update(w for w in words if w.isalpha())
                items += 1
    return sorted(w for w, n in counts.items() if n >= min_items), items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "news")
    parser.add_argument("--min-items", type=int, default=3)
    args = parser.parse_args()
    words, items = build(args.corpus, args.min_items)
    header = (
        f"# Common words for the fuzzy check (tools/build_common_words.py): folded words of at\n"
        f"# least {FUZZY_MIN_LEN} letters found in at least {args.min_items} of {items} real news\n"
        f"# items (shared/corpus/news without 10kGNAD). One word per line.\n"
    )
    COMMON_WORDS_PATH.write_text(header + "\n".join(words) + "\n", encoding="utf-8")
    print(f"{len(words)} words from {items} items -> {COMMON_WORDS_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
