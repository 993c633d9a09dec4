"""`monitor backtest` and `monitor explain --entry` over a real SQLite store: history recorded
with one rule pack, then an edited pack tried against it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.matching.backtest import backtest
from monitor.matching.loader import load_rules
from monitor.matching.match import compile_rules
from monitor.model import Entry, FeedState, Match
from monitor.store import Storage, open_storage
from tests.fixtures.storage import sqlite_url

FEED_A = "https://a.example/feed.xml"
FEED_B = "https://b.example/rss"
# The CLI reads the clock for --since; the history is placed relative to the real time.
NOW = datetime.now(UTC)
RECENT = NOW - timedelta(days=1)
OLD = NOW - timedelta(days=40)

RULES_ON_RECORD = """
concepts:
  lithium: [Lithium-]
  kobalt: [Kobalt-]
  wetter: [Wetter]
rules:
  - {id: lithium, title: Lithium, any: [lithium]}
  - {id: kobalt, title: Kobalt, any: [kobalt]}
  - {id: wetter, title: Wetter, any: [wetter]}
"""

# The analyst's edit: lithium the drug no longer counts, cobalt in English does, the weather
# rule is gone and a graphite rule is added.
RULES_EDITED = """
concepts:
  lithium:
    variants: [Lithium-]
    exclude: [lithium therapy]
  kobalt: [Kobalt-, Cobalt-]
  graphit: [Graphit-]
rules:
  - {id: lithium, title: Lithium, any: [lithium]}
  - {id: kobalt, title: Kobalt, any: [kobalt]}
  - {id: graphit, title: Graphit, any: [graphit]}
"""

HISTORY: list[tuple[str, str, str, datetime]] = [
    (FEED_A, "a1", "Lithiumpreis fällt", RECENT),
    (FEED_A, "a2", "Lithium therapy helps bipolar patients", RECENT),
    (FEED_A, "a3", "Cobalt prices rise", RECENT),
    (FEED_A, "a4", "Wetter: Sonne am Wochenende", RECENT),
    (FEED_A, "shared", "Kobaltminen im Kongo", RECENT),
    (FEED_B, "shared", "Kobalt aus Sambia", RECENT),
    (FEED_B, "b1", "Nichts von Belang", RECENT),
    (FEED_A, "o1", "Cobalt mining in the old days", OLD),
]


def entry(feed: str, entry_id: str, title: str) -> Entry:
    return Entry(feed, entry_id, title, f"{feed}#{entry_id}", "", "", OLD)


def record_history(storage: Storage, rules_file: Path) -> None:
    """Ingest HISTORY as the daemon would have: matched with the rules of the time."""
    matcher = compile_rules(load_rules([rules_file]))
    for feed, entry_id, title, seen in HISTORY:
        e = entry(feed, entry_id, title)
        storage.record_poll(FeedState(feed), [e], {entry_id: matcher.match(e)}, seen)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Path]:
    """A monitor.yaml naming the store and the rules on record; the edited pack beside it."""
    (tmp_path / "rules").mkdir()
    on_record = tmp_path / "rules" / "pack.yaml"
    on_record.write_text(RULES_ON_RECORD, encoding="utf-8")
    (tmp_path / "edited.yaml").write_text(RULES_EDITED, encoding="utf-8")
    url = sqlite_url(tmp_path)
    with open_storage(url) as storage:
        record_history(storage, on_record)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: {url}\nrules: [rules]\nfeeds:\n  - url: {FEED_A}\n    name: Feed A\n",
        encoding="utf-8",
    )
    yield config


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-c", str(config), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def backtest_json(config: Path, *args: str) -> dict[str, Any]:
    code, out, err = run(config, "backtest", "--format", "json", *args)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def ids(changes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["feed"], c["id"]) for c in changes]


def test_an_edited_pack_shows_which_entries_would_be_new_or_gone(setup: Path) -> None:
    edited = str(setup.parent / "edited.yaml")
    data = backtest_json(setup, "--rules", edited)
    assert data["entries"] == len(HISTORY) and data["since"] is None
    rules = {r["rule"]: r for r in data["rules"]}
    # The edited pack's rules in its order, then the rule that is only on record.
    assert list(rules) == ["lithium", "kobalt", "graphit", "wetter"]
    lithium, kobalt, graphit, wetter = rules.values()
    assert (lithium["stored"], lithium["now"]) == (2, 1)
    assert lithium["new"] == [] and ids(lithium["gone"]) == [(FEED_A, "a2")]
    assert (kobalt["stored"], kobalt["now"]) == (2, 4)
    assert sorted(ids(kobalt["new"])) == [(FEED_A, "a3"), (FEED_A, "o1")]
    assert kobalt["gone"] == []
    assert (graphit["stored"], graphit["now"], graphit["new"]) == (0, 0, [])
    assert (wetter["stored"], wetter["now"]) == (1, 0)
    (gone,) = wetter["gone"]
    assert gone["title"] == "Wetter: Sonne am Wochenende" and gone["score"] == 100
    assert gone["link"] == f"{FEED_A}#a4" and gone["first_seen"].endswith("Z")


def test_the_rules_on_record_show_no_difference(setup: Path) -> None:
    code, out, _ = run(setup, "backtest")
    assert code == 0
    assert "No differences" in out
    lines = out.splitlines()
    assert lines[0].startswith(f"{len(HISTORY)} entries (all stored)")
    kobalt = next(line for line in lines if line.startswith("kobalt "))
    assert kobalt.split() == ["kobalt", "2", "2", "+0", "-0"]


def test_show_lists_titles_of_new_and_gone_entries(setup: Path) -> None:
    edited = str(setup.parent / "edited.yaml")
    _, quiet, _ = run(setup, "backtest", "--rules", edited)
    assert "Cobalt prices rise" not in quiet and "--show lists" in quiet
    code, out, _ = run(setup, "backtest", "--rules", edited, "-v")
    assert code == 0
    assert "kobalt: 2 new, 0 gone" in out
    assert "+ 100  Cobalt prices rise  [Feed A, id a3]" in out  # the configured feed's name
    assert "- 100  Lithium therapy helps bipolar patients  [Feed A, id a2]" in out
    assert "wetter: 0 new, 1 gone" in out
    assert "graphit:" not in out  # nothing changed for it


def test_since_limits_the_entries_by_first_seen(setup: Path) -> None:
    edited = str(setup.parent / "edited.yaml")
    data = backtest_json(setup, "--rules", edited, "--since", "30d")
    assert data["entries"] == len(HISTORY) - 1
    since = datetime.fromisoformat(data["since"].replace("Z", "+00:00"))
    assert OLD < since < RECENT
    kobalt = next(r for r in data["rules"] if r["rule"] == "kobalt")
    assert ids(kobalt["new"]) == [(FEED_A, "a3")]  # not the 40-day-old o1
    assert backtest_json(setup, "--since", "12h")["entries"] == 0


def test_backtest_never_writes_to_the_store(setup: Path) -> None:
    url = sqlite_url(setup.parent)
    with open_storage(url) as storage:
        before = list(storage.iter_matches())
    run(setup, "backtest", "--rules", str(setup.parent / "edited.yaml"))
    with open_storage(url) as storage:
        assert list(storage.iter_matches()) == before
        assert sum(storage.entry_counts().values()) == len(HISTORY)


def test_usage_mistakes(setup: Path, tmp_path: Path) -> None:
    code, _, err = run(setup, "backtest", "--since", "a month")
    assert code == 2 and "--since" in err and "expected a duration" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {id: x, any: [nope]}\n", encoding="utf-8")
    code, _, err = run(setup, "backtest", "--rules", str(bad))
    assert code == 2 and "unknown concept 'nope'" in err


def test_no_database_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(f"database: {sqlite_url(tmp_path, 'none.db')}\n", encoding="utf-8")
    code, _, err = run(config, "backtest")
    assert code == 1 and "no database at" in err and "monitor once" in err
    assert not (tmp_path / "none.db").exists()


# --- explain --entry ---------------------------------------------------------------------------


def test_explain_an_entry_stored_in_two_feeds_explains_both(setup: Path) -> None:
    code, out, _ = run(setup, "explain", "--rule", "kobalt", "--entry", "shared")
    assert code == 0
    assert f"entry shared in {FEED_A}" in out and f"entry shared in {FEED_B}" in out
    assert out.count("on record: matched, score 100") == 2
    assert "title: Kobaltminen im Kongo" in out and "title: Kobalt aus Sambia" in out
    code, out, _ = run(setup, "explain", "--rule", "kobalt", "--entry", "shared", "--feed", FEED_B)
    assert code == 0 and FEED_A not in out and "Kobalt aus Sambia" in out


def test_explain_an_entry_with_edited_rules_and_as_json(setup: Path) -> None:
    edited = str(setup.parent / "edited.yaml")
    code, out, _ = run(
        setup, "explain", "--rule", "lithium", "--entry", "a2", "--rules", edited, "--json"
    )
    assert code == 0
    (line,) = out.splitlines()
    data = json.loads(line)
    assert (data["feed"], data["entry"]) == (FEED_A, "a2")
    assert data["matched"] is False and data["on_record"] == {"score": 100}
    (concept,) = data["concepts"]
    assert concept["hits"] == []
    assert [h["text"] for h in concept["excluded"]] == ["Lithium"]


def test_explain_highlights_the_stored_entry_on_a_terminal(setup: Path) -> None:
    args = ["-c", str(setup), "explain", "--rule", "kobalt", "--entry", "a3"]
    result = CliRunner().invoke(cli, args, color=True)
    assert result.exit_code == 0
    assert "on record: no match" in result.stdout
    assert "title: Cobalt prices rise" in result.stdout  # no hit: nothing highlighted
    edited = CliRunner().invoke(
        cli, [*args, "--rules", str(setup.parent / "edited.yaml")], color=True
    )
    assert "\x1b[" in edited.stdout and "Cobalt" in edited.stdout


def test_explain_an_unknown_entry_is_a_clear_error(setup: Path) -> None:
    code, out, err = run(setup, "explain", "--rule", "kobalt", "--entry", "nope")
    assert code == 1 and out == ""
    assert "error: no stored entry with id 'nope'" in err
    code, _, err = run(setup, "explain", "--rule", "kobalt", "--entry", "a1", "--feed", FEED_B)
    assert code == 1 and f"no stored entry with id 'a1' in feed {FEED_B}" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--rule", "kobalt"],  # neither TEXT nor --entry
        ["--rule", "kobalt", "--entry", "a1", "Kobalt"],  # both
        ["--rule", "kobalt", "--feed", FEED_A, "Kobalt"],  # --feed without --entry
        ["--rule", "kobalt", "--entry", "a1", "--field", "summary"],
        ["--rule", "kobolt", "--entry", "a1"],  # unknown rule
    ],
)
def test_explain_usage_mistakes_exit_2(setup: Path, args: list[str]) -> None:
    assert run(setup, "explain", *args)[0] == 2


def test_console_entry_point(setup: Path) -> None:
    cmd = [sys.executable, "-m", "monitor", "-c", str(setup), "explain", "--rule", "kobalt"]
    missing = subprocess.run(
        [*cmd, "--entry", "nope"], capture_output=True, text=True, check=False, timeout=60
    )
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "-c", str(setup), "backtest", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["entries"] == len(HISTORY)


# --- the comparison itself ---------------------------------------------------------------------


def test_backtest_ignores_matches_of_entries_outside_the_window() -> None:
    inside, outside = entry(FEED_A, "in", "x"), entry(FEED_A, "out", "y")
    on_record = [(inside, Match("r", 80)), (outside, Match("r", 90))]
    report = backtest([inside], on_record, lambda e: [Match("s", 70)], ["s"])
    assert report.entries == 1
    s, r = report.rules
    assert (s.rule_id, s.stored, s.now, [c.entry.id for c in s.new]) == ("s", 0, 1, ["in"])
    assert (r.rule_id, r.stored, r.now, [c.match.score for c in r.gone]) == ("r", 1, 0, [80])
    assert not report.unchanged
    assert backtest(
        [inside], [(inside, Match("s", 10))], lambda e: [Match("s", 70)], ["s"]
    ).unchanged
