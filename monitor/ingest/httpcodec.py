"""HTTP response details for the fetcher: Retry-After, Cache-Control max-age, body hashes,
and Content-Encoding decoding in bounded steps (so a compression bomb cannot take memory)."""

from __future__ import annotations

import email.utils
import hashlib
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime

STEP = 64 * 1024  # most decoded bytes produced per decompression step


def body_hash(content: bytes) -> str:
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def parse_retry_after(value: str | None, *, date: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date.

    An HTTP-date is measured from the response's own Date header when it has one, so a server
    whose clock is off still means "in N seconds"; ``now`` is the fallback reference.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    when = _http_date(text)
    if when is None:
        return None
    reference = _http_date(date) if date else None
    return max(0.0, (when - (reference or now)).total_seconds())


def _http_date(text: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_max_age(cache_control: str | None) -> float | None:
    """``max-age`` from a Cache-Control header, in seconds; None if absent or malformed."""
    if not cache_control:
        return None
    for directive in cache_control.split(","):
        name, _, arg = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            arg = arg.strip().strip('"')
            return float(arg) if arg.isdigit() else None
    return None


class Decoder:
    """Undoes a Content-Encoding in steps of at most ``STEP`` output bytes.

    httpx's own decoders inflate a whole network chunk at once: 64 KiB of a gzip bomb become
    ~64 MiB before anyone can count them. With ``max_length`` the caller sees every step and
    stops at the body limit.
    """

    def __init__(self, encoding: str) -> None:
        self.name = encoding.strip().lower()
        self._wbits: int | None
        if self.name in ("", "identity"):
            self._wbits = None
        elif self.name in ("gzip", "x-gzip"):
            self._wbits = 16 + zlib.MAX_WBITS
        elif self.name == "deflate":
            # "deflate" should be zlib-wrapped, but some servers send it raw: try both.
            self._wbits = zlib.MAX_WBITS
        else:
            raise ValueError(self.name)
        self._zlib = zlib.decompressobj(self._wbits) if self._wbits else None
        self._started = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            if data:
                yield data
            return
        while True:
            try:
                out = self._zlib.decompress(data, STEP)
            except zlib.error:
                if self.name == "deflate" and not self._started:
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started = True
                    continue
                raise
            self._started = True
            if out:
                yield out
            data = self._zlib.unconsumed_tail
            if not data and self._zlib.eof and self._zlib.unused_data and self._wbits:
                # Another gzip member follows (concatenated gzip files are valid gzip).
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(self._wbits)
            # A full step may leave output buffered inside zlib: ask again until it runs dry.
            if not data and len(out) < STEP:
                return

    def flush(self) -> bytes:
        return self._zlib.flush() if self._zlib is not None else b""
