"""Secret setting values never reach a terminal or a log: they are replaced by ``***``.

Secret settings are the channel settings that carry credentials (``password``, ``webhook_url``,
``urls``, ``headers``, a webhook channel's ``url``), the password in a database URL, and every
value that came from a ``${ENV}`` reference. ``remember`` registers them when the config is loaded;
``redact`` is applied to error messages, log lines and command output.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_CHANNEL_KEYS",
    "forget_all",
    "is_secret_loc",
    "redact",
    "remember",
    "secret_values",
]

REDACTED = "***"
SECRET_CHANNEL_KEYS = frozenset({"password", "webhook_url", "urls", "headers"})
"""Channel settings whose values are secret in every channel type (plus a webhook's ``url``)."""
_MIN_LENGTH = 4  # shorter values ("on", "1") would blank out ordinary words
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/:@\s]*):[^/@\s]+@")
_TOKEN_QUERY = re.compile(
    r"(?P<key>[?&](?:[A-Za-z_-]*(?:token|key|secret|password|passwd|sig|signature|auth))=)"
    r"[^&#\s]+",
    re.IGNORECASE,
)

_known: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def remember(values: Iterable[str]) -> None:
    """Register secret values so that ``redact`` hides them from now on (for this process)."""
    global _pattern
    with _lock:
        before = len(_known)
        for value in values:
            for v in (value, value.strip()):
                if len(v) >= _MIN_LENGTH:
                    _known.add(v)
        if len(_known) != before:
            ordered = sorted(_known, key=len, reverse=True)  # longest first: no partial leftovers
            _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def forget_all() -> None:
    """For tests: drop every registered value."""
    global _pattern
    with _lock:
        _known.clear()
        _pattern = None


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with registered secrets, ``extra`` values, URL passwords and token query
    parameters replaced by ``***``."""
    extras = sorted(
        {v for value in extra for v in (value, value.strip()) if len(v) >= _MIN_LENGTH},
        key=len,
        reverse=True,
    )
    for value in extras:
        text = text.replace(value, REDACTED)
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    return _TOKEN_QUERY.sub(lambda m: f"{m['key']}{REDACTED}", text)


def is_secret_loc(data: Any, loc: tuple[str | int, ...]) -> bool:
    """Whether ``loc`` (a key path into raw monitor.yaml data) is at or under a secret setting."""
    if len(loc) < 3 or loc[0] != "channels":
        return False
    key = loc[2]
    if key in SECRET_CHANNEL_KEYS:
        return True
    if key == "url":
        channels = data.get("channels") if isinstance(data, Mapping) else None
        body = channels.get(loc[1]) if isinstance(channels, Mapping) else None
        return isinstance(body, Mapping) and body.get("type") == "webhook"
    return False


def secret_values(data: Any) -> list[str]:
    """Every secret string in raw monitor.yaml data (channels' secret settings, the database
    password), whether or not the data is valid."""
    out: list[str] = []
    channels = data.get("channels") if isinstance(data, Mapping) else None
    if isinstance(channels, Mapping):
        for name, body in channels.items():
            if not isinstance(body, Mapping):
                continue
            for key, value in body.items():
                if is_secret_loc(data, ("channels", str(name), str(key))):
                    out.extend(_strings(value))
    database = data.get("database") if isinstance(data, Mapping) else None
    if isinstance(database, str):
        m = _USERINFO.search(database)
        if m:
            password = database[m.end("user") + 1 : m.end() - 1]
            out.append(password)
    return out


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
    elif value is not None and not isinstance(value, bool):
        yield str(value)
