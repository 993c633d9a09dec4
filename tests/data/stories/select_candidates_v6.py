"""Find candidate story groups for the sixth held-out story set, heldout6.jsonl (run once).

Selection only; it decides what is read, never a label. The five earlier selectors found every
candidate through shared rare words (document frequency 40 or less), so German-English pairs
that share no rare word (paraphrases, translated nouns such as Zölle/tariffs, Waffenruhe/
ceasefire, names frequent in the corpus such as Trump, Gaza, Putin) never reached a reader.
This selector draws its German-English candidates through a route that does not rely on rare
words:

- every item's words are mapped to English with the earlier selectors' spellings
  (``select_candidates_v5.words``) and with ``V6_MAP``, a German->English map of common news
  words (verbs, nouns of events, offices) and a few English inflections folded onto one form,
  fixed before any item was read;
- a German-English pair is scored by the cosine of idf-weighted word sets over all words found
  in 2 to ``CAP`` items (so frequent names and translated common nouns count, weighted low);
- route ``T`` (the main tranche): pairs at most one calendar day apart with cosine ``C`` or more
  that v4/v5's rare-word rule would not have found (rare-word score under 5.5, that is no shared
  word of document frequency 40 or less); each item links to its best partner only (so a
  frequent topic does not chain into one group), and linked items form a group;
- route ``H`` (``--later C``, cross-language hard negatives): German-English pairs more than two
  and at most six calendar days apart with cosine C or more (same topic, days apart: mostly a
  different event or a follow-up), best partner only, groups holding an item route T did not
  print.
- route ``N`` (``--names CAP:LO``, chosen on its count after routes T and H were labelled and held
  32 German-English stories, several of them doubtful): German-English pairs at most one
  calendar day apart with cosine from LO up to route T's score, no shared rare word, that share
  a capitalised word (a name, or a German noun against an English title-case word) found in 41
  to CAP items; best partner only, groups holding an item neither route T nor H printed.

Items of the five earlier sets are left out, by (corpus file, id) and by text hash (a re-published
copy of an earlier item is left out too). A group is dropped when one of its items pairs with an
earlier set's item under v5's rare-word rule (5.5 German-English, 14 same language) or under this
route's own rule, so that the events are, as far as the selectors can tell, in none of them.

``--count`` prints only the number of groups, German-English groups and records (used to choose
the thresholds before any item was read). As run (ORIGIN.md, "heldout6"):

    python tests/data/stories/select_candidates_v6.py ../shared/corpus/news 0.10 --count
    python tests/data/stories/select_candidates_v6.py ../shared/corpus/news 0.10 > /tmp/c6.txt
    python tests/data/stories/select_candidates_v6.py ../shared/corpus/news 0.10 --later 0.15
    python tests/data/stories/select_candidates_v6.py ../shared/corpus/news 0.10 --names 200:0.07
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.data.stories import select_candidates_v4 as v4
from tests.data.stories import select_candidates_v5 as v5
from tests.test_eval import text_hash

# The five earlier sets: their items are left out, and groups touching them are dropped.
v4.DONE = [*v4.DONE, Path(__file__).with_name("heldout5.jsonl")]
CAP = 1500  # words in more items than this (of ~14,000) carry no weight
RARE_CROSS, RARE_SAME = 5.5, 14.0  # v5's first-tranche rule, for the earlier-set check
LATER = 0.15  # route H's score as run (ORIGIN.md, "heldout6")
# A capitalised word that does not open the text or follow a sentence's end.
CAPITALISED = re.compile(r"(?<![.!?:]\s)(?<!^)\b([A-ZÄÖÜ][\w\-äöüß]+)")
# Added for heldout6, fixed before any item was read: common German news words -> English, and
# English inflections folded (both sides map onto the same form).
V6_MAP = {
    # war, attacks, casualties
    "krieg": "war", "kriegs": "war", "angriff": "attack", "angriffe": "attack",
    "angriffen": "attack", "attacks": "attack", "attacked": "attack", "angegriffen": "attack",
    "getoetet": "dead", "toten": "dead", "tote": "dead", "killed": "dead", "deaths": "dead",
    "died": "dead", "dead": "dead", "gestorben": "dead", "verletzt": "injured",
    "verletzten": "injured", "wounded": "injured", "injured": "injured",
    "frieden": "peace", "friedens": "peace", "friedensabkommen": "peace",
    "friedensverhandlungen": "peacetalks", "waffenruhe": "ceasefire", "truce": "ceasefire",
    "ceasefire": "ceasefire", "drohnenangriff": "drones", "drohnenangriffe": "drones",
    "raketenangriff": "missiles", "raketenangriffe": "missiles", "marschflugkoerper": "missiles",
    "panzer": "tanks", "kampfjets": "jets", "kampfflugzeuge": "jets", "luftraum": "airspace",
    "grenze": "border", "geiselnahme": "hostages", "gefangene": "prisoners",
    "gefangenenaustausch": "prisoners", "leichen": "bodies", "leiche": "body",
    "hungersnot": "famine", "hilfslieferungen": "aid", "hilfe": "aid", "humanitaere": "aid",
    "voelkermord": "genocide", "offensive": "offensive", "bodenoffensive": "offensive",
    "einmarsch": "invasion", "besetzung": "occupation", "besetzt": "occupation",
    "soldat": "soldiers", "militaers": "military", "streitkraefte": "military",
    "kriegsschiff": "warship", "kriegsschiffe": "warship", "flugzeugtraeger": "carrier",
    "atomanlagen": "nuclear", "atom": "nuclear", "urananreicherung": "enrichment",
    "schuesse": "shooting", "schuss": "shooting", "schiesserei": "shooting", "shot": "shooting",
    "schuetze": "gunman", "taeter": "attacker", "messerangriff": "stabbing",
    "messer": "knife", "explosion": "explosion", "exploded": "explosion",
    "terroranschlag": "attack", "terror": "terror", "spion": "spy", "spionage": "espionage",
    "geheimdienst": "intelligence", "geheimdienste": "intelligence",
    "cyberangriff": "cyberattack", "hackerangriff": "cyberattack",
    # politics, offices, institutions
    "aussenminister": "foreign", "aussenministerin": "foreign",
    "aussenministerium": "foreign", "verteidigungsminister": "defence",
    "verteidigungsministerium": "defence", "finanzminister": "finance",
    "finanzministerin": "finance", "wirtschaftsminister": "economy",
    "wirtschaftsministerin": "economy", "innenminister": "interior",
    "innenministerin": "interior", "gesundheitsminister": "health",
    "gesundheitsministerin": "health", "justizminister": "justice",
    "justizministerium": "justice", "regierungschef": "leader", "staatschef": "leader",
    "staatsoberhaupt": "leader", "gewaehlt": "elected", "wiedergewaehlt": "elected",
    "stichwahl": "runoff", "abgeordnete": "lawmakers", "abgeordneten": "lawmakers",
    "senat": "senate", "repraesentantenhaus": "house", "kongress": "congress",
    "demokraten": "democrats", "republikaner": "republicans", "oppositionsfuehrer": "opposition",
    "opposition": "opposition", "misstrauensvotum": "confidence", "vertrauensfrage": "confidence",
    "haushaltssperre": "shutdown", "stillstand": "shutdown", "regierungsstillstand": "shutdown",
    "uno": "un", "vereinten": "un", "nationen": "un", "sicherheitsrat": "security",
    "sondergesandter": "envoy", "gesandter": "envoy", "vermittler": "mediator",
    "anerkennung": "recognition", "anerkennen": "recognition", "recognise": "recognition",
    "recognize": "recognition", "recognition": "recognition", "staat": "state",
    "palaestinenserstaat": "palestinian", "treffen": "meeting", "meets": "meeting",
    "met": "meeting", "meeting": "meeting", "besuch": "visit", "besucht": "visit",
    "visits": "visit", "visited": "visit", "staatsbesuch": "visit", "rede": "speech",
    "telefonat": "call", "telefoniert": "call", "spoke": "call", "drohung": "threat",
    "droht": "threat", "threatens": "threat", "threatened": "threat", "warnt": "warns",
    "warned": "warns", "fordert": "demands", "verhandeln": "talks", "vertrag": "treaty",
    "unterzeichnet": "signed", "unterzeichnen": "signed", "signs": "signed",
    "zurueckgetreten": "resignation", "resigns": "resignation", "resigned": "resignation",
    "entlassen": "fired", "entlassung": "fired", "ernannt": "named", "ernennung": "named",
    "appointed": "named", "nominiert": "named", "nachfolger": "successor",
    "einwanderung": "immigration", "migranten": "migrants", "migration": "migrants",
    "grenzkontrollen": "border", "visa": "visa", "staatsbuergerschaft": "citizenship",
    "einreiseverbot": "travelban", "kirche": "church", "konklave": "conclave",
    "beerdigung": "funeral", "trauerfeier": "funeral", "begraebnis": "funeral",
    # justice
    "verurteilt": "sentenced", "convicted": "sentenced", "sentenced": "sentenced",
    "haftstrafe": "sentence", "gefaengnisstrafe": "sentence", "freispruch": "acquitted",
    "freigesprochen": "acquitted", "staatsanwaltschaft": "prosecutors",
    "staatsanwalt": "prosecutors", "ermittler": "investigators", "verdacht": "suspected",
    "verdaechtige": "suspect", "verdaechtiger": "suspect", "tatverdaechtige": "suspect",
    "tatverdaechtiger": "suspect", "suspects": "suspect", "klagt": "lawsuit",
    "verklagt": "lawsuit", "sues": "lawsuit", "sued": "lawsuit", "durchsuchung": "raid",
    "razzia": "raid", "raids": "raid", "bestechung": "bribery", "korruption": "corruption",
    "betrug": "fraud", "auslieferung": "extradition", "verfassungsgericht": "court",
    "supreme": "court", "bundesgericht": "court",
    # economy, markets, companies
    "milliarden": "billion", "billions": "billion", "mrd": "billion", "millionen": "million",
    "millions": "million", "prozent": "percent", "preise": "prices", "preis": "prices",
    "price": "prices", "steuer": "tax", "steuern": "tax", "taxes": "tax",
    "zinssenkung": "rates", "zinserhoehung": "rates", "senkt": "cut", "cuts": "cut",
    "erhoeht": "raise", "raises": "raise", "raised": "raise", "anhebung": "raise",
    "arbeitsmarkt": "jobs", "arbeitsplaetze": "jobs", "stellen": "jobs",
    "arbeitslose": "unemployment", "entlassungen": "layoffs", "autobauer": "carmaker",
    "autohersteller": "carmaker", "automaker": "carmaker", "autos": "cars",
    "elektroautos": "electric", "hersteller": "maker", "unternehmen": "company",
    "konzerns": "company", "companies": "company", "aktie": "shares", "stocks": "shares",
    "stock": "shares", "anleger": "investors", "boersengang": "ipo", "rekord": "record",
    "rekordhoch": "record", "allzeithoch": "record", "benzin": "fuel", "diesel": "fuel",
    "gaspreis": "gas", "gaspreise": "gas", "strom": "electricity", "strompreis": "electricity",
    "strompreise": "electricity", "handel": "trade", "exporte": "exports",
    "importe": "imports", "wachstum": "growth", "wirtschaft": "economy", "rezession": "recession",
    "konjunktur": "economy", "schulden": "debt", "staatsschulden": "debt",
    "kredit": "loan", "kredite": "loans", "subventionen": "subsidies", "foerderung": "subsidies",
    "investitionen": "investment", "investiert": "investment", "investment": "investment",
    "fusion": "merger", "merger": "merger", "kauft": "buy", "buys": "buy", "kaufen": "buy",
    "quartalszahlen": "results", "bilanz": "results", "earnings": "results",
    "prognose": "forecast", "outlook": "forecast", "guidance": "forecast",
    # disasters, accidents, weather, health
    "ueberschwemmung": "floods", "flut": "floods", "flooding": "floods", "flood": "floods",
    "unwetter": "storm", "wirbelsturm": "hurricane", "hurrikan": "hurricane",
    "taifun": "typhoon", "zyklon": "cyclone", "hitze": "heat", "duerre": "drought",
    "brand": "fire", "braende": "wildfires", "flaechenbrand": "wildfire",
    "einsturz": "collapse", "eingestuerzt": "collapse", "collapsed": "collapse",
    "zug": "train", "zuege": "trains", "zugunglueck": "train", "bahn": "rail",
    "flugzeugabsturz": "crash", "unglueck": "accident", "unfall": "accident",
    "rettungskraefte": "rescuers", "vermisst": "missing", "vermisste": "missing",
    "evakuiert": "evacuated", "evakuierung": "evacuated", "ausbruch": "outbreak",
    "virus": "virus", "impfstoff": "vaccine", "impfung": "vaccine", "krankheit": "disease",
    # sport, culture
    "weltmeister": "champion", "meister": "champion", "sieg": "win", "siegt": "win",
    "gewinnt": "win", "wins": "win", "won": "win", "finale": "final", "trainer": "coach",
    "nationalmannschaft": "national", "auszeichnung": "award",
    "preistraeger": "award",
    # places and people often written differently
    "weisses": "white", "kreml": "kremlin", "nahost": "mideast", "westjordanland": "westbank",
    "jerusalem": "jerusalem", "golfstaaten": "gulf", "golf": "gulf", "sudan": "sudan",
    "nigeria": "nigeria", "tuerken": "turkey", "ukrainern": "ukraine",
}  # fmt: skip


def words(text: str) -> set[str]:
    return {V6_MAP.get(w, w) for w in v5.words(text)}


v4.words = words  # v4.scored_items tokenizes with the module's ``words``


def day(it: v4.Item) -> date:
    return it[3].date()


def weights(items: list[v4.Item]) -> list[dict[str, float]]:
    """Each item's idf-weighted word vector (words in 2 to CAP items), unit length."""
    df: dict[str, int] = defaultdict(int)
    for it in items:
        for w in it[4]:
            df[w] += 1
    n = len(items)
    out = []
    for it in items:
        vec = {w: math.log(n / df[w]) for w in it[4] if 2 <= df[w] <= CAP}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        out.append({w: v / norm for w, v in vec.items()})
    return out


def capitalised(it: v4.Item) -> set[str]:
    """The item's capitalised words (names, German nouns, title-case words), mapped as words."""
    out: set[str] = set()
    for m in CAPITALISED.finditer(f"{it[1]} {it[2]}"):
        out |= words(m.group(1))
    return out


def cross_pairs(
    items: list[v4.Item], vecs: list[dict[str, float]], lo: int, hi: int, least: float
) -> list[tuple[float, int, int]]:
    """German-English pairs ``lo`` to ``hi`` calendar days apart with cosine ``least`` or more."""
    by_day: dict[date, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        if it[0]["language"][:2] == "en":
            by_day[day(it)].append(i)
    out = []
    for a, it in enumerate(items):
        if it[0]["language"][:2] != "de":
            continue
        va = vecs[a]
        for gap in range(-hi, hi + 1):
            if abs(gap) < lo:
                continue
            for b in by_day.get(date.fromordinal(day(it).toordinal() + gap), ()):
                vb = vecs[b]
                small, big = (va, vb) if len(va) < len(vb) else (vb, va)
                c = sum(v * big[w] for w, v in small.items() if w in big)
                if c >= least:
                    out.append((c, a, b))
    return out


def best_partner_groups(
    items: list[v4.Item], pairs: list[tuple[float, int, int]], rare: dict[tuple[int, int], float]
) -> list[list[int]]:
    """Each fresh item linked to its best fresh partner; linked items form a group. A group is
    dropped when one of its items pairs (this rule or v5's rare-word rule) with an earlier
    set's item."""
    best: dict[int, tuple[float, int]] = {}
    near_done: set[int] = set()
    for c, a, b in pairs:
        if items[a][5] or items[b][5]:
            near_done.update(x for x in (a, b) if not items[x][5])
            continue
        for x, y in ((a, b), (b, a)):
            if c > best.get(x, (-1.0, -1))[0]:
                best[x] = (c, y)
    for (a, b), s in rare.items():
        da, db = items[a], items[b]
        if da[5] == db[5] or abs((da[3] - db[3]).total_seconds()) > 3 * 86400:
            continue
        cross = da[0]["language"][:2] != db[0]["language"][:2]
        if not cross and da[0]["source"] == db[0]["source"]:
            continue
        if s >= (RARE_CROSS if cross else RARE_SAME):
            near_done.update(x for x in (a, b) if not items[x][5])
    parent = {x: x for x in best}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, (_, y) in best.items():
        parent[find(x)] = find(y)
    groups: dict[int, list[int]] = defaultdict(list)
    for x in best:
        groups[find(x)].append(x)
    fresh = [
        sorted(g, key=lambda i: (items[i][3], items[i][0]["id"]))
        for g in groups.values()
        if not near_done & set(g)
    ]
    return sorted(fresh, key=lambda g: (items[g[0]][3], items[g[0]][0]["id"]))


def load(news: Path) -> tuple[list[v4.Item], dict[tuple[int, int], float]]:
    """v4's items and rare-word scores, with items whose text hash is an earlier set's marked
    as done too (a re-published copy under another id)."""
    items, rare = v4.scored_items(news)
    hashes = {
        json.loads(line)["text_sha1"]
        for path in v4.DONE
        for line in path.read_text(encoding="utf-8").splitlines()
    }
    items = [
        (d, t, s, when, w, seen or text_hash(t, s) in hashes, name)
        for d, t, s, when, w, seen, name in items
    ]
    return items, rare


def main(
    news: Path, least: float, later: float | None, names: str | None, count_only: bool
) -> None:
    items, rare = load(news)
    vecs = weights(items)
    pairs = [
        (c, a, b)
        for c, a, b in cross_pairs(items, vecs, 0, 1, least)
        if rare.get((min(a, b), max(a, b)), 0.0) < RARE_CROSS
    ]
    first = best_partner_groups(items, pairs, rare)
    groups, shown, kind = first, set(), "group"
    if names is not None:
        cap, lo = names.split(":")
        shown = {i for g in first for i in g}
        shown |= {
            i
            for g in best_partner_groups(items, cross_pairs(items, vecs, 3, 6, LATER), rare)
            for i in g
        }
        df: dict[str, int] = defaultdict(int)
        for it in items:
            for w in it[4]:
                df[w] += 1
        caps = [capitalised(it) for it in items]
        named = [
            (c, a, b)
            for c, a, b in cross_pairs(items, vecs, 0, 1, float(lo))
            if c < least
            and rare.get((min(a, b), max(a, b)), 0.0) < RARE_CROSS
            and any(2 <= df[w] <= int(cap) for w in caps[a] & caps[b])
        ]
        groups = [g for g in best_partner_groups(items, named, rare) if set(g) - shown]
        kind = "names group"
    elif later is not None:
        shown = {i for g in first for i in g}
        groups = [
            g
            for g in best_partner_groups(items, cross_pairs(items, vecs, 3, 6, later), rare)
            if set(g) - shown
        ]
        kind = "later group"
    if count_only:
        new = sum(len(set(g) - shown) for g in groups)
        print(f"{kind}s at {least:g} / {later}: {len(groups)} groups, "
              f"{sum(len(g) for g in groups)} records, {new} not printed before")  # fmt: skip
        return
    for k, g in enumerate(groups):
        print(f"=== {kind} {k} ({len(g)} items)")
        for i in g:
            d, title, summary, when, _, _, name = items[i]
            mark = "*" if i in shown else ""
            print(f"{mark}{d['id']} {name.removesuffix('.jsonl')} {d['language']} "
                  f"{when:%Y-%m-%d %H:%M} [{d['source']}] {title} || {summary[:400]}")  # fmt: skip


if __name__ == "__main__":
    rest = sys.argv[2:]
    days = float(rest[rest.index("--later") + 1]) if "--later" in rest else None
    names = rest[rest.index("--names") + 1] if "--names" in rest else None
    main(Path(sys.argv[1]), float(rest[0]), days, names, "--count" in rest)
