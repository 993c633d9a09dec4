"""The channel interface, and what the channels share: idempotency keys, sent-part memory, and
turning HTTP answers into ``DeliveryError``.

A channel either returns (the message was accepted) or raises ``DeliveryError`` with
``temporary`` (retry later) and ``retry_after`` (seconds the far side asked for).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from monitor.errors import DeliveryError

if TYPE_CHECKING:
    import httpx

    from monitor.model import RenderedMessage

__all__ = [
    "Channel",
    "MemorySentParts",
    "SentParts",
    "http_failure",
    "part_id",
    "retry_after_seconds",
    "safe_key",
]


@runtime_checkable
class Channel(Protocol):
    """Where messages go. ``key`` is stable per delivery: the same key means the same message."""

    @property
    def name(self) -> str: ...

    def send(self, message: RenderedMessage, *, key: str) -> None:
        """Deliver or raise ``DeliveryError``; sending a key again must not duplicate parts
        that were already accepted (as far as this process remembers)."""


class SentParts(Protocol):
    """Which parts of a delivery (Slack messages, email recipients, Apprise URLs) were accepted.

    A retry of the same key skips them, so a split digest that failed at part 3 sends 3.. only.
    The default lives in memory; the store may implement it to survive restarts.
    """

    def done(self, key: str) -> set[str]: ...

    def add(self, key: str, part: str) -> None: ...


class MemorySentParts:
    """Thread-safe, bounded (least recently used keys are forgotten first)."""

    def __init__(self, max_keys: int = 2000) -> None:
        self._parts: OrderedDict[str, set[str]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_keys

    def done(self, key: str) -> set[str]:
        with self._lock:
            parts = self._parts.get(key)
            if parts is None:
                return set()
            self._parts.move_to_end(key)
            return set(parts)

    def add(self, key: str, part: str) -> None:
        with self._lock:
            self._parts.setdefault(key, set()).add(part)
            self._parts.move_to_end(key)
            while len(self._parts) > self._max:
                self._parts.popitem(last=False)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")
_DASHES = re.compile(r"-{2,}")


def safe_key(key: str, limit: int = 96) -> str:
    """The key as a file name / Message-ID local part: [A-Za-z0-9._-], hashed if changed."""
    # No "..", no leading dot: the result is a plain file name and a valid Message-ID atom.
    clean = _DASHES.sub("-", _DOTS.sub("-", _UNSAFE.sub("-", key))).strip(".-") or "message"
    if clean == key and len(key) <= limit:
        return key
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()
    return f"{clean[: limit - 13]}-{digest}"


def part_id(index: int, payload: Any) -> str:
    """Identity of one part: its position and content, so a changed part is never skipped."""
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return f"{index}:{hashlib.blake2b(body, digest_size=8).hexdigest()}"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _excerpt(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def http_failure(channel: str, response: httpx.Response, *, what: str = "") -> DeliveryError:
    """Classify a non-success answer: 408/429/5xx are temporary, other 4xx are not."""
    status = response.status_code
    body = _excerpt(response.text) if response.content else ""
    where = f"{what}: " if what else ""
    if status == 429:
        retry = retry_after_seconds(response.headers.get("Retry-After"))
        return DeliveryError(
            channel,
            f"{where}rate limited (HTTP 429{', ' + body if body else ''}); "
            f"retry after {retry if retry is not None else 'a backoff'} s",
            temporary=True,
            retry_after=retry,
        )
    if status == 408 or status >= 500:
        return DeliveryError(
            channel,
            f"{where}server error HTTP {status} {body}; hint: retried with backoff",
            temporary=True,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    hint = {
        400: "the endpoint rejected the payload; if it persists, report it as a bug",
        401: "check the credentials in the channel's URL or headers",
        403: "check the webhook URL or token (it may have been revoked)",
        404: "check the webhook URL (it may have been deleted)",
        410: "the webhook or its target is gone (archived channel?)",
    }.get(status, "check the channel's URL")
    return DeliveryError(
        channel,
        f"{where}rejected with HTTP {status} {body}; hint: {hint}",
        temporary=False,
    )
