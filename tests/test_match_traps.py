"""Traps: words that look like a watched term but are not (and the hard cases that are).

Each naive approach named in the issue gets at least one of these wrong; the shipped pack must not.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rapidfuzz import fuzz

from monitor.matching.loader import load_rules
from monitor.matching.match import Matcher, compile_rules
from monitor.model import Entry
from monitor.resources import shipped_rules_dir


@pytest.fixture(scope="module")
def shipped() -> Matcher:
    return compile_rules(load_rules([shipped_rules_dir()]))


def rules_for(matcher: Matcher, title: str = "", summary: str = "") -> set[str]:
    e = Entry("trap", "t", title, None, summary, "", datetime(2026, 1, 1, tzinfo=UTC))
    return {m.rule_id for m in matcher.match(e)}


NOT = [
    ("Das Chinarestaurant am Markt hat neu eröffnet", "china"),
    ("Wir essen im China-Restaurant um die Ecke", "china"),
    ("Dim Sum in Chinatown", "china"),
    ("A set of fine china plates at auction", "china"),
    ("Bone china tea cups", "china"),
    ("Tensions in the South China Sea", "china"),
    ("Taiwan holds elections", "china"),
    ("Hong Kong protests continue", "china"),
    ("Indochina war memoir", "china"),
    ("Die kobaltblaue Farbe des Himmels", "kobalt"),
    ("A cobalt blue dress", "kobalt"),
    ("Chevrolet Cobalt recall", "kobalt"),
    ("Hackers used Cobalt Strike beacons", "kobalt"),
    ("Eine seltene Krankheit auf Erden", "seltene-erden"),
    ("Betroffene unterstützen Erforschung seltener Krankheiten", "seltene-erden"),
    ("Rare Act of Defiance on Earth Day", "seltene-erden"),
    ("Ree and ree", "seltene-erden"),
    ("Studium der Germanistik", "gallium-germanium"),
    ("Germany and Germania", "gallium-germanium"),
    ("Die Gallier fürchten den Himmel", "gallium-germanium"),
    ("Trainer Galli bleibt", "gallium-germanium"),
    ("Die Grafik des Spiels enttäuscht", "graphit"),
    ("Graphik-Design", "graphit"),
    ("Das iPhone in Graphit", "graphit"),
    ("Zeichnen mit graphite pencil", "graphit"),
    ("Lithium therapy for bipolar disorder", "lithium"),
    ("Nirvana's Lithium still rocks", "lithium"),
    ("Li Qiang visits Berlin", "lithium"),
    ("Co-Parteichefin Bärbel Bas", "kobalt"),
    ("Kulturstaatsminister Wolfram Weimer", "seltene-erden"),
    ("Minen in der Straße von Hormus", "kritische-rohstoffe"),
    ("China gewann knapp zwei Spiele", "lieferketten"),
    ("Staff shortages hit hospitals", "lieferketten"),
    ("Housing shortage in Berlin", "lieferketten"),
    ("Robinhood Chain and blockchain", "lieferketten"),
    ("Macy's chain reopens stores", "lieferketten"),
    ("Der Zulieferer Bosch", "lieferketten"),
    ("Exports rose 5% in May", "exportkontrollen"),
    ("Deutsche Exporteure übersehen Boom-Länder", "exportkontrollen"),
    ("Critical condition after the crash", "kritische-rohstoffe"),
    ("Kritische Stimmen zur Rohstoffpolitik", "kritische-rohstoffe"),
    ("Demokratische Volksrepublik Korea feuert Raketen", "china"),
]


@pytest.mark.parametrize(("text", "rule"), NOT)
def test_trap_does_not_match(shipped: Matcher, text: str, rule: str) -> None:
    assert rule not in rules_for(shipped, text)
    assert rule not in rules_for(shipped, summary=text)


HARD = [
    ("China’s export curbs", {"china", "exportkontrollen"}),
    ("Chinesen kaufen Kobaltminen", {"china", "kobalt"}),
    ("Beijing imposes restrictions on exports of gallium", {"china", "exportkontrollen"}),
    ("Peking reagiert", {"china"}),
    ("US-China trade talks", {"china"}),
    ("Neodymium and dysprosium magnets", {"seltene-erden"}),
    ("Seltenerd-Magnete aus der Volksrepublik China", {"seltene-erden", "china"}),
    ("rare‌earths", {"seltene-erden"}),  # zero-width non-joiner inside (real Reuters text)
    ("Lithium-Ionen-Akku", {"lithium"}),
    ("Der Kobaltpreis", {"kobalt"}),
    ("Germanium und Gallium", {"gallium-germanium"}),
    ("Ausfuhrbeschränkungen und Exportverbote", {"exportkontrollen"}),
    ("CSU kritisiert Waffenexportstopp", {"exportkontrollen"}),
    ("Lieferengpässe bei Arzneimitteln", {"lieferketten"}),
    ("chip shortage hits carmakers", {"lieferketten"}),
    ("Rohstoffpartnerschaft mit Kasachstan", {"kritische-rohstoffe"}),
    ("Zugang zu kritischen Rohstoffen", {"kritische-rohstoffe"}),
    ("Graphite anodes from Mozambique", {"graphit"}),
]


@pytest.mark.parametrize(("text", "rules"), HARD)
def test_hard_positive_matches(shipped: Matcher, text: str, rules: set[str]) -> None:
    assert rules <= rules_for(shipped, text)


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("china", "das chinarestaurant"),
        ("kobalt", "die kobaltblaue farbe"),
        ("seltene erden", "eine seltene krankheit auf erden"),
    ],
)
def test_naive_fuzzy_matching_falls_for_what_the_matcher_rejects(
    shipped: Matcher, term: str, text: str
) -> None:
    naive = max(fuzz.partial_ratio(term, text), fuzz.token_set_ratio(term, text))
    assert naive == 100
    assert rules_for(shipped, text) == set()


def test_naive_fuzzy_misses_what_the_matcher_finds(shipped: Matcher) -> None:
    text = "preise für seltenerdmetalle steigen"
    assert fuzz.partial_ratio("seltene erden", text) < 85
    assert "seltene-erden" in rules_for(shipped, text)
