"""Rules in the daemon: compiled once, recompiled when their files change or on SIGHUP; an
invalid edit keeps the old rules (and says why); invalid rules at start refuse to start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app.service import RuleBook
from monitor.errors import RuleError
from monitor.model import Entry
from tests.support import log_kv, wait_for

RULE = """
concepts:
  gallium: [Gallium]
rules:
  - id: gallium-only
    title: Gallium
    description: test
    any: [gallium]
"""


def entry(title: str) -> Entry:
    return Entry(
        feed_url="f",
        id=title,
        title=title,
        link=None,
        summary="",
        content="",
        published=datetime(2026, 1, 1, tzinfo=UTC),
    )


def touch_later(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:  # coarse file-system clocks
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_reload_on_change_and_keep_old_rules_on_a_bad_edit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE, encoding="utf-8")
    book = RuleBook([tmp_path])
    assert [m.rule_id for m in book.match(entry("Gallium exports"))] == ["gallium-only"]
    assert book.reload_if_changed() is False  # nothing changed

    touch_later(rules, RULE.replace("[Gallium]", "[Germanium]"))
    assert book.reload_if_changed() is True
    assert book.match(entry("Gallium exports")) == []
    assert [m.rule_id for m in book.match(entry("Germanium exports"))] == ["gallium-only"]

    touch_later(rules, RULE.replace("any: [gallium]", "any: [galium]"))
    with caplog.at_level("ERROR", logger="monitor"):
        assert book.reload_if_changed() is False
    [failure] = [r for r in caplog.records if r.getMessage() == "rules.reload_failed"]
    assert "galium" in log_kv(failure)["error"]
    # The old, valid rules stay in force, and the bad edit is reported once, not every check.
    assert [m.rule_id for m in book.match(entry("Germanium exports"))] == ["gallium-only"]
    caplog.clear()
    assert book.reload_if_changed() is False and "reload_failed" not in caplog.text

    touch_later(rules, RULE)
    assert book.reload_if_changed() is True


def test_invalid_rules_at_start_are_refused(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULE.replace("any: [gallium]", "any: [nope]"))
    with pytest.raises(RuleError, match="nope"):
        RuleBook([tmp_path])


def test_daemon_refuses_to_start_on_invalid_rules(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.yaml").write_text(
        RULE.replace("    title: Gallium", "    titel: Gallium")
    )
    (tmp_path / "monitor.yaml").write_text("rules: rules\nfeeds: []\n")
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 2
    assert "bad.yaml:6" in out.stderr and "gallium-only" in out.stderr and "titel" in out.stderr
    assert "Traceback" not in out.stderr


def test_sighup_reloads_the_rules_in_the_daemon(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    rules = tmp_path / "rules" / "r.yaml"
    rules.write_text(RULE)
    (tmp_path / "monitor.yaml").write_text("rules: rules\nfeeds: []\n")
    log = tmp_path / "log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run"],
        cwd=tmp_path,
        stderr=log.open("w"),
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: "daemon.started" in log.read_text())
        touch_later(rules, RULE.replace("[Gallium]", "[Gallium, Germanium]"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "rules.reloaded" in log.read_text())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_reload_that_drops_a_subscribed_rule_is_rejected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from monitor.app.service import check_subscription_rules
    from monitor.config.settings import Settings

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE, encoding="utf-8")
    settings = Settings.model_validate(
        {
            "channels": {"out": {"type": "file", "path": "out"}},
            "subscriptions": [
                {"name": "eil", "channel": "out", "mode": "alert", "rules": ["gallium-only"]}
            ],
        }
    )
    book = RuleBook([tmp_path], check=lambda ids: check_subscription_rules(settings, ids))
    touch_later(rules, RULE.replace("id: gallium-only", "id: gallium-renamed"))
    with caplog.at_level("ERROR", logger="monitor"):
        assert book.reload_if_changed() is False
    [failure] = [r for r in caplog.records if r.getMessage() == "rules.reload_failed"]
    assert "subscription 'eil' names rule 'gallium-only'" in log_kv(failure)["error"]
    assert book.rule_ids == ["gallium-only"]  # the old rules stay
