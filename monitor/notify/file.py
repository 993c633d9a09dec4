"""The file channel: each message as files in a folder (.eml, .html, .txt, .slack.json, .json).

Names come from the delivery key, and every file is written atomically (temporary file, fsync,
rename): sending the same key again overwrites, never duplicates, and a crash never leaves a
half-written file under a final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from monitor.config.channels import FileChannelSettings
from monitor.errors import DeliveryError
from monitor.model import RenderedMessage
from monitor.notify.base import safe_key
from monitor.notify.email import build_email

__all__ = ["FileChannel", "atomic_write"]

SUFFIX = {"eml": ".eml", "html": ".html", "txt": ".txt", "slack": ".slack.json", "data": ".json"}


def atomic_write(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the folder itself is synced (not possible everywhere).
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _json(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


class FileChannel:
    def __init__(self, name: str, settings: FileChannelSettings) -> None:
        self.name = name
        self.settings = settings

    def __repr__(self) -> str:
        return f"FileChannel({self.name!r}, {self.settings.path})"

    def paths(self, key: str) -> dict[str, Path]:
        """Where each format of the message with this key is (or would be) written."""
        stem = safe_key(key)
        return {f: self.settings.path / f"{stem}{SUFFIX[f]}" for f in self.settings.formats}

    def _content(self, fmt: str, message: RenderedMessage, key: str) -> bytes:
        if fmt == "eml":
            s = self.settings
            return build_email(message, key=key, from_addr=s.from_, to=s.to).as_bytes()
        if fmt == "html":
            return message.html.encode("utf-8")
        if fmt == "txt":
            return message.text.encode("utf-8")
        if fmt == "slack":
            return _json(message.slack_payloads)
        return _json({"key": key, "subject": message.subject, **message.data})

    def send(self, message: RenderedMessage, *, key: str) -> None:
        folder = self.settings.path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for fmt, path in self.paths(key).items():
                atomic_write(path, self._content(fmt, message, key))
        except OSError as exc:
            raise DeliveryError(
                self.name,
                f"cannot write to {folder}: {exc.strerror or exc}; "
                "hint: check that the folder is writable and the disk not full",
                temporary=True,
            ) from exc
