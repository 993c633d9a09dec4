"""The file channel: one file per format, atomic, named from the key, idempotent."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from monitor.config.channels import FileChannelSettings
from monitor.errors import DeliveryError
from monitor.model import RenderedMessage
from monitor.notify.file import FileChannel
from monitor.notify.registry import build_channel

NOW = datetime(2025, 11, 24, 6, 0, tzinfo=UTC)
MESSAGE = RenderedMessage(
    kind="digest",
    subject="Rohstoff-Digest: 2 Treffer – Gallium & Germanium",
    text="Größere Lieferungen 🚢\n",
    html="<!DOCTYPE html><html><body><p>Größere &amp; <mark>Gallium</mark></p></body></html>",
    slack_payloads=[{"text": "Teil 1", "blocks": []}, {"text": "Teil 2", "blocks": []}],
    data={"kind": "digest", "total": 2, "groups": []},
    created=NOW,
)


def channel(folder: Path, **kw: object) -> FileChannel:
    settings = FileChannelSettings.model_validate({"type": "file", "path": str(folder)} | kw)
    ch = build_channel("archiv", settings)
    assert isinstance(ch, FileChannel)
    return ch


def test_writes_every_format(tmp_path: Path) -> None:
    out = tmp_path / "outbox"
    channel(out).send(MESSAGE, key="digest-morgen-20251124T0600Z")
    stem = "digest-morgen-20251124T0600Z"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}{s}" for s in (".eml", ".html", ".txt", ".slack.json", ".json")
    )
    eml = message_from_bytes((out / f"{stem}.eml").read_bytes(), policy=policy.default)
    assert str(eml["Subject"]) == MESSAGE.subject
    assert eml["Message-ID"] == f"<{stem}@localhost>"
    assert eml.get_content_type() == "multipart/alternative"
    assert (out / f"{stem}.html").read_text(encoding="utf-8") == MESSAGE.html
    assert (out / f"{stem}.txt").read_text(encoding="utf-8") == MESSAGE.text
    assert json.loads((out / f"{stem}.slack.json").read_text()) == MESSAGE.slack_payloads
    data = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
    assert data["key"] == stem and data["total"] == 2 and data["subject"] == MESSAGE.subject


def test_same_key_overwrites_never_duplicates(tmp_path: Path) -> None:
    ch = channel(tmp_path, formats=["txt", "html"])
    ch.send(MESSAGE, key="alert-1")
    ch.send(replace(MESSAGE, text="zweite Fassung\n"), key="alert-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alert-1.html", "alert-1.txt"]
    assert (tmp_path / "alert-1.txt").read_text(encoding="utf-8") == "zweite Fassung\n"
    ch.send(MESSAGE, key="alert-2")
    assert len(list(tmp_path.iterdir())) == 4  # no temporary files left behind


def test_hostile_key_stays_inside_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    channel(out, formats=["txt"]).send(MESSAGE, key="../../etc/passwd")
    [written] = list(out.iterdir())
    assert written.parent == out and not written.name.startswith(".")
    assert ".." not in written.name and "/" not in written.name
    assert list(tmp_path.iterdir()) == [out]


def test_unwritable_folder_is_a_temporary_error_naming_the_channel(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(DeliveryError) as info:
        channel(blocker / "outbox").send(MESSAGE, key="k")
    assert info.value.temporary and info.value.channel == "archiv"
    assert "cannot write to" in str(info.value) and "hint" in str(info.value)
