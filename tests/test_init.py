"""`monitor init`: a starter monitor.yaml and a rules folder of one's own, beside the shipped pack.

Also how `rules:` combines packs: `[]` is the shipped pack, `shipped` names it in a list, and a
list without it is only the user's rules, which `rules check` and the start log say.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.settings import load_settings
from monitor.matching.loader import load_rules
from monitor.resources import describe_rule_paths, shipped_rules_dir
from tests.fixtures.feed_server import FeedServer
from tests.support import TUNGSTEN_FEED, add_feed_to_starter, matched_rules
from tests.support import run_monitor as monitor


def test_init_writes_a_config_that_loads_and_a_valid_rules_folder(tmp_path: Path) -> None:
    out = monitor("init", "mine", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    target = tmp_path / "mine"
    assert (target / "monitor.yaml").is_file() and (target / "my-rules" / "example.yaml").is_file()
    assert "cd mine" in out.stdout and "monitor once" in out.stdout

    settings = load_settings(target / "monitor.yaml", env={})  # the real loader
    assert settings.rule_paths() == [shipped_rules_dir(), target / "my-rules"]
    assert settings.feeds == () and "outbox" in settings.channels
    assert {s.mode for s in settings.subscriptions} == {"digest", "alert"}
    text = (target / "monitor.yaml").read_text(encoding="utf-8")
    for documented in ("database:", "rules:", "defaults:", "feeds:", "channels:", "subscriptions:"):
        assert f"\n{documented}" in text
    assert "# database: postgresql://" in text and "type: email" in text  # commented examples

    own = load_rules([target / "my-rules"])  # valid on its own ...
    assert own.ids == ("wolfram",)
    both = load_rules(settings.rule_paths())  # ... and adds to the shipped pack
    assert set(both.ids) == set(load_rules([shipped_rules_dir()]).ids) | {"wolfram"}


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / "monitor.yaml").write_text("database: sqlite:///mine.db\n", encoding="utf-8")
    out = monitor("init", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "not overwriting what is there: monitor.yaml" in out.stderr
    assert "--force" in out.stderr
    assert (tmp_path / "monitor.yaml").read_text() == "database: sqlite:///mine.db\n"
    assert not (tmp_path / "my-rules").exists()  # nothing half-written

    forced = monitor("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "replaced monitor.yaml" in forced.stdout
    assert "rules: [shipped, my-rules]" in (tmp_path / "monitor.yaml").read_text()


def test_init_into_a_file_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    out = monitor("init", "taken", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "taken" in out.stderr


def test_own_rule_matches_beside_the_shipped_ones(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/ticker.xml", TUNGSTEN_FEED, headers={"Content-Type": "application/rss+xml"})
    assert monitor("init", cwd=tmp_path).returncode == 0
    empty = monitor("once", cwd=tmp_path)
    assert empty.returncode == 2 and "no feeds are configured" in empty.stderr  # says how to add

    add_feed_to_starter(tmp_path / "monitor.yaml", feed_server.url("/ticker.xml"))
    check = monitor("rules", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "from: the shipped pack + my-rules" in check.stdout
    assert "wolfram " in check.stdout and "seltene-erden " in check.stdout

    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert 'rules.loaded rules=13 files=4 packs="the shipped pack + my-rules"' in out.stderr
    found = matched_rules(out.stdout)
    tungsten = next(t for t in found if t.startswith("Wolframpreis"))
    lithium = next(t for t in found if t.startswith("Lithium"))
    assert found[tungsten] == {"wolfram"} and "lithium" in found[lithium]
    digest = next((tmp_path / "outbox").glob("digest-morgen-*.txt")).read_text(encoding="utf-8")
    assert "Wolfram / tungsten" in digest and "Lithium" in digest


@pytest.mark.parametrize(
    ("rules", "packs", "mine", "shipped"),
    [
        ("[]", "the shipped pack", False, True),
        ("[shipped, mine]", "the shipped pack + mine", True, True),
        (
            "[mine]",
            "mine (the shipped pack is not loaded: add `shipped` to `rules:` for it)",
            True,
            False,
        ),
    ],
)
def test_rules_setting_names_the_packs_it_loads(
    tmp_path: Path, rules: str, packs: str, mine: bool, shipped: bool
) -> None:
    write_tungsten_rule(tmp_path / "mine")
    (tmp_path / "monitor.yaml").write_text(f"rules: {rules}\nfeeds: []\n")
    settings = load_settings(tmp_path / "monitor.yaml", env={})
    assert describe_rule_paths(settings.rule_paths()).replace(f"{tmp_path}/", "") == packs
    check = monitor("rules", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert f"from: {packs}" in check.stdout.replace(f"{tmp_path}/", "")
    assert ("wolfram " in check.stdout) == mine
    assert ("china-rohstoffe " in check.stdout) == shipped


def test_shipped_is_a_token_and_dot_slash_shipped_a_folder(tmp_path: Path) -> None:
    write_tungsten_rule(tmp_path / "shipped")
    token = monitor("rules", "check", "shipped", cwd=tmp_path)
    assert token.returncode == 0, token.stderr
    assert "from: the shipped pack\n" in token.stdout and "wolfram " not in token.stdout
    folder = monitor("rules", "check", "./shipped", cwd=tmp_path)
    assert folder.returncode == 0, folder.stderr
    assert "ok: 1 rules" in folder.stdout and "the shipped pack is not loaded" in folder.stdout


def write_tungsten_rule(folder: Path) -> None:
    folder.mkdir()
    (folder / "r.yaml").write_text(
        "concepts:\n  wolfram: [Wolfram-]\nrules:\n  - {id: wolfram, title: W, any: [wolfram]}\n"
    )
