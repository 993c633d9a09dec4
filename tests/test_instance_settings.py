"""The ``instances:`` block of monitor.yaml: defaults, values, and clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config.settings import InstanceSettings, load_settings
from monitor.errors import MonitorError


def load(tmp_path: Path, block: str) -> InstanceSettings:
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"database: sqlite:///{tmp_path / 'm.db'}\n{block}\n", encoding="utf-8")
    return load_settings(cfg).instances


def test_defaults_and_values(tmp_path: Path) -> None:
    d = load(tmp_path, "")
    assert (d.lease, d.batch, d.heartbeat) == (
        timedelta(seconds=120),
        50,
        timedelta(seconds=1),
    )
    v = load(tmp_path, "instances: {lease: 10s, batch: 5, heartbeat: 500ms}")
    assert (v.lease, v.batch, v.heartbeat) == (
        timedelta(seconds=10),
        5,
        timedelta(milliseconds=500),
    )


def test_wakeup_is_notify_unless_told(tmp_path: Path) -> None:
    assert load(tmp_path, "").wakeup == "notify"
    assert load(tmp_path, "instances: {wakeup: heartbeat}").wakeup == "heartbeat"


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ("instances: {lease: 1s, heartbeat: 1s}", "at least twice"),
        ("instances: {batch: 0}", "batch"),
        ("instances: {lease: soon}", "lease"),
        ("instances: {leases: 10s}", "leases"),
        ("instances: {wakeup: listen}", "wakeup"),
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, block: str, words: str) -> None:
    with pytest.raises(MonitorError, match=words) as caught:
        load(tmp_path, block)
    assert "instances" in str(caught.value)
