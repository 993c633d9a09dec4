"""Human units in settings and on the command line: durations ("90s", "15m", "1h30m", "7d")
and byte sizes ("10MB", "512KiB")."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

DEFAULT_MAX_BODY = 10 * 1024 * 1024
"""fetch.max_body's default: the one body limit, applied by the fetcher and again by the parser."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
}
MAX_DURATION = timedelta(days=3650)
"""Longer than any sensible interval or retention; beyond it timedelta overflows soon."""
MAX_SIZE = 1 << 40
"""1 TiB: no feed body or setting needs more."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?i?b?)\s*$", re.IGNORECASE)
_SIZE_FACTOR = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024, "ki": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2, "mi": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "gi": 1024**3,
}  # fmt: skip


def parse_duration(value: Any) -> timedelta:
    """A number is seconds; a string is one or more number+unit parts ("1h30m")."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a duration such as 30s, 15m, 2h or 7d, found {_kind(value)}")
    if isinstance(value, int | float):
        return _bounded(float(value), value)
    text = value.strip().replace(" ", "")
    if not text:
        raise ValueError("expected a duration such as 30s, 15m, 2h or 7d, found an empty string")
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
        pos = m.end()
    if pos != len(text):
        try:
            seconds = float(text)
        except ValueError:
            raise ValueError(
                f"expected a duration such as 30s, 15m, 2h or 7d, found {value!r}"
            ) from None
        return _bounded(seconds, value)
    return _bounded(total, value)


def _bounded(seconds: float, value: object) -> timedelta:
    if math.isnan(seconds):
        raise ValueError("expected a duration such as 30s, 15m, 2h or 7d, found not-a-number")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(
            f"a duration of at most {format_duration(MAX_DURATION)} is expected, found {value!r}"
        )
    return timedelta(seconds=seconds)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def parse_size(value: Any) -> int:
    """Bytes; "10MB" is 10,000,000 and "10MiB" is 10,485,760."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a size such as 10MB or 512KiB, found {_kind(value)}")
    if isinstance(value, int):
        size = value
    else:
        m = _SIZE.match(value)
        if not m or m.group(2).lower() not in _SIZE_FACTOR:
            raise ValueError(f"expected a size such as 10MB or 512KiB, found {value!r}")
        size = int(float(m.group(1)) * _SIZE_FACTOR[m.group(2).lower()])
    if size < 0:
        raise ValueError("a size cannot be negative")
    if size > MAX_SIZE:
        raise ValueError(f"a size of at most 1TiB is expected, found {value!r}")
    return size


def format_duration(td: timedelta) -> str:
    seconds = int(td.total_seconds())
    if seconds % 86400 == 0 and seconds:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A pydantic field type: "90s", "15m", "1h30m", "7d" or a number of seconds."""
ByteSize = Annotated[int, BeforeValidator(parse_size)]
"""A pydantic field type: "10MB", "512KiB" or a number of bytes."""
