"""The matching CLI as other tools drive it: JSONL in input order, stderr for errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Test</title><link>https://example.org/</link>
<item><guid>a1</guid><title>China verhängt Exportverbot für Gallium</title>
<link>https://example.org/a1</link><description>Peking reagiert.</description></item>
<item><guid>a2</guid><title>Wetter: Sonne</title><link>https://example.org/a2</link></item>
</channel></rss>
"""


def jsonl(*objs: object) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def entries(tmp_path: Path) -> Path:
    path = tmp_path / "entries.jsonl"
    path.write_text(
        jsonl(
            {"id": "n1", "title": "Wetter"},
            {"id": "r1", "title": "Seltene Erden", "summary": "aus China"},
            {"id": "n2", "summary": "nichts"},
        ),
        encoding="utf-8",
    )
    return path


def test_jsonl_output_has_one_line_per_entry_in_input_order(entries: Path) -> None:
    code, out, err = run("match", str(entries))
    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["n1", "r1", "n2"]
    assert rows[0]["matches"] == [] and rows[2]["matches"] == []
    by_rule = {m["rule"]: m for m in rows[1]["matches"]}
    assert {"seltene-erden", "china", "china-rohstoffe"} <= set(by_rule)
    (hit,) = by_rule["seltene-erden"]["explanation"]
    assert hit == {
        "concept": "seltene-erden", "variant": "Seltene Erden", "field": "title",
        "start": 0, "end": 13, "text": "Seltene Erden", "similarity": 100.0,
    }  # fmt: skip
    assert by_rule["seltene-erden"]["priority"] == "alert"
    assert isinstance(by_rule["seltene-erden"]["score"], int)


def test_output_is_deterministic(entries: Path) -> None:
    assert (
        run("match", str(entries))[1]
        == run("match", str(entries), str(entries))[1][: len(run("match", str(entries))[1])]
    )


def test_stdin_dash_reads_jsonl() -> None:
    code, out, _ = run("match", "-", stdin=jsonl({"id": "s", "title": "Lithium"}))
    assert code == 0
    assert [m["rule"] for m in json.loads(out)["matches"]] == ["batterierohstoffe", "lithium"]


def test_a_bad_input_is_reported_and_the_others_still_run(tmp_path: Path, entries: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "ok", "title": "Kobalt"}\nnot json\n{"title": "no id"}\n')
    code, out, err = run("match", str(bad), str(tmp_path / "missing.xml"), str(entries))
    assert code == 1
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["ok", "n1", "r1", "n2"]
    assert f"{bad}:2: not valid JSON" in err
    assert f"{bad}:3: key 'id' is missing" in err
    assert "missing.xml: cannot read" in err


def test_feed_file_input(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    code, out, err = run("match", str(feed))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["a1", "a2"]
    assert {"china", "exportkontrollen", "rohstoff-exportkontrollen"} <= {
        m["rule"] for m in rows[0]["matches"]
    }
    assert rows[1]["matches"] == []


def test_a_file_that_is_not_a_feed_fails_only_itself(tmp_path: Path, entries: Path) -> None:
    junk = tmp_path / "page.html"
    junk.write_text("<html><body>hello</body></html>")
    code, out, err = run("match", str(junk), str(entries))
    assert code == 1 and len(out.splitlines()) == 3
    assert str(junk) in err


def test_table_format_is_for_humans(entries: Path) -> None:
    code, out, _ = run("match", "--format", "table", str(entries))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("ENTRY") and len(lines) == 4
    assert "seltene-erden 100" in lines[2]


def test_usage_errors_exit_2(tmp_path: Path, entries: Path) -> None:
    assert run("match")[0] == 2
    assert run("match", "--format", "xml", str(entries))[0] == 2
    bad_rules = tmp_path / "r.yaml"
    bad_rules.write_text("rules:\n  - {id: x, any: [nope]}\n")
    code, _, err = run("match", "--rules", str(bad_rules), str(entries))
    assert code == 2 and f"{bad_rules}:2: rule 'x' any[0]: unknown concept 'nope'" in err


def test_custom_rules_replace_the_shipped_pack(tmp_path: Path, entries: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("concepts: {w: [Wetter]}\nrules:\n  - {id: wetter, any: [w]}\n")
    _, out, _ = run("match", "--rules", str(rules), str(entries))
    assert [[m["rule"] for m in json.loads(line)["matches"]] for line in out.splitlines()] == [
        ["wetter"], [], [],
    ]  # fmt: skip


def test_explain_shows_score_reason_and_hits() -> None:
    code, out, _ = run("explain", "--rule", "china-rohstoffe", "Seltene Erden aus Australien")
    assert code == 0
    assert "no match" in out and "required concept not found: 'china'" in out
    assert "'Seltene Erden' (title 0:13" in out
    code, out, _ = run("explain", "--rule", "kobalt", "--json", "Die kobaltblaue Farbe")
    data = json.loads(out)
    assert data["matched"] is False and data["score"] == 0
    assert data["concepts"][0]["excluded"][0]["text"] == "kobaltblaue"


def test_explain_highlights_spans_on_a_terminal() -> None:
    result = CliRunner().invoke(cli, ["explain", "--rule", "lithium", "Lithium!"], color=True)
    assert "\x1b[" in result.stdout and "Lithium" in result.stdout


def test_explain_unknown_rule_is_a_usage_error() -> None:
    code, _, err = run("explain", "--rule", "lithum", "x")
    assert code == 2 and "did you mean 'lithium'" in err


def test_rules_check(tmp_path: Path) -> None:
    code, out, _ = run("rules", "check")
    assert code == 0 and out.startswith("ok: ") and "seltene-erden" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("concepts:\n  c: []\nrules:\n  - {id: a, any: [c], treshold: 3}\n")
    code, _, err = run("rules", "check", str(bad))
    assert code == 1
    assert f"{bad}:2: concepts.c: empty concept" in err
    assert f"{bad}:4: rule 'a' treshold: unknown rule key" in err
    assert "problem(s) found" in err


def test_console_entry_point_exit_codes_and_stdin(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "monitor", "match", "-"]
    ok = subprocess.run(cmd, input=jsonl({"id": 1, "title": "Graphit"}), capture_output=True,
                        text=True, check=False, timeout=60)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["id"] == "1"
    bad = subprocess.run(cmd, input="{", capture_output=True, text=True, check=False, timeout=60)
    assert bad.returncode == 1 and "<stdin>:1" in bad.stderr
