"""Pick the inferred-mention candidates for the semantic layer (batch 3; run once, see INFERRED.md).

Selection only: keyword pools over the stored text, and the rules the shipped pack matches (to
find items where the subject may be there without the pack's words), decide which real items
from ../shared/corpus/news get read and labeled, never their labels. No embedding model is used
here, so the set does not lean towards what the model finds. Items may also be in labels.jsonl.
Output: JSON lines with empty ``inferred`` on stdout (text included, for reading; the committed
file keeps ids, hashes and labels only).

    python tests/data/eval/select_candidates_v3.py ../shared/corpus/news > /tmp/candidates.jsonl
"""

from __future__ import annotations

import json
import random
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from monitor.matching.loader import load_rules
from monitor.matching.match import compile_rules
from monitor.model import Entry
from monitor.resources import shipped_rules_dir
from tests.test_eval import excerpt as stored_text
from tests.test_eval import text_hash

SEED = 20261202
_RAW = (
    r"(rare.earths?|seltene\w* erden|seltenerd\w*|magnets?|magnete\w*|lithium|cobalt|kobalt|"
    r"gallium|germanium|graphite?|antimon\w*|tungsten|nickel|minerals?|mineralien|metals?|"
    r"metalle\w*|rohstoff\w*|raw.materials?|elements)"
)
_MEASURE = (
    r"(curb\w*|control\w*|restrict\w*|grip|chokehold|chok\w+|squeez\w*|weapon\w*|leverage|"
    r"halt\w*|hahn|kontroll\w*|druckmittel|beschr[aä]nk\w*|einschr[aä]nk\w*|licen[cs]\w*|"
    r"lizenz\w*|cut.off|embargo|retaliat\w*|vergeltung|crack\w* down|clamp\w* down)"
)
_POLICY = (
    r"(secur\w*|reliance|rely|dependen\w*|abh[aä]ngig\w*|stockpil\w*|reserves?|deal|alliance|"
    r"partnership|plan|strateg\w*|push|race|sicherheit|versorgung\w*|vorr[aä]te?|lager\w*|"
    r"counter|diversif\w*|stake|fund)"
)
_CHINA = r"(china|chinese|beijing|peking|chines\w*)"
_TRAP_RAW = r"(gold|coal|kohle|iron ore|eisenerz|copper|kupfer|mining|bergbau|mine|miners)"
POOLS: list[tuple[str, int]] = [
    ("material-measure", 40),
    ("minerals-policy", 40),
    ("trap-china-measure", 15),
    ("trap-raw-material", 15),
    ("random", 30),
]


def pool_of(name: str, text: str, rules: set[str]) -> bool:
    raw = re.search(rf"\b{_RAW}\b", text) is not None
    if name == "material-measure":
        return (
            raw
            and re.search(rf"\b{_MEASURE}\b", text) is not None
            and "rohstoff-exportkontrollen" not in rules
        )
    if name == "minerals-policy":
        return (
            raw
            and re.search(rf"\b{_POLICY}\b", text) is not None
            and "kritische-rohstoffe" not in rules
        )
    if name == "trap-china-measure":
        return (
            not raw
            and re.search(rf"\b{_CHINA}\b", text) is not None
            and re.search(rf"\b{_MEASURE}\b", text) is not None
        )
    if name == "trap-raw-material":
        return (
            not raw
            and re.search(rf"\b{_TRAP_RAW}\b", text) is not None
            and re.search(rf"\b{_POLICY}\b", text) is None
        )
    return True


def main(news_dir: Path) -> None:
    rng = random.Random(SEED)
    matcher = compile_rules(load_rules([shipped_rules_dir()]))
    when = datetime(2026, 1, 1, tzinfo=UTC)
    items = []
    for path in sorted(news_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                title, summary = stored_text(item)
                if not (title or summary).strip():
                    continue
                entry = Entry("eval", item["id"], title, None, summary, "", when)
                rules = {m.rule_id for m in matcher.match(entry)}
                items.append((path.name, item, title, summary, rules))
    taken: dict[tuple[str, str], dict[str, object]] = {}
    seen_text: set[str] = set()
    for name, count in POOLS:
        pool = []
        for file, item, title, summary, rules in items:
            text = f"{title} {summary}".casefold()
            if (file, item["id"]) in taken or text in seen_text:
                continue
            if pool_of(name, text, rules):
                pool.append((file, item, title, summary, rules))
        rng.shuffle(pool)
        for file, item, title, summary, rules in pool[:count]:
            seen_text.add(f"{title} {summary}".casefold())
            taken[(file, item["id"])] = {
                "id": item["id"],
                "source": f"corpus/news/{file}",
                "pool": name,
                "language": item["language"],
                "text_sha1": text_hash(title, summary),
                "lexical": sorted(rules),
                "inferred": [],
                "title": title,
                "summary": summary,
            }
    for record in taken.values():
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
