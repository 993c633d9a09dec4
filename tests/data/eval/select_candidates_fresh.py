"""Pick the candidates of the fresh inferred-mention set (issue 11, helper semantic3; run once).

Selection only, fixed before any item was read: keyword pools over the stored text (title +
summary cut to 500 characters, as labeled), and the shipped pack's LEXICAL matcher (no
embedding model, no cosine) to keep only items that the rule a pool is drawn for
(`rohstoff-exportkontrollen`, `kritische-rohstoffe`; both for the negative pools) does not match
by its words, so that its positives are inferred mentions. Items already in labels.jsonl or
inferred.jsonl (by id or by text) are left out, and a text (casefolded title) is taken once.

Tranche 2 (``--tranche 2``), fixed after tranche 1 was read (it held 10 export-control
positives) and before any label was committed or any cosine seen: every further item with a
raw-material word and a China word that export controls' words do not match
(`material-china`), and every further item with a raw-material word and a state or government
word, no China word, that critical raw materials' words do not match (`material-state`).

Output: JSON lines with empty ``inferred`` on stdout (text included, for reading; the committed
file keeps ids, hashes and labels only), pool sizes on stderr.

    python tests/data/eval/select_candidates_fresh.py ../shared/corpus/news > /tmp/fresh.jsonl
    python tests/data/eval/select_candidates_fresh.py ../shared/corpus/news --tranche 2
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

SEED = 20261204
HERE = Path(__file__).parent
SEMANTIC = {"rohstoff-exportkontrollen", "kritische-rohstoffe"}
_RAW = (
    r"(rare.earths?|seltene\w* erden|seltenerd\w*|magnets?|magnete\w*|lithium|cobalt|kobalt|"
    r"gallium|germanium|graphite?|antimon\w*|tungsten|wolfram|nickel|minerals?|mineralien|"
    r"metals?|metalle\w*|rohstoff\w*|raw.materials?|elements|scandium|yttrium|dysprosium|"
    r"terbium|neodym\w*|uranium|uran|silver|silber|chips?|halbleiter\w*|semiconductors?)"
)
_MEASURE = (
    r"(curb\w*|control\w*|restrict\w*|grip|chokehold|stranglehold|chok\w+|squeez\w*|weapon\w*|"
    r"leverage|halt\w*|hahn|kontroll\w*|druckmittel|beschr[aä]nk\w*|einschr[aä]nk\w*|"
    r"licen[cs]\w*|lizenz\w*|cut.off|embargo|ban\w*|verbot\w*|retaliat\w*|vergeltung|"
    r"crack\w* down|clamp\w* down|ausfuhr\w*|exports?|shipments?|truce|waffenstillstand|"
    r"lift\w*|eas\w+|resum\w*|suspend\w*|paus\w*|aussetz\w*|freeze|stopp\w*)"
)
_POLICY = (
    r"(secur\w*|reliance|rely|dependen\w*|abh[aä]ngig\w*|stockpil\w*|reserves?|deal|alliance|"
    r"partnership|plan|strateg\w*|push|race|sicherheit|versorgung\w*|vorr[aä]te?|lager\w*|"
    r"counter|diversif\w*|stake|fund\w*|supply|supplies|lieferung\w*|invest\w*|"
    r"refin\w*|processing|verarbeitung|mine|mines|mining|bergbau|deposits?|vorkommen|pact|"
    r"agreement|abkommen|partner\w*|sovereign\w*|souver[aä]n\w*)"
)
_CHINA = r"(china|chinese|beijing|peking|chines\w*|xi)"
_TRADE_ENERGY = (
    r"(trade|tariffs?|z[oö]lle?|handel\w*|energy|energie\w*|oil|[oö]l|gas|lng|sanction\w*|"
    r"sanktion\w*|supply chains?|lieferkett\w*)"
)
# An item may enter a pool when the rule(s) it is drawn for do not match it by their words (an
# inferred mention is per rule: tests/data/eval/INFERRED.md); the negative pools need neither.
EXCLUDE = {
    "material-measure": {"rohstoff-exportkontrollen"},
    "material-policy": {"kritische-rohstoffe"},
    "china-no-material": SEMANTIC,
    "trade-energy": SEMANTIC,
    "random": SEMANTIC,
}
POOLS: list[tuple[str, int]] = [
    ("material-measure", 130),
    ("material-policy", 130),
    ("china-no-material", 50),
    ("trade-energy", 30),
    ("random", 20),
]
_RAW2 = (
    r"(rare.earths?|seltene\w* erden|seltenerd\w*|magnets?|magnete\w*|gallium|germanium|"
    r"graphite?|antimon\w*|tungsten|wolfram|minerals?|mineralien|rohstoff\w*|raw.materials?|"
    r"lithium|cobalt|kobalt|nickel|uranium|copper|kupfer|aluminium|vanadium|metals?|elements)"
)
_STATE = (
    r"(u\.?s\.?|us|america\w*|washington|pentagon|trump|eu|europ\w*|brussels|br[uü]ssel|"
    r"germany|deutschland|berlin|bund\w*|government|regierung|minist\w*|japan|india|"
    r"australia\w*|canada|g7|nato|state)"
)
TRANCHE2: list[tuple[str, int]] = [("material-china", 1000), ("material-state", 1000)]
EXCLUDE["material-china"] = {"rohstoff-exportkontrollen"}
EXCLUDE["material-state"] = {"kritische-rohstoffe"}


def has(pattern: str, text: str) -> bool:
    return re.search(rf"\b{pattern}\b", text) is not None


def pool_of(name: str, text: str) -> bool:
    raw = has(_RAW, text)
    if name == "material-measure":
        return raw and has(_MEASURE, text)
    if name == "material-policy":
        return raw and has(_POLICY, text)
    if name == "china-no-material":
        return not raw and has(_CHINA, text) and has(_MEASURE, text)
    if name == "material-china":
        return has(_RAW2, text) and has(_CHINA, text)
    if name == "material-state":
        return has(_RAW2, text) and has(_STATE, text) and not has(_CHINA, text)
    if name == "trade-energy":
        return not raw and has(_TRADE_ENERGY, text)
    return True


def main(news_dir: Path, tranche: int = 1) -> None:
    rng = random.Random(SEED)
    matcher = compile_rules(load_rules([shipped_rules_dir()]))
    when = datetime(2026, 1, 1, tzinfo=UTC)
    old: set[tuple[str, str]] = set()
    for name in ("labels.jsonl", "inferred.jsonl"):
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            old.add((r["source"].removeprefix("corpus/news/"), r["id"]))
    items, old_texts = [], set()
    for path in sorted(news_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                title, summary = stored_text(item)
                if not (title or summary).strip():
                    continue
                key = " ".join(title.split()).casefold()
                if (path.name, item["id"]) in old:
                    old_texts.add(key)
                    continue
                entry = Entry("eval", item["id"], title, None, summary, "", when)
                rules = {m.rule_id for m in matcher.match(entry)}
                items.append((path.name, item, title, summary, rules, key))
    taken: dict[tuple[str, str], dict[str, object]] = {}
    seen_text: set[str] = set(old_texts)
    first: set[tuple[str, str]] = set()
    for name, count in POOLS + (TRANCHE2 if tranche == 2 else []):
        if name == TRANCHE2[0][0]:
            first = set(taken)
        pool = []
        for file, item, title, summary, rules, key in items:
            if (file, item["id"]) in taken or key in seen_text or rules & EXCLUDE[name]:
                continue
            if len(title) + len(summary) < 40:
                continue  # a bare headline fragment: nothing to judge
            if pool_of(name, f"{title} {summary}".casefold()):
                pool.append((file, item, title, summary, rules, key))
        rng.shuffle(pool)
        print(f"{name}: {len(pool)} in the pool, {min(count, len(pool))} taken", file=sys.stderr)
        for file, item, title, summary, rules, key in pool[:count]:
            seen_text.add(key)
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
    for where, record in taken.items():
        if tranche == 2 and where in first:
            continue
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[3]) if sys.argv[2:3] == ["--tranche"] else 1)
