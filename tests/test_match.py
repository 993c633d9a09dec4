"""The matcher: morphology, joined spellings, typos, spans, scoring, explanations, scaling."""

from __future__ import annotations

import pickle
import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.matching.loader import load_rules
from monitor.matching.match import Matcher, compile_rules
from monitor.matching.rules import RuleSet
from monitor.model import Entry, Priority
from monitor.resources import shipped_rules_dir

NOW = datetime(2026, 1, 11, tzinfo=UTC)


def entry(title: str = "", summary: str = "", content: str = "", id: str = "e1") -> Entry:
    return Entry("test", id, title, None, summary, content, NOW)


@pytest.fixture(scope="module")
def shipped() -> Matcher:
    return compile_rules(load_rules([shipped_rules_dir()]))


def rules_from(tmp_path: Path, text: str) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_rules([path])


def matched(matcher: Matcher, title: str = "", summary: str = "") -> dict[str, int]:
    return {m.rule_id: m.score for m in matcher.match(entry(title, summary))}


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Seltene Erden werden knapp", "seltene-erden"),
        ("Der Markt für Seltenen Erden", "seltene-erden"),
        ("Preise Seltener Erden steigen", "seltene-erden"),
        ("Seltene-Erden-Exporte", "seltene-erden"),
        ("Seltenerden aus Myanmar", "seltene-erden"),
        ("Seltenerdmagnete und Seltenerd-Magnete", "seltene-erden"),
        ("rare-earth magnets", "seltene-erden"),
        ("rare earths", "seltene-erden"),
        ("Neodym-Magnete für Windräder", "seltene-erden"),
        ("neodymium prices", "seltene-erden"),
        ("Lieferkette", "lieferketten"),
        ("Lieferketten", "lieferketten"),
        ("Das Lieferkettengesetz", "lieferketten"),
        ("Liefer-Kette", "lieferketten"),
        ("Rohstofflieferketten unter Druck", "lieferketten"),
        ("supply chain", "lieferketten"),
        ("supply chains", "lieferketten"),
        ("supply-chain risks", "lieferketten"),
        ("Lieferengpässe bei Medikamenten", "lieferketten"),
        ("Der Lithiumpreis fällt", "lithium"),
        ("Lithium-Ionen-Akkus", "lithium"),
        ("Kobaltminen im Kongo", "kobalt"),
        ("cobalt prices", "kobalt"),
        ("Exportkontrollen", "exportkontrollen"),
        ("Ausfuhrkontrolle", "exportkontrollen"),
        ("Ausfuhrbeschränkungen für Gallium", "exportkontrollen"),
        ("Waffenexportstopp", "exportkontrollen"),
        ("export curbs", "exportkontrollen"),
        ("China bans exports of graphite", "exportkontrollen"),
        ("Chinese companies", "china"),
        ("Chinas Wirtschaft", "china"),
        ("chinesische Firmen", "china"),
        ("die Volksrepublik China", "china"),
        ("Xi Jinping", "china"),
        ("Sino-US ties", "china"),
        ("kritischen Rohstoffen", "kritische-rohstoffe"),
        ("Critical Raw Materials Act", "kritische-rohstoffe"),
        ("critical minerals", "kritische-rohstoffe"),
        ("Galliumnitrid", "gallium-germanium"),
        ("Graphitanoden", "graphit"),
    ],
)
def test_inflection_compounds_and_spellings(shipped: Matcher, text: str, rule: str) -> None:
    match = next(m for m in shipped.match(entry(text)) if m.rule_id == rule)
    assert all(h.exact for h in match.hits)


@pytest.mark.parametrize(
    ("text", "rule", "found"),
    [
        ("Seltnene Erden", "seltene-erden", "Seltnene Erden"),
        ("Die Lieferkete reißt", "lieferketten", "Lieferkete"),
        ("Exportkontrolen verschärft", "exportkontrollen", "Exportkontrolen"),
        ("Chinesich", "china", "Chinesich"),
    ],
)
def test_typos_in_long_words_match_fuzzily(
    shipped: Matcher, text: str, rule: str, found: str
) -> None:
    match = next(m for m in shipped.match(entry(text)) if m.rule_id == rule)
    (hit,) = match.hits
    assert hit.text == found
    assert 90 <= hit.similarity < 100
    assert 0 < match.score < 100


@pytest.mark.parametrize("text", ["Chna", "Kobold", "Litium", "Graphik", "Gallien", "Germania"])
def test_short_or_different_words_never_turn_fuzzy(shipped: Matcher, text: str) -> None:
    assert shipped.match(entry(text)) == []


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Über Seltene Erden und Lithium", ["Seltene Erden", "Lithium"]),
        ("Sel\u00adtene Er\u00adden: Exportstopp", ["Sel\u00adtene Er\u00adden", "Exportstopp"]),
        ("Ｃｈｉｎａ und die Ausfuhrbeschränkungen", ["Ｃｈｉｎａ", "Ausfuhrbeschränkungen"]),
        ("Straße: Lieferengpässe bei Kobalt", ["Lieferengpässe", "Kobalt"]),
        ("rare\u200bearth and Lo\u0308sung: Graphit", ["rare\u200bearth", "Graphit"]),
    ],
)
def test_hit_spans_index_the_original_text(
    shipped: Matcher, title: str, expected: list[str]
) -> None:
    found = {h.text for m in shipped.match(entry(title)) for h in m.hits}
    assert found == set(expected)
    for m in shipped.match(entry(title)):
        for h in m.hits:
            assert h.field == "title"
            assert title[h.start : h.end] == h.text


def test_lone_surrogates_from_undecodable_input_do_not_break_matching(shipped: Matcher) -> None:
    title = "Kobalt\udcc3\udca4 und \ud800Lithium"
    hits = {h.text: h for m in shipped.match(entry(title)) for h in m.hits}
    assert set(hits) == {"Kobalt", "Lithium"}
    assert title[hits["Lithium"].start : hits["Lithium"].end] == "Lithium"


def test_spans_in_summary_and_content_index_those_fields(shipped: Matcher) -> None:
    e = entry("Heute", "Ein Bericht über Kobalt.", "Später: Kobalt und Lithium.")
    hits = [h for m in shipped.match(e) if m.rule_id == "kobalt" for h in m.hits]
    assert [(h.field, e.text(h.field)[h.start : h.end]) for h in hits] == [
        ("summary", "Kobalt"),
        ("content", "Kobalt"),
    ]


RULES = """
concepts:
  china: [China, {term: Peking, weight: 0.6}]
  lithium: [Lithium-]
  restaurant: [Restaurant]
rules:
  - id: china-lithium
    title: China and lithium
    all: [china]
    any: [lithium]
  - id: china-title
    title: China in the title only
    any: [china]
    fields: {title: 1.0}
  - id: china-no-food
    title: China without restaurants
    any: [china]
    none: [restaurant]
    threshold: 70
    priority: alert
"""


def test_all_any_and_none_combine_concepts(tmp_path: Path) -> None:
    m = compile_rules(rules_from(tmp_path, RULES))
    assert set(matched(m, "China und Lithium")) == {"china-lithium", "china-title", "china-no-food"}
    assert "china-lithium" not in matched(m, "China")
    assert "china-lithium" not in matched(m, "Lithium")
    assert "china-no-food" not in matched(m, "China Restaurant Guide")


def test_fields_restrict_and_weigh_where_a_concept_counts(tmp_path: Path) -> None:
    m = compile_rules(rules_from(tmp_path, RULES))
    assert "china-title" not in matched(m, summary="China")
    in_title = matched(m, "China und Lithium")["china-lithium"]
    in_summary = matched(m, summary="China und Lithium")["china-lithium"]
    assert in_title > in_summary >= 50


def test_weak_variants_need_the_title_or_a_second_mention(tmp_path: Path) -> None:
    m = compile_rules(rules_from(tmp_path, RULES))
    assert "china-lithium" not in matched(m, summary="Lithium aus Peking")  # 0.8 x 0.6 = 48
    assert matched(m, summary="Lithium aus Peking, sagt Peking")["china-lithium"] == 58
    assert matched(m, "Peking: Lithium")["china-lithium"] == 60
    assert "china-no-food" not in matched(m, "Gespräche in Peking")  # 60 < threshold 70


def test_explain_says_why_not(tmp_path: Path) -> None:
    m = compile_rules(rules_from(tmp_path, RULES))
    exp = m.explain(entry("Lithium aus Chile"), "china-lithium")
    assert not exp.matched and exp.score == 0
    assert "required concept not found: 'china'" in exp.reason
    lithium = next(c for c in exp.concepts if c.concept == "lithium")
    assert lithium.role == "any" and lithium.strength == 1.0
    assert [h.text for h in lithium.hits] == ["Lithium"]
    veto = m.explain(entry("China Restaurant"), "china-no-food")
    assert veto.score == 0 and "restaurant" in veto.reason
    weak = m.explain(entry("Gespräche in Peking"), "china-no-food")
    assert weak.score == 60 and "below the threshold 70" in weak.reason


def test_exclude_terms_cancel_overlapping_hits_only(shipped: Matcher) -> None:
    exp = shipped.explain(entry("Die kobaltblaue Farbe"), "kobalt")
    (concept,) = exp.concepts
    assert not exp.matched and concept.hits == ()
    assert [h.text for h in concept.excluded] == ["kobaltblaue"]
    assert "kobalt" in matched(shipped, "Kobaltblau ist schön, Kobaltminen im Kongo nicht")


def test_case_sensitive_variants_need_the_exact_case(shipped: Matcher) -> None:
    assert "seltene-erden" in matched(shipped, "REE supply from Australia")
    assert "seltene-erden" not in matched(shipped, "Ree supply and ree")
    assert "china" in matched(shipped, "Trump meets Xi")
    assert "china" not in matched(shipped, "Super Bowl XI")


def test_match_result_carries_priority_and_is_ordered(shipped: Matcher) -> None:
    result = shipped.match(entry("China verschärft Exportkontrollen für Seltene Erden"))
    assert [(m.score, m.rule_id) for m in result] == sorted(
        ((m.score, m.rule_id) for m in result), key=lambda sr: (-sr[0], sr[1])
    )
    by_id = {m.rule_id: m for m in result}
    assert by_id["china-rohstoffe"].priority is Priority.ALERT
    assert by_id["china"].priority is Priority.DIGEST
    assert {h.concept for h in by_id["china-rohstoffe"].hits} == {
        "china",
        "exportkontrollen",
        "seltene-erden",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("China und Lithium", {"china-rohstoffe", "batterierohstoffe"}),
        (
            "China verhängt Exportverbot für Gallium",
            {"china-rohstoffe", "rohstoff-exportkontrollen"},
        ),
        ("China", set()),
        ("Exportverbot für Diesel", set()),
        ("Graphit aus Mosambik", {"batterierohstoffe"}),
    ],
)
def test_composite_rules(shipped: Matcher, text: str, expected: set[str]) -> None:
    composites = {"china-rohstoffe", "rohstoff-exportkontrollen", "batterierohstoffe"}
    assert set(matched(shipped, text)) & composites == expected


def test_a_compiled_matcher_pickles_for_worker_processes(shipped: Matcher) -> None:
    e = entry("China verschärft Exportkontrollen", "Rohstofflieferketten unter Druck")
    copy = pickle.loads(pickle.dumps(shipped))
    assert copy.match(e) == shipped.match(e) != []


def test_replicated_pack_gives_the_same_matches_and_shares_compiled_terms() -> None:
    rules = load_rules([shipped_rules_dir()])
    copies = tuple(
        r.__class__(**{**{f: getattr(r, f) for f in r.__slots__}, "id": f"{r.id}-{i}"})
        for i in range(10)
        for r in rules.rules
    )
    big = compile_rules(RuleSet(copies, rules.concepts))
    small = compile_rules(rules)
    assert big.unit_count == small.unit_count
    e = entry("China verschärft Exportkontrollen für Seltene Erden und Lithium")
    want = {(m.rule_id, m.score) for m in small.match(e)}
    got = {(re.sub(r"-\d$", "", m.rule_id), m.score) for m in big.match(e)}
    assert got == want
    assert len(big.match(e)) == 10 * len(want)


def seed_parts(shared_dir: Path) -> tuple[str, str, list[str]]:
    (path,) = (shared_dir / "seeds").glob("dpa-*kritische-rohstoffe*.txt")
    text = path.read_text(encoding="utf-8")
    article, _, more = text.partition("Weitere Meldungen")
    lines = [ln.strip() for ln in article.splitlines() if ln.strip()]
    title = lines[1]
    body = "\n".join(lines[3:])
    others = [ln.strip() for ln in more.splitlines() if ln.strip()]
    return title, body, others


def test_seed_article_matches_its_subjects_and_the_teasers_do_not(
    shipped: Matcher, shared_dir: Path
) -> None:
    title, body, others = seed_parts(shared_dir)
    assert title.startswith("Klingbeil")
    got = set(matched(shipped, title, body))
    expected = {
        "kritische-rohstoffe",
        "seltene-erden",
        "lithium",
        "kobalt",
        "lieferketten",
        "china",
    }
    assert expected <= got
    assert {"china-rohstoffe", "batterierohstoffe"} <= got
    assert not got & {"gallium-germanium", "graphit", "exportkontrollen"}
    assert len(others) >= 5
    for teaser in others:
        assert shipped.match(entry(summary=teaser)) == [], teaser
