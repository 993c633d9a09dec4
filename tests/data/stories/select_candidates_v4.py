"""Find candidate story groups for the fourth held-out story set, heldout4.jsonl (run once).

Selection only, like select_candidates_v3.py (items of 2025-2026 at most three days apart, from
different publishers or languages, sharing rare words weighted by inverse frequency, single-link
groups), with these changes for a fourth fresh set: every item of labels.jsonl, heldout2.jsonl
and heldout3.jsonl is left out; a candidate group is dropped when one of its items pairs (same
rule, same score) with an item of any of the three sets, so that the groups printed are events
none of them holds; besides v3's ``MORE_SAME``, more German/English spellings are mapped
(``V4_SAME``: Ukrainian, Russian and Middle-East names and places, capitals, inflected adjectives
of countries, raw materials, and a few nouns of news events such as strike, court, arrest),
fixed before any item was read; a German-English pair needs the score given as the second
argument and a same-language pair the third (defaults: the scores chosen by ``--count``, see
ORIGIN.md "heldout4").

``--count`` prints only the number of groups, of German-English groups and of records (used to
choose the thresholds before any item was read); with ``--second S`` it counts that tranche.
``--second S`` prints a second tranche: the German-English groups at a German-English score of S
that hold an item the first run did not print (items it did print are marked "*"). Groups are
printed with their text for the person labelling; the selector never decides a label. As run:

    python tests/data/stories/select_candidates_v4.py ../shared/corpus/news 6.5 15 --count
    python tests/data/stories/select_candidates_v4.py ../shared/corpus/news 6.5 15 > /tmp/c4.txt
    python tests/data/stories/select_candidates_v4.py ../shared/corpus/news 6.5 15 --second 6.25
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

DONE = [Path(__file__).with_name(f) for f in ("labels.jsonl", "heldout2.jsonl", "heldout3.jsonl")]
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
# Added for heldout4, fixed before any item was read: more German/English spellings of names and
# places (Ukraine, Russia, the Middle East, capitals), inflected adjectives of countries, raw
# materials, and nouns of news events whose English is one word.
V4_SAME = {
    "russische": "russia", "russischen": "russia", "russian": "russia",
    "ukrainischen": "ukraine", "chinesischen": "china", "israelischen": "israel",
    "iranischen": "iran", "deutschen": "germany", "deutsche": "germany",
    "franzoesische": "france", "franzoesischen": "france", "amerikanischen": "us",
    "britischen": "britain", "japanischen": "japan", "indische": "india", "indischen": "india",
    "europaeischen": "eu", "tuerkische": "turkey", "tuerkischen": "turkey", "turkish": "turkey",
    "tuerkiye": "turkey", "syrische": "syria", "syrischen": "syria", "polnische": "poland",
    "polnischen": "poland", "italienische": "italy", "italienischen": "italy",
    "spanische": "spain", "spanischen": "spain", "niederlaendische": "netherlands",
    "niederlaendischen": "netherlands", "daenische": "denmark", "daenischen": "denmark",
    "schwedische": "sweden", "schwedischen": "sweden", "norwegische": "norway",
    "finnische": "finland", "ungarische": "hungary", "ungarischen": "hungary",
    "griechische": "greece", "kanadische": "canada", "kanadischen": "canada",
    "mexikanische": "mexico", "brasilianische": "brazil", "argentinische": "argentina",
    "venezolanischen": "venezuela", "kubanische": "cuba", "suedkoreanische": "southkorea",
    "nordkoreanische": "northkorea", "libanesische": "lebanon",
    "aegyptische": "egypt", "saudische": "saudiarabia", "palaestinensische": "palestinian",
    "palaestinenser": "palestinian", "palestinians": "palestinian", "gazastreifen": "gaza",
    "gazastreifens": "gaza", "weissrussland": "belarus", "belarussische": "belarus",
    "belarusian": "belarus", "georgien": "georgia", "georgian": "georgia", "moldau": "moldova",
    "litauen": "lithuania", "lithuanian": "lithuania", "lettland": "latvia",
    "latvian": "latvia", "estland": "estonia", "estonian": "estonia", "slowakei": "slovakia",
    "slovak": "slovakia", "slowenien": "slovenia", "kroatien": "croatia", "croatian": "croatia",
    "bulgarien": "bulgaria", "bulgarian": "bulgaria", "albanien": "albania",
    "armenien": "armenia", "armenian": "armenia", "aserbaidschan": "azerbaijan",
    "kasachstan": "kazakhstan", "usbekistan": "uzbekistan", "mongolei": "mongolia",
    "singapur": "singapore", "bangladesch": "bangladesh", "jordanien": "jordan",
    "tunesien": "tunisia", "algerien": "algeria", "marokko": "morocco", "libyen": "libya",
    "suedsudan": "southsudan", "kenia": "kenya", "tansania": "tanzania", "ruanda": "rwanda",
    "tschad": "chad", "kamerun": "cameroon", "simbabwe": "zimbabwe", "sambia": "zambia",
    "mosambik": "mozambique", "madagaskar": "madagascar", "bolivien": "bolivia",
    "jamaika": "jamaica", "teheran": "tehran", "damaskus": "damascus", "bagdad": "baghdad",
    "kairo": "cairo", "athen": "athens", "rom": "rome", "wien": "vienna", "prag": "prague",
    "warschau": "warsaw", "bukarest": "bucharest", "belgrad": "belgrade",
    "kopenhagen": "copenhagen", "lissabon": "lisbon", "mailand": "milan", "venedig": "venice",
    "muenchen": "munich", "koeln": "cologne", "nuernberg": "nuremberg", "genf": "geneva",
    "zuerich": "zurich", "haag": "hague", "tokio": "tokyo", "pjoengjang": "pyongyang",
    "hongkong": "kong", "kalifornien": "california", "mittelmeer": "mediterranean",
    "ostsee": "baltic", "nordsee": "northsea", "hormus": "hormuz", "suezkanal": "suez",
    "arktis": "arctic", "antarktis": "antarctica", "karibik": "caribbean", "afrika": "africa",
    "asien": "asia", "lateinamerika": "latinamerica", "chamenei": "khamenei",
    "lukaschenko": "lukashenko", "kadyrow": "kadyrov", "lawrow": "lavrov", "peskow": "peskov",
    "medwedew": "medvedev", "schoigu": "shoigu", "nawalny": "navalny",
    "nawalnaja": "navalnaya", "gerassimow": "gerasimov", "belousow": "belousov",
    "scharaa": "sharaa", "jermak": "yermak", "saluschnyj": "zaluzhnyi", "syrskyj": "syrskyi",
    "umjerow": "umerov", "tymoschenko": "tymoshenko",
    "poroschenko": "poroshenko", "swyrydenko": "svyrydenko", "schmyhal": "shmyhal",
    "budanow": "budanov", "wolodymyr": "volodymyr", "wladimir": "vladimir",
    "dmitri": "dmitry", "sergej": "sergei", "huthi": "houthi", "huthis": "houthi",
    "houthis": "houthi", "charkiw": "kharkiv", "saporischschja": "zaporizhzhia",
    "odessa": "odesa", "cherson": "kherson", "pokrowsk": "pokrovsk", "kupjansk": "kupiansk",
    "donezk": "donetsk", "tschernihiw": "chernihiv", "lwiw": "lviv", "mykolajiw": "mykolaiv",
    "krim": "crimea", "sewastopol": "sevastopol", "brjansk": "bryansk",
    "woronesch": "voronezh", "noworossijsk": "novorossiysk", "tschernobyl": "chernobyl",
    "huljajpole": "huliaipole", "siwersk": "siversk", "kostjantyniwka": "kostiantynivka",
    "nobelpreis": "nobel", "friedensnobelpreis": "nobel", "literaturnobelpreis": "nobel",
    "weltmeisterschaft": "worldcup", "olympische": "olympic", "olympischen": "olympic",
    "olympia": "olympic", "olympics": "olympic", "winterspiele": "olympic",
    "oelpreis": "oil", "oelpreise": "oil", "erdoel": "oil", "goldpreis": "gold",
    "kupfer": "copper", "kupferpreis": "copper", "kobalt": "cobalt", "aluminum": "aluminium",
    "stahl": "steel", "eisenerz": "ironore", "uran": "uranium", "silber": "silver",
    "platin": "platinum", "antimon": "antimony", "wolfram": "tungsten", "graphit": "graphite",
    "magnete": "magnets", "halbleiter": "semiconductors", "chiphersteller": "chipmaker",
    "seltenen": "rare", "rohstoffe": "rawmaterials", "strafzoelle": "tariffs",
    "exportkontrollen": "controls", "handelskrieg": "tradewar", "kanzler": "chancellor",
    "bundeskanzler": "chancellor", "kanzlers": "chancellor", "koalition": "coalition",
    "parlament": "parliament", "parlaments": "parliament", "gericht": "court",
    "gerichtshof": "court", "richter": "judge", "urteil": "ruling", "klage": "lawsuit",
    "streik": "strike", "streiks": "strikes", "gewerkschaft": "union", "proteste": "protests",
    "demonstranten": "protesters", "festgenommen": "arrested", "festnahme": "arrest",
    "verhaftet": "arrested", "freigelassen": "released", "freilassung": "release",
    "begnadigt": "pardoned", "begnadigung": "pardon", "ruecktritt": "resignation",
    "amtseinfuehrung": "inauguration", "vereidigt": "sworn", "mord": "murder",
    "ermordet": "murdered", "erschossen": "shot", "anschlag": "attack", "absturz": "crash",
    "abgestuerzt": "crashed", "hubschrauber": "helicopter", "hochwasser": "floods",
    "ueberschwemmungen": "floods", "waldbraende": "wildfires", "waldbrand": "wildfire",
    "hitzewelle": "heatwave", "lawine": "avalanche", "erdrutsch": "landslide",
    "vulkan": "volcano", "sturm": "storm", "geiseln": "hostages", "geisel": "hostage",
    "flottille": "flotilla", "raketen": "missiles", "rakete": "missile",
    "atomwaffen": "nuclear", "atomprogramm": "nuclear", "atomabkommen": "nuclear",
    "luftangriff": "airstrike", "luftangriffe": "airstrikes", "truppen": "troops",
    "soldaten": "soldiers", "defense": "defence", "verteidigung": "defence",
    "wehrpflicht": "conscription", "abschiebungen": "deportations",
    "abschiebung": "deportation", "asyl": "asylum", "fluechtlinge": "refugees",
    "haushalt": "budget", "schulden": "debt", "leitzins": "rates", "zinsen": "rates",
    "inflationsrate": "inflation", "arbeitslosigkeit": "unemployment",
    "insolvenz": "insolvency", "bankruptcy": "insolvency", "uebernahme": "takeover",
    "stellenabbau": "jobcuts", "quartal": "quarter", "umsatz": "revenue", "gewinn": "profit",
    "aktien": "shares", "boerse": "stockmarket", "kardinal": "cardinal",
    "kardinaele": "cardinals", "koenig": "king", "prinz": "prince", "kronprinz": "prince",
    "weltbank": "worldbank", "waffenstillstand": "ceasefire", "friedensplan": "peaceplan",
    "friedensgespraeche": "peacetalks", "verhandlungen": "talks", "gespraeche": "talks",
    "abkommen": "agreement", "sicherheitsgarantien": "guarantees",
}  # fmt: skip
# An item: record, title, summary, date, words, whether in the three earlier sets, corpus file.
Item = tuple[dict[str, Any], str, str, datetime, set[str], bool, str]
# Score a pair needs: German-English (second argument, default 6.5), same language (third, 15).
_ARGS = [a for a in sys.argv[2:4] if not a.startswith("--")]
CROSS = float(_ARGS[0]) if _ARGS else 6.5
SAME_LANGUAGE = float(_ARGS[1]) if len(_ARGS) > 1 else 15.0


def words(text: str) -> set[str]:
    out = set()
    for t in tokens(fold(text)):
        if len(t) < 3 and not t.isdigit():
            continue
        if t in STOP:
            continue
        t = SAME.get(t, t)
        t = MORE_SAME.get(t, t)
        out.add(V4_SAME.get(t, t))
    return out


def scored_items(news: Path) -> tuple[list[Item], dict[tuple[int, int], float]]:
    """The items of 2025-2026 (excerpt, words, whether in an earlier set) and pair scores."""
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
    """Single-link groups of pairs above the scores, none touching an item of the three sets."""
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
    if count_only and second is None:
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
    if count_only:
        new = sum(len(set(g) - shown) for g in groups)
        print(f"second tranche at {second:g}: {len(groups)} groups, "
              f"{sum(len(g) for g in groups)} records, {new} not printed before")  # fmt: skip
        return
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
