"""Rule files: the shipped pack loads; every mistake is reported with file, line, rule and key."""

from __future__ import annotations

import os
import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.matching.loader import check_rules, load_rules
from monitor.matching.match import compile_rules
from monitor.model import Entry, Priority
from monitor.resources import shipped_rules_dir

NOW = datetime(2026, 1, 11, tzinfo=UTC)
REQUIRED_IDS = {
    "seltene-erden",
    "lithium",
    "kobalt",
    "gallium-germanium",
    "graphit",
    "lieferketten",
    "exportkontrollen",
    "china",
    "kritische-rohstoffe",
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


GOOD = """
concepts:
  lithium:
    - Lithium-
  china: [China, {term: PRC, case: true}]
rules:
  - id: lithium
    title: Lithium
    any: [lithium]
  - id: china-lithium
    title: China and lithium
    all: [china, lithium]
    fields: {title: 1.0, summary: 0.5}
    threshold: 60
    priority: alert
"""


def test_shipped_pack_has_the_required_rules_and_composites() -> None:
    rules = load_rules([shipped_rules_dir()])
    assert set(rules.ids) >= REQUIRED_IDS
    composites = [r for r in rules.rules if len(r.concepts) > 1]
    assert {r.id for r in composites} >= {"china-rohstoffe", "rohstoff-exportkontrollen"}
    assert all(r.file.endswith(".yaml") and r.line for r in rules.rules)


def test_a_valid_file_gives_typed_rules(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, "r.yaml", GOOD)])
    rule = rules.rule("china-lithium")
    assert rule.all == ("china", "lithium")
    assert dict(rule.fields) == {"title": 1.0, "summary": 0.5}
    assert (rule.threshold, rule.priority, rule.line) == (60, Priority.ALERT, 9)
    lithium = rules.concepts["lithium"].variants[0]
    assert (lithium.term, lithium.head, lithium.tail) == ("Lithium", True, False)
    prc = rules.concepts["china"].variants[1]
    assert prc.case and prc.term == "PRC"


def test_variant_shorthand_marks_compound_heads_and_tails(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """
        concepts:
          e: [Exportstopp-, -exportstopp, export ban]
        rules:
          - {id: e, any: [e]}
        """,
    )
    head, tail, plain = load_rules([path]).concepts["e"].variants
    assert (head.head, head.tail, head.term) == (True, False, "Exportstopp")
    assert (tail.head, tail.tail, tail.term) == (False, True, "exportstopp")
    assert (plain.head, plain.tail, plain.term) == (False, False, "export ban")


@pytest.mark.parametrize(
    ("body", "line", "rule", "key", "words"),
    [
        (
            "concepts: {c: [Kobalt]}\nrules:\n  - id: k\n    any: [c]\n    treshold: 50\n",
            5, "k", "treshold", ["unknown rule key", "did you mean 'threshold'"],
        ),
        (
            "concepts: {c: [Kobalt]}\nrules:\n  - id: k\n    any: [c]\n    threshold: high\n",
            5, "k", "threshold", ["whole number from 1 to 100", "str 'high'"],
        ),
        (
            "concepts: {c: [Kobalt]}\nrules:\n  - id: k\n    any: [cobalt]\n",
            3, "k", "any[0]", ["unknown concept 'cobalt'"],
        ),
        (
            "concepts: {c: [Kobalt]}\nrules:\n  - id: k\n    any: [c]\n    priority: urgent\n",
            5, "k", "priority", ["expected `alert` or `digest`"],
        ),
        (
            "concepts: {c: [Kobalt]}\nrules:\n  - id: k\n    any: [c]\n    fields: {body: 1}\n",
            5, "k", "fields", ["unknown field 'body'"],
        ),
        (
            "concepts: {c: [Kobalt]}\nrules:\n  - id: k\n    title: K\n",
            3, "k", "any", ["names no concept"],
        ),
        (
            "concepts:\n  c: []\nrules:\n  - {id: k, any: [c]}\n",
            2, None, "concepts.c", ["empty concept"],
        ),
        (
            "concepts:\n  c:\n    - {term: Kobalt, fuzy: false}\n",
            3, None, "concepts.c[0].fuzy", ["unknown variant option 'fuzy'", "'fuzzy'"],
        ),
        (
            "concepts:\n  c:\n    - Co-\n",
            3, None, "concepts.c[0]", ["at least 4 letters"],
        ),
        (
            "concepts:\n  c:\n    - {term: Co, weight: 2}\n",
            3, None, "concepts.c[0].weight", ["(0, 1]", "int 2"],
        ),
        (
            "rules:\n  - id: k\n\t  any: [c]\n",
            3, None, None, ["invalid YAML", "'\\t'"],
        ),
    ],
)  # fmt: skip
def test_errors_name_file_line_rule_and_key(
    tmp_path: Path, body: str, line: int, rule: str | None, key: str | None, words: list[str]
) -> None:
    path = write(tmp_path, "bad.yaml", body)
    with pytest.raises(RuleError) as info:
        load_rules([path])
    err = info.value
    assert (err.file, err.line, err.rule) == (str(path), line, rule)
    if key is not None:
        assert err.key is not None and err.key.endswith(key)
    message = str(err)
    assert message.startswith(f"{path}:{line}: ")
    for word in words:
        assert word in message


def test_duplicate_rule_ids_across_files_name_both_places(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "concepts: {c: [Kobalt]}\nrules:\n  - {id: k, any: [c]}\n")
    b = write(tmp_path, "b.yaml", "rules:\n  - {id: x, any: [c]}\n  - {id: k, any: [c]}\n")
    with pytest.raises(RuleError) as info:
        load_rules([tmp_path])
    assert (info.value.file, info.value.line, info.value.rule) == (str(b), 3, "k")
    assert f"first defined at {a}:3" in str(info.value)


def test_duplicate_concept_ids_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "concepts: {c: [Kobalt]}\n")
    write(tmp_path, "b.yaml", "concepts:\n  c: [Cobalt]\n")
    with pytest.raises(RuleError, match="duplicate concept id 'c'"):
        load_rules([tmp_path])


def test_check_collects_every_error_and_load_mentions_how_many_more(tmp_path: Path) -> None:
    body = "concepts: {c: [Kobalt]}\nrules:\n  - {id: a, any: [x]}\n  - {id: b, any: [y]}\n"
    path = write(tmp_path, "bad.yaml", body)
    ruleset, errors = check_rules([path])
    assert ruleset is None
    assert [(e.rule, e.line) for e in errors] == [("a", 3), ("b", 4)]
    with pytest.raises(RuleError, match=r"and 1 more"):
        load_rules([path])


def test_missing_path_and_empty_directory_are_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="not found"):
        load_rules([tmp_path / "nope.yaml"])
    with pytest.raises(RuleError, match="no rule files"):
        load_rules([tmp_path])


def test_unknown_rule_lookup_suggests_a_close_id(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, "r.yaml", GOOD)])
    with pytest.raises(RuleError, match="did you mean 'lithium'"):
        rules.rule("lithum")


def test_changed_sees_edits_and_new_files_and_mark_seen_resets(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", GOOD)
    rules = load_rules([tmp_path])
    assert not rules.changed()
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert rules.changed()
    rules.mark_seen()
    assert not rules.changed()
    write(tmp_path, "more.yaml", "concepts: {x: [Gallium]}\n")
    assert rules.changed()


def test_the_near_example_in_the_rule_format_docs_loads_and_matches(tmp_path: Path) -> None:
    readme = (shipped_rules_dir() / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S) if "near:" in b]
    path = tmp_path / "near.yaml"
    stub = "  seltene-erden: [rare earth]\nrules: [{id: x, any: [seltene-erden-export]}]\n"
    path.write_text(block + stub, encoding="utf-8")
    rules = load_rules([path])
    assert rules.concepts["exportkontrollen"].near[1].within == 4
    assert rules.concepts["seltene-erden-export"].near[0].within is None
    e = Entry("t", "1", "Beijing curbs the export of rare earth magnets", None, "", "", NOW)
    assert [m.rule_id for m in compile_rules(rules).match(e)] == ["x"]
