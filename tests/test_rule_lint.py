"""`monitor rules check --corpus/--store`: what each variant hits, and likely false friends.

The corpus is written here, modelled on the traps found in the shared news corpus: "Wolfram
Weimer" (a minister, not tungsten) and fuzzy "Scheelit" matching a frequent word. The word of the
shared corpus ("Scheitern") is now on the shipped list of common words, which fuzzy matching never
takes for a typo; the lint still finds what is frequent only in the user's own corpus, here the
name of a (made-up) town, "Scheelitz"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.ingest.inputs import jsonl_entries
from monitor.matching.lint import Lint, lint_rules
from monitor.matching.loader import load_rules
from monitor.matching.match import compile_rules
from monitor.model import Entry, FeedState
from monitor.resources import shipped_rules_dir
from monitor.store import open_storage
from tests.fixtures.storage import sqlite_url

USER_RULES = """
concepts:
  wolfram:
    variants:
      - Wolfram
      - tungsten
      - {term: Scheelit, fuzzy: true}
rules:
  - {id: wolfram, title: Wolfram und Scheelit, any: [wolfram]}
"""

TITLES = [
    "Kulturstaatsminister Wolfram Weimer kritisiert Intendanten",
    "Wolfram Weimer will Filmförderung neu ordnen",
    "Streit um Buchpreis: Wolfram Weimer äußert sich",
    "Was Wolfram Weimer zur Documenta sagt",
    "Preis für Wolfram steigt nach Exportstopp",
    "China beschränkt Ausfuhr von Wolfram und Antimon",
    "Gemeinderat Scheelitz tagt",
    "Nach dem Stadtfest: Scheelitz räumt auf",
    "Neue Umgehungsstraße für Scheelitz",
    "Wer wird Bürgermeister in Scheelitz?",
    "Scheelitz feiert Jubiläum",
    "Neue Scheelitt-Mine in Österreich",  # a typo of the term: rare, a true hit
    "Tungsten prices at a ten-year high",
    "Seltene Erden: China verhängt Exportkontrollen",
    "Lithium aus Chile für europäische Batterien",
    "Wetter: Sonne am Wochenende",
]


def corpus_entries() -> list[Entry]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return [Entry("corpus", f"n{i}", t, None, "", "", now) for i, t in enumerate(TITLES)]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rules = tmp_path / "user.yaml"
    rules.write_text(USER_RULES, encoding="utf-8")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"id": f"n{i}", "title": t}, ensure_ascii=False) + "\n"
            for i, t in enumerate(TITLES)
        ),
        encoding="utf-8",
    )
    return rules, corpus


def lint_of(rules: Path) -> Lint:
    return lint_rules(compile_rules(load_rules([rules])), corpus_entries())


def test_fuzzy_false_friend_and_name_pattern_are_warned(files: tuple[Path, Path]) -> None:
    lint = lint_of(files[0])
    assert lint.entries == len(TITLES)
    by_kind = {w.kind: w for w in lint.warnings}
    assert set(by_kind) == {"false-friend", "name"}
    friend = by_kind["false-friend"]
    assert (friend.rule_id, friend.concept, friend.variant) == ("wolfram", "wolfram", "Scheelit")
    assert (friend.word, friend.count, friend.of, friend.corpus_count) == ("Scheelitz", 5, 6, 5)
    assert "'Scheelitz'" in friend.message and "5 of 6 hits" in friend.message
    assert "fuzzy: false" in friend.hint and "exclude: [Scheelitz]" in friend.hint
    name = by_kind["name"]
    assert (name.variant, name.word, name.count, name.of) == ("Wolfram", "Wolfram Weimer", 4, 6)
    assert "4 of 6 hits" in name.message and "rule 'wolfram'" in name.message
    assert "exclude: [Wolfram Weimer]" in name.hint


def test_a_common_word_is_never_a_fuzzy_variant(tmp_path: Path) -> None:
    """ "Scheitern" (in 26 items of the shared corpus) is on the shipped list: no hit, while a
    rare typo of the term ("Scheelitt") and the exact term still are."""
    from monitor.matching.wordlist import common_words

    assert "scheitern" in common_words() and "scheelitz" not in common_words()
    path = tmp_path / "w.yaml"
    path.write_text(
        "concepts:\n  w:\n    variants: [{term: Scheelit, fuzzy: true}]\n"
        "rules:\n  - {id: w, title: W, any: [w]}\n",
        encoding="utf-8",
    )
    matcher = compile_rules(load_rules([path]))
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def hits(title: str) -> list[str]:
        return [m.rule_id for m in matcher.match(Entry("c", "x", title, None, "", "", now))]

    assert hits("Koalition droht das Scheitern") == []
    assert hits("Nach dem Scheitern der Gespräche") == []
    assert hits("Neue Scheelitt-Mine in Österreich") == ["w"]
    assert hits("Scheelit aus Tirol") == ["w"]


def test_per_variant_hits_and_top_words(files: tuple[Path, Path]) -> None:
    stats = {v.variant: v for v in lint_of(files[0]).variants}
    assert (stats["Scheelit"].hits, stats["Scheelit"].entries) == (6, 6)
    assert stats["Scheelit"].top(2) == [("Scheelitz", 5), ("Scheelitt", 1)]
    assert stats["Wolfram"].hits == 6 and stats["Wolfram"].top(1) == [("Wolfram", 6)]
    assert stats["tungsten"].top(3) == [("Tungsten", 1)]


def test_following_the_hints_clears_the_warnings(tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(
        USER_RULES.replace(
            "{term: Scheelit, fuzzy: true}", "{term: Scheelit, fuzzy: false}"
        ).replace("\nrules:", "\n    exclude: [Wolfram Weimer]\nrules:"),
        encoding="utf-8",
    )
    lint = lint_of(fixed)
    assert lint.warnings == ()
    stats = {v.variant: v for v in lint.variants}
    assert stats["Wolfram"].hits == 2 and "Scheelit" not in stats


def test_a_rare_typo_of_the_term_is_no_false_friend(tmp_path: Path) -> None:
    """ "Scheelitt" occurs once: a typo, which fuzzy matching is for."""
    rules = tmp_path / "r.yaml"
    rules.write_text(USER_RULES, encoding="utf-8")
    entries = [e for e in corpus_entries() if "Scheelitz" not in e.title]
    lint = lint_rules(compile_rules(load_rules([rules])), entries)
    assert [w.kind for w in lint.warnings] == ["name"]
    assert {v.variant: v.hits for v in lint.variants}["Scheelit"] == 1


def test_a_case_insensitive_symbol_matching_other_spellings_is_warned(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "concepts:\n  ree: [REE, Seltene Erden]\nrules:\n  - {id: ree, title: REE, any: [ree]}\n",
        encoding="utf-8",
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    titles = ["Ree Drummond kocht", "Interview mit Ree Drummond", "REE-Preise steigen"]
    entries = [Entry("c", str(i), t, None, "", "", now) for i, t in enumerate(titles)]
    lint = lint_rules(compile_rules(load_rules([rules])), entries)
    case = [w for w in lint.warnings if w.kind == "case"]
    assert len(case) == 1 and (case[0].word, case[0].count, case[0].of) == ("Ree", 2, 3)
    assert "case: true" in case[0].hint


def test_the_shipped_pack_has_no_false_friends_in_the_same_corpus() -> None:
    lint = lint_rules(compile_rules(load_rules([shipped_rules_dir()])), corpus_entries())
    assert lint.warnings == ()
    hit = {(v.rule_id, v.variant) for v in lint.variants}
    assert ("seltene-erden", "Seltene Erden") in hit  # it did run over the corpus


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_json_output_for_tools(files: tuple[Path, Path]) -> None:
    rules, corpus = files
    code, out, err = run("rules", "check", str(rules), "--corpus", str(corpus), "--format", "json")
    assert (code, err) == (0, "")
    data: dict[str, Any] = json.loads(out)
    assert data["ok"] is True and data["entries"] == len(TITLES)
    kinds = {(w["kind"], w["variant"], w["word"], w["count"], w["of"]) for w in data["warnings"]}
    assert kinds == {
        ("false-friend", "Scheelit", "Scheelitz", 5, 6),
        ("name", "Wolfram", "Wolfram Weimer", 4, 6),
    }
    scheelit = next(v for v in data["variants"] if v["variant"] == "Scheelit")
    assert scheelit["top"][0] == {"text": "Scheelitz", "hits": 5}


def test_bad_lines_are_reported_and_rule_errors_still_exit_1(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    rules, corpus = files
    with corpus.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    code, out, err = run("rules", "check", str(rules), "--corpus", str(corpus))
    assert code == 0 and "corpus.jsonl:17: not valid JSON" in err and "2 warning(s)" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {id: x, title: X, any: [missing]}\n", encoding="utf-8")
    code, _, err = run("rules", "check", str(bad), "--corpus", str(corpus))
    assert code == 1 and "problem(s) found" in err
    code, _, err = run("rules", "check", str(rules), "--corpus", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "nope.jsonl: no such file" in err
    code, _, err = run("rules", "check", str(rules), "--days", "3")
    assert code == 2 and "--days goes with --store" in err


def test_store_entries_of_recent_days(files: tuple[Path, Path], tmp_path: Path) -> None:
    rules, _ = files
    url = sqlite_url(tmp_path)
    now = datetime.now(UTC)
    with open_storage(url) as storage:
        for i, e in enumerate(corpus_entries()):
            # The Scheelitz titles were seen 40 days ago: outside --days 30.
            seen = now - timedelta(days=40 if "Scheelitz" in e.title else 1)
            storage.record_poll(FeedState("https://a.example/feed"), [
                Entry("https://a.example/feed", e.id, e.title, None, "", "", seen)
            ], {}, seen + timedelta(seconds=i))  # fmt: skip
    config = tmp_path / "monitor.yaml"
    config.write_text(f"database: {url}\nrules: [{rules}]\n", encoding="utf-8")
    code, out, err = run("-c", str(config), "rules", "check", "--store", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["entries"] == len(TITLES) - 5
    assert [w["kind"] for w in data["warnings"]] == ["name"]
    code, out, err = run("-c", str(config), "rules", "check", "--store", "--days", "60")
    assert code == 0 and "Scheelitz" in out and "2 warning(s)" in out


def test_a_real_cli_process(files: tuple[Path, Path]) -> None:
    rules, corpus = files
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "rules", "check", str(rules), "--corpus", str(corpus)],
        cwd=rules.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_PROXY": "*"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "wolfram/Scheelit: 6 hits in 6 entries: Scheelitz (5), Scheelitt (1)" in out
    assert "warning: rule 'wolfram', concept 'wolfram', variant 'Scheelit'" in out
    assert "'Wolfram Weimer' (4)" in out and "2 warning(s)" in out


def news_entries(corpus_dir: Path) -> list[Entry]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    errors: list[str] = []
    out: list[Entry] = []
    for path in sorted((corpus_dir / "news").glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            out.extend(jsonl_entries(fh, path.name, now, errors))
    assert errors == []
    return out


def test_the_shared_news_corpus_shows_both_traps_and_a_clean_shipped_pack(
    corpus_dir: Path, files: tuple[Path, Path]
) -> None:
    """Over the 22k real items: "Wolfram Weimer" is warned; fuzzy "Scheelit" no longer turns
    into "Scheitern" (a common word); the shipped pack is clean."""
    entries = news_entries(corpus_dir)
    assert len(entries) > 20_000
    user = lint_rules(compile_rules(load_rules([files[0]])), entries)
    warned = {(w.kind, w.variant, w.word) for w in user.warnings}
    assert not any(w.kind == "false-friend" for w in user.warnings), user.warnings
    scheelit = {v.variant: v for v in user.variants}.get("Scheelit")
    assert scheelit is None or "Scheitern" not in dict(scheelit.top(10))
    assert ("name", "Wolfram", "Wolfram Weimer") in warned
    shipped = lint_rules(compile_rules(load_rules([shipped_rules_dir()])), entries)
    assert [w.message for w in shipped.warnings] == []


def test_first_name_false_drops_the_person_and_keeps_the_metal(tmp_path: Path) -> None:
    """`first_name: false`: "Wolfram Weimer" is a minister; "Preis für Wolfram steigt", "Wolfram
    und Antimon" and a headline ending in "Wolfram" still count, and the lint goes quiet."""
    path = tmp_path / "w.yaml"
    path.write_text(USER_RULES.replace("- Wolfram\n", "- {term: Wolfram, first_name: false}\n"))
    lint = lint_of(path)
    assert "name" not in {w.kind for w in lint.warnings}
    stats = {v.variant: v for v in lint.variants}
    assert stats["Wolfram"].hits == 2
    matcher = compile_rules(load_rules([path]))
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def rules(title: str) -> list[str]:
        return [m.rule_id for m in matcher.match(Entry("c", "x", title, None, "", "", now))]

    assert rules("Kulturstaatsminister Wolfram Weimer kritisiert Intendanten") == []
    assert rules("Exportstopp für Wolfram") == ["wolfram"]
    assert rules("Wolfram: China stoppt Ausfuhr") == ["wolfram"]
    assert rules("WOLFRAM Weimer") == ["wolfram"]  # not a capitalised name: all capitals


def test_first_name_must_be_true_or_false(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(USER_RULES.replace("- Wolfram\n", "- {term: Wolfram, first_name: nein}\n"))
    result = CliRunner().invoke(cli, ["rules", "check", str(path)])
    assert result.exit_code != 0
    assert "first_name" in result.output and "expected true or false" in result.output
    assert "Traceback" not in result.output


def test_the_shipped_common_words_are_what_the_tool_builds_from_the_corpus(
    corpus_dir: Path,
) -> None:
    """The list is data derived from the shared corpus; rebuilding it changes nothing."""
    import importlib.util

    from monitor.matching.wordlist import common_words

    spec = importlib.util.spec_from_file_location(
        "build_common_words", Path(__file__).parent.parent / "tools" / "build_common_words.py"
    )
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    words, items = tool.build(corpus_dir / "news", 3)
    assert items > 20_000
    assert frozenset(words) == common_words()
    assert {"scheitern", "ausweitung", "regierung", "government"} <= common_words()
