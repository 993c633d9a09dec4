"""Bytes of a feed from HTTP(S) or a local file, within limits: the fetch edge of the pipeline.

Conditional GET, redirects followed by hand (counted, loops caught, permanence tracked), a body
limit that holds after decompression, connect/read/total timeouts, and global and per-host
concurrency limits. Anything but a 200 or a 304 is raised as ``FetchError``.
"""

from __future__ import annotations

import asyncio
import math
import socket
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import HTTPException
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeGuard, TypeVar, cast, runtime_checkable
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx
import urllib3
import urllib3.connection
from httpx._utils import URLPattern, get_environment_proxies
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from monitor import USER_AGENT
from monitor.config.units import DEFAULT_MAX_BODY
from monitor.errors import FetchError
from monitor.ingest.connect import AddressRefused, Stopped, connect
from monitor.ingest.httpcodec import Decoder, body_hash, parse_max_age, parse_retry_after

__all__ = [
    "ACCEPT",
    "ACCEPT_ENCODING",
    "FetchLimits",
    "FetchResult",
    "Fetcher",
]

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# No "br"/"zstd": their Python decoders cannot cap the output of one step, and a capped step is
# what keeps a compression bomb from taking memory (see Decoder).
ACCEPT_ENCODING = "gzip, deflate"

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A redirect's or an error's body is read (and dropped) up to this size, so that the connection
# goes back to the pool; a larger one is not worth the bytes: the connection is closed instead.
_DRAIN_BYTES = 64 * 1024
_PERMANENT = frozenset({301, 308})
_READ_BYTES = 64 * 1024
"""Largest piece of a body read at once (less when less has arrived)."""


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How long, how big and how many: the fetch settings."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    """Longest wait for the next bytes from the server."""
    total_timeout: float = 60.0
    """Whole fetch, redirects and body included; holds against a server that drips bytes."""
    max_body_bytes: int = DEFAULT_MAX_BODY
    """Counted after decompression (the setting fetch.max_body)."""
    max_redirects: int = 5
    concurrency: int = 8
    """Fetches in flight at once, over all hosts."""
    per_host: int = 2
    """Fetches in flight at once to one host name."""
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"FetchLimits.{name} must be a positive number, not {value!r}")
        for name in ("max_body_bytes", "concurrency", "per_host"):
            if getattr(self, name) < 1:
                raise ValueError(f"FetchLimits.{name} must be at least 1")
        if self.max_redirects < 0:
            raise ValueError("FetchLimits.max_redirects must not be negative")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A 200 (``content`` set) or a 304 (``not_modified``, ``content`` None)."""

    url: str
    """As requested."""
    final_url: str
    """After redirects."""
    permanent_url: str | None
    """``final_url`` when every redirect hop was permanent (301/308), else None."""
    status: int
    not_modified: bool
    content: bytes | None
    """Decoded (no Content-Encoding left); None on 304."""
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers, lower-case keys; content-encoding and content-length removed."""
    etag: str | None = None
    """On a 304 without validators of its own: the ones sent, so the caller can always store it."""
    last_modified: str | None = None
    body_hash: str | None = None
    """Hash of ``content``; None on 304. Equal to the stored one: the body did not change."""
    max_age: float | None = None
    """Cache-Control max-age in seconds."""
    elapsed: float = 0.0
    """Seconds spent fetching, waits for a concurrency slot not included."""


@dataclass(frozen=True, slots=True)
class _Redirect:
    status: int
    location: str


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: dict[str, str]
    content: bytes | None


HopGuard = Callable[[str], Awaitable[str | None]]
"""Asked with each URL a fetch is about to request: None lets it through, a message refuses it."""

Screen = Callable[[str], str | None]
"""Asked with each address a connect is about to connect to: None lets it through."""


@runtime_checkable
class ScreeningGuard(Protocol):
    """A ``HopGuard`` that also screens the addresses connected to (``PublicHosts``)."""

    async def __call__(self, url: str) -> str | None: ...

    def screen(self, host: str) -> Screen | None: ...


def _fail(
    url: str,
    what: str,
    hint: str,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    temporary: bool = True,
) -> FetchError:
    return FetchError(
        url, f"{what}; hint: {hint}", status=status, retry_after=retry_after, temporary=temporary
    )


def _refused(url: str, current: str, why: str) -> FetchError:
    """A hop the guard refused (before the request or at the connect), for good."""
    where = "" if current == url else f" (redirected to {current})"
    return _fail(
        url,
        f"not fetched{where}: {why}",
        "nothing to do unless the link should be followed",
        temporary=False,
    )


def _status_error(url: str, where: str, status: int, headers: Mapping[str, str]) -> FetchError:
    retry_after = parse_retry_after(
        headers.get("retry-after"), date=headers.get("date"), now=datetime.now(UTC)
    )
    if status == 404:
        what, hint, temporary = "not found", "check the feed URL; sites move their feeds", False
    elif status == 410:
        what = "gone: the publisher removed this feed"
        hint, temporary = "find the feed's new URL or remove it from the configuration", False
    elif status in (401, 403):
        what = "access denied"
        hint = "check that the feed needs no login and the site does not block this User-Agent"
        temporary = False
    elif status == 429:
        what, temporary = "rate limited", True
        hint = "polling again after the server's Retry-After; raise this feed's interval"
    elif status >= 500:
        what, temporary = "server error", True
        hint = "a fault at the publisher's end; polling again with backoff"
    else:
        what, hint = "unexpected response", "open the URL in a browser to see what it returns"
        temporary = status in (408, 425)
    if where != url:
        what += f" at {where}"
    return _fail(
        url,
        f"{what} (HTTP {status})",
        hint,
        status=status,
        retry_after=retry_after,
        temporary=temporary,
    )


def _sendable(validator: str | None) -> TypeGuard[str]:
    """Whether a stored validator can go back in a header.

    A server may have sent non-ASCII or control characters; sending them back would fail or
    split the header. Without the validator the worst case is a full 200, whose body hash
    still spares the parse.
    """
    return (
        validator is not None
        and validator.isascii()
        and validator.isprintable()
        and (validator != "")
    )


def _too_large(url: str, limit: int) -> FetchError:
    return _fail(
        url,
        f"body larger than {limit} bytes (counted after decompression)",
        "raise fetch.max_body in the config if this feed really is that big",
        temporary=False,
    )


def _local_path(url: str) -> Path | None:
    """The file a ``file://`` URL or plain path names; None for an http(s) URL."""
    if not url.strip():
        raise _fail(url, "empty feed URL", "give the feed a URL or a path", temporary=False)
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            _ = parts.port  # raises for a port out of range
            return None
    except ValueError as exc:
        raise _fail(
            url, f"invalid URL ({exc})", "correct the URL in the configuration", temporary=False
        ) from None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _fail(
                url,
                f"file URL names another host ({parts.netloc})",
                "write file:///absolute/path or a plain path",
                temporary=False,
            )
        return Path(url2pathname(parts.path))
    if scheme == "" or len(scheme) == 1:  # a plain path, or a Windows drive letter
        return Path(url).expanduser()
    raise _fail(
        url,
        f"unsupported URL scheme {parts.scheme!r}",
        "use an http://, https:// or file:// URL, or a file path",
        temporary=False,
    )


def _read_file(url: str, path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise _fail(
            url,
            f"file not found: {path.absolute()}",
            "check the path (a relative path in monitor.yaml is taken from the folder of "
            "monitor.yaml, not from the working directory)",
            temporary=False,
        ) from None
    except IsADirectoryError:
        raise _fail(url, f"{path} is a directory", "name a feed file", temporary=False) from None
    except PermissionError:
        raise _fail(
            url, f"no permission to read {path}", "check the file's permissions", temporary=False
        ) from None
    except OSError as exc:
        raise _fail(url, f"cannot read {path}: {exc.strerror or exc}", "check the file") from exc
    if len(data) > limit:
        raise _too_large(url, limit)
    return data


def _transport_error(url: str, exc: Exception, limits: FetchLimits) -> FetchError:
    detail = _detail(exc)
    if isinstance(exc, urllib3.exceptions.NewConnectionError | urllib3.exceptions.SSLError):
        # (NewConnectionError is a ConnectTimeoutError in urllib3: this test comes first.)
        what = f"could not connect ({detail})"
        hint = "check the host name and port, DNS, TLS, firewall or proxy settings"
    elif isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        what = f"no connection within {limits.connect_timeout:g} s"
        hint = "check that the host is up and reachable from here; polling again with backoff"
    elif isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        what = f"the server sent nothing for {limits.read_timeout:g} s"
        hint = "the server is overloaded or stuck; polling again with backoff"
    elif isinstance(exc, urllib3.exceptions.ProxyError):
        what = f"could not connect through the proxy ({detail})"
        hint = "check the HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY environment variables"
    elif isinstance(exc, urllib3.exceptions.ProtocolError | HTTPException | ConnectionError):
        what = f"the server broke the connection or the HTTP protocol ({detail})"
        hint = "usually a fault at the publisher's end; polling again with backoff"
    elif isinstance(exc, httpx.InvalidURL | urllib3.exceptions.LocationValueError):
        return _fail(
            url, f"invalid URL ({detail})", "correct the URL in the configuration", temporary=False
        )
    else:
        what, hint = f"{type(exc).__name__}: {detail}", "polling again with backoff"
    return _fail(url, what, hint)


def _detail(exc: BaseException) -> str:
    """What went wrong, without urllib3's wrapping (``<HTTPConnection object at 0x..>: ...``).

    The OS's or the TLS library's own words where urllib3 wraps them, as httpx gave them."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, urllib3.exceptions.NewConnectionError) and isinstance(cause, OSError):
        return str(cause) or type(cause).__name__
    if isinstance(exc, urllib3.exceptions.ProtocolError) and len(exc.args) == 2:
        inner = exc.args[1]  # ("Connection aborted.", RemoteDisconnected(...))
        if isinstance(inner, BaseException):
            return str(inner) or type(inner).__name__
    text = str(exc) or type(exc).__name__
    if text.startswith("<") and ">: " in text:
        text = text.split(">: ", 1)[1]
    return text


def _header_value(value: str) -> str:
    """A header value as httpx decoded it: http.client reads bytes as Latin-1; httpx took them
    as UTF-8 when they were valid UTF-8."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


class _GaveUp(Exception):
    """The fetch's coroutine stopped waiting (total timeout, cancellation): stop reading."""


class _Stop:
    """Between a fetch's coroutine and the thread doing its request: the coroutine stops
    waiting (total timeout, cancellation, shutdown) -> the thread stops at its next read, and a
    read blocked on the socket now is ended by shutting the socket down (as closing the
    connection did under httpx), so that no thread hangs on for read_timeout."""

    __slots__ = ("_conn", "_lock", "_raw", "screen", "stopped")

    def __init__(self, screen: tuple[str, Screen] | None = None) -> None:
        self._lock = threading.Lock()
        self._conn: urllib3.connection.HTTPConnection | None = None
        self._raw: socket.socket | None = None
        self.stopped = False
        self.screen = screen
        """(host, its screen): the addresses a connect to that host may use."""

    def handshaking(self, sock: socket.socket) -> None:
        """The request thread, after connecting ``sock`` and before TLS (which does not set
        the connection's ``sock`` until done): a stop shuts it down, ending the handshake."""
        with self._lock:
            self._raw = sock

    def watch(self, conn: urllib3.connection.HTTPConnection) -> None:
        """The request thread, before sending on ``conn``."""
        with self._lock:
            if self.stopped:
                raise _GaveUp
            self._conn = conn

    def release(self) -> None:
        """The request thread, before the connection goes back to the pool."""
        with self._lock:
            self._conn = self._raw = None

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            conn, self._conn = self._conn, None
            raw, self._raw = self._raw, None
        sock = conn.sock if conn is not None and conn.sock is not None else raw
        if sock is not None:
            with suppress(OSError):
                # The plain socket's shutdown, under a TLS socket too: the blocked read returns.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


_current = threading.local()
"""``_current.stop``: the ``_Stop`` of the request the thread is doing."""


def _watched(base: type[urllib3.connection.HTTPConnection]) -> type[Any]:
    class Watched(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            # urllib3's, with a connect that ends when the fetch is given up (connect.py).
            stop: _Stop | None = getattr(_current, "stop", None)
            if stop is None:
                return cast(socket.socket, super()._new_conn())
            screened = stop.screen
            # Through a proxy this connects to the proxy, which resolves the name itself.
            refuse = screened[1] if screened and screened[0] == self.host.lower() else None
            try:
                sock = connect(
                    (self._dns_host, self.port),
                    self.timeout if isinstance(self.timeout, (int, float)) else None,
                    lambda: stop.stopped,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                    family=allowed_gai_family(),
                    refuse=refuse,
                )
            except Stopped:
                raise _GaveUp from None
            except socket.gaierror as e:
                raise NameResolutionError(self.host, self, e) from e
            except TimeoutError as e:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from e
            except OSError as e:
                raise NewConnectionError(self, f"Failed to establish a new connection: {e}") from e
            stop.handshaking(sock)
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock

        def request(self, *args: Any, **kwargs: Any) -> None:
            stop: _Stop | None = getattr(_current, "stop", None)
            if stop is not None:
                stop.watch(self)
            super().request(*args, **kwargs)
            if stop is not None and stop.stopped:
                raise _GaveUp  # given up while connecting: the socket came too late to be shut

    Watched.__name__ = f"Watched{base.__name__}"
    return Watched


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _watched(urllib3.connection.HTTPConnection)


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _watched(urllib3.connection.HTTPSConnection)


_POOLS: dict[str, type[urllib3.HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}
_M = TypeVar("_M", bound=urllib3.PoolManager)


class _Transport:
    """Blocking HTTP/1.1 with keep-alive (urllib3's pools), one request per call, run in the
    Fetcher's worker threads.

    A conditional GET answered with a 304 costs about a third of the CPU it cost through httpx
    and httpcore (their request models, h11 and anyio per request). TLS settings and proxies
    from the environment are taken as httpx takes them (``httpx.create_ssl_context``,
    ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY``), certificates are always verified.
    """

    def __init__(self, limits: FetchLimits, verify: ssl.SSLContext | bool, trust_env: bool) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else None
        if context is None:
            context = httpx.create_ssl_context(verify=True, trust_env=trust_env)
        self._options: dict[str, Any] = {
            "num_pools": max(32, 4 * limits.concurrency),
            # The per-host limit holds the number of requests to one host; one idle
            # connection kept for each of them.
            "maxsize": limits.per_host,
            "block": False,
            "ssl_context": context,
            "retries": False,
            "timeout": urllib3.Timeout(connect=limits.connect_timeout, read=limits.read_timeout),
        }
        self._direct = self._with_pools(urllib3.PoolManager(**self._options))
        self._proxies: list[tuple[URLPattern, str | None]] = []
        if trust_env:
            self._proxies = sorted(
                (URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()
            )
        self._via: dict[str, urllib3.ProxyManager] = {}
        self._lock = threading.Lock()

    def _manager(self, url: httpx.URL) -> urllib3.PoolManager:
        proxy = next((p for pattern, p in self._proxies if pattern.matches(url)), None)
        if proxy is None:
            return self._direct
        with self._lock:
            manager = self._via.get(proxy)
            if manager is None:
                manager = urllib3.ProxyManager(proxy, **self._options)
                manager = self._via[proxy] = self._with_pools(manager)
            return manager

    @staticmethod
    def _with_pools(manager: _M) -> _M:
        manager.pool_classes_by_scheme = _POOLS
        return manager

    def open(self, target: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        """The response with its headers read, body not yet (``preload_content=False``)."""
        url = httpx.URL(target)  # validated and normalised as httpx did (IDNA, escapes)
        if not url.host:
            raise httpx.InvalidURL("no host in the URL")
        return self._manager(url).request(
            "GET",
            str(url),
            headers=headers,
            redirect=False,
            preload_content=False,
            decode_content=False,
        )

    def close(self) -> None:
        self._direct.clear()
        with self._lock:
            for manager in self._via.values():
                manager.clear()
            self._via.clear()


def _drain(response: urllib3.BaseHTTPResponse, stop: _Stop) -> None:
    """Read what is left of a response we do not keep, up to ``_DRAIN_BYTES``.

    A fully read response returns its connection to the pool; a larger rest is not worth the
    bytes: that connection is closed instead. A transport error while draining is the server's
    fault on a response we already have: the connection is simply not reused.
    """
    seen = 0
    try:
        while not stop.stopped:
            raw = response.read1(_DRAIN_BYTES, decode_content=False)
            if not raw:
                return
            seen += len(raw)
            if seen > _DRAIN_BYTES:
                break
    except (urllib3.exceptions.HTTPError, HTTPException, OSError):
        pass
    response.close()


class HostSlots(Protocol):
    """Per-host slots shared beyond this process (``monitor.store.host_slots.PgHostSlots``)."""

    def hold(self, host: str) -> AbstractAsyncContextManager[None]: ...


class Fetcher:
    """Fetches feeds concurrently over one reused HTTP client.

    ``async with Fetcher(limits) as f: await asyncio.gather(*(f.fetch(u) for u in urls))`` is
    safe: the global and per-host limits are applied inside ``fetch``.
    """

    def __init__(
        self,
        limits: FetchLimits | None = None,
        *,
        trust_env: bool = True,
        ca_file: str | Path | None = None,
        host_slots: HostSlots | None = None,
    ) -> None:
        """``ca_file``: PEM certificates to trust for HTTPS *in place of* the system's (a
        private CA, or a test's own); None keeps the default verification (with ``trust_env``,
        the SSL_CERT_FILE and SSL_CERT_DIR environment variables are honoured too).
        Certificates are always verified. ``host_slots``: the per-host limit shared with other
        processes (several instances on one database); None: this process's own semaphores."""
        self.shared_hosts = host_slots
        self.limits = limits or FetchLimits()
        self._trust_env = trust_env
        self._verify: ssl.SSLContext | bool = (
            True if ca_file is None else ssl.create_default_context(cafile=str(ca_file))
        )
        self._transport: _Transport | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Self:
        limits = self.limits
        self._transport = _Transport(limits, self._verify, self._trust_env)
        # Requests run in threads, at most ``concurrency`` at once (the slots below); the rest
        # are for requests given up on (total timeout, cancellation) whose thread is still
        # finishing its current read (at most read_timeout).
        self._threads = ThreadPoolExecutor(2 * limits.concurrency, thread_name_prefix="fetch")
        self._slots = asyncio.Semaphore(limits.concurrency)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = ACCEPT,
        files: bool = True,
        guard: HopGuard | None = None,
    ) -> FetchResult:
        """GET ``url`` (or read the file it names). Raises ``FetchError`` unless 200 or 304.

        ``accept``: the Accept header (feeds by default; article pages ask for HTML).
        ``files``: False refuses a ``file://`` URL or path (a link taken from a feed must never
        read a local file). ``guard``: asked before every hop (the first request and each
        redirect); a message refuses the hop (``monitor.ingest.addresses.PublicHosts``)."""
        if self._transport is None or self._slots is None:
            raise RuntimeError("use the Fetcher inside `async with Fetcher(...) as fetcher:`")
        try:
            path = _local_path(url)
            if path is not None and not files:
                raise _fail(
                    url, "not an http(s) URL", "only web pages are fetched here", temporary=False
                )
            async with self._slots:
                if path is not None:
                    return await self._fetch_file(url, path)
                return await self._fetch_http(url, etag, last_modified, accept, guard)
        except FetchError:
            raise
        except Exception as exc:
            # Whatever a library raises for one odd feed must not end the whole cycle: the
            # pipeline handles FetchError per feed. The cause stays attached for the log.
            raise _fail(
                url,
                f"unexpected {type(exc).__name__}: {exc}",
                "probably a bug in raw-materials-monitor; please report it with this message",
            ) from exc

    async def _fetch_file(self, url: str, path: Path) -> FetchResult:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.limits.total_timeout):
                content = await asyncio.to_thread(_read_file, url, path, self.limits.max_body_bytes)
        except TimeoutError:
            raise _fail(
                url,
                f"reading {path} took longer than {self.limits.total_timeout:g} s",
                "check the file system (a network mount?)",
            ) from None
        return FetchResult(
            url=url,
            final_url=url,
            permanent_url=None,
            status=200,
            not_modified=False,
            content=content,
            body_hash=body_hash(content),
            elapsed=time.monotonic() - started,
        )

    def _host_slot(self, url: str) -> AbstractAsyncContextManager[Any]:
        host = urlsplit(url).hostname or ""
        if self.shared_hosts is not None:
            return self.shared_hosts.hold(host)
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self.limits.per_host)
        return slot

    async def _fetch_http(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        accept: str = ACCEPT,
        guard: HopGuard | None = None,
    ) -> FetchResult:
        limits = self.limits
        headers = {
            "User-Agent": limits.user_agent,
            "Accept": accept,
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if _sendable(etag):
            headers["If-None-Match"] = etag
        if _sendable(last_modified):
            headers["If-Modified-Since"] = last_modified
        current, seen, permanent, budget = url, {url}, True, limits.total_timeout
        while True:
            refused = None if guard is None else await guard(current)
            if refused is not None:
                raise _refused(url, current, refused)
            # One host slot per hop, released before the next: holding one while waiting for
            # another could deadlock two fetches redirecting in opposite directions.
            async with self._host_slot(current):
                hop_started = time.monotonic()
                host = (urlsplit(current).hostname or "").lower()
                screen = guard.screen(host) if isinstance(guard, ScreeningGuard) else None
                try:
                    async with asyncio.timeout(budget):
                        outcome = await self._request(
                            url, current, headers, hop_started + budget, screen and (host, screen)
                        )
                except AddressRefused as exc:  # the guard's screen, at the connect
                    raise _refused(url, current, str(exc)) from None
                except (TimeoutError, _GaveUp):
                    raise _fail(
                        url,
                        f"took longer than {limits.total_timeout:g} s in total",
                        "the server is very slow; raise fetch total_timeout if it must be polled",
                    ) from None
                finally:
                    budget -= time.monotonic() - hop_started
            if isinstance(outcome, _Response):
                break
            permanent = permanent and outcome.status in _PERMANENT
            current = self._next_hop(url, current, outcome, seen)
        is_304 = outcome.status == 304  # a 304 may omit validators: hand back the ones sent
        got = outcome.headers
        return FetchResult(
            url=url,
            final_url=current,
            permanent_url=current if current != url and permanent else None,
            status=outcome.status,
            not_modified=outcome.status == 304,
            content=outcome.content,
            headers=got,
            etag=got.get("etag", etag if is_304 else None),
            last_modified=got.get("last-modified", last_modified if is_304 else None),
            body_hash=None if outcome.content is None else body_hash(outcome.content),
            max_age=parse_max_age(got.get("cache-control")),
            elapsed=limits.total_timeout - budget,
        )

    def _next_hop(self, url: str, current: str, redirect: _Redirect, seen: set[str]) -> str:
        limit = self.limits.max_redirects
        if not redirect.location:
            raise _fail(
                url,
                f"HTTP {redirect.status} redirect from {current} without a Location header",
                "the server is misconfigured; tell the publisher or find another feed URL",
                status=redirect.status,
            )
        try:
            target = str(httpx.URL(current).join(redirect.location))
        except httpx.InvalidURL as exc:
            raise _fail(
                url,
                f"redirect from {current} to an invalid URL {redirect.location!r} ({exc})",
                "the server is misconfigured; find another feed URL",
                status=redirect.status,
            ) from None
        if urlsplit(target).scheme not in ("http", "https"):
            # Never let a server point us at file:// or other local resources.
            raise _fail(
                url,
                f"redirect from {current} to a non-HTTP URL {target}",
                "use the target URL directly in the configuration if it is meant",
                status=redirect.status,
                temporary=False,
            )
        if target in seen:
            raise _fail(
                url,
                f"redirect loop: {current} leads back to {target}",
                "the server is misconfigured; open the URL in a browser or tell the publisher",
                status=redirect.status,
            )
        if len(seen) > limit:
            raise _fail(
                url,
                f"more than {limit} redirects (last to {target})",
                "put the feed's final URL in the configuration",
                status=redirect.status,
            )
        seen.add(target)
        return target

    async def _request(
        self,
        url: str,
        current: str,
        headers: dict[str, str],
        deadline: float,
        screen: tuple[str, Screen] | None = None,
    ) -> _Redirect | _Response:
        """One request in a worker thread; when this coroutine stops waiting (the total
        timeout, a cancellation), the thread stops at its next read. ``screen``: (host, the
        addresses a new connection to it may use)."""
        assert self._threads is not None
        stop = _Stop(screen)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._threads, self._exchange, url, current, headers, stop, deadline
            )
        finally:
            stop.stop()  # the thread is done already, or it ends what it is doing

    def _exchange(
        self,
        url: str,
        current: str,
        headers: dict[str, str],
        stop: _Stop,
        deadline: float,
    ) -> _Redirect | _Response:
        """Blocking: send the request, read the answer to its end (a 304's empty body too):
        only then does the connection go back to the pool for the next request to this host,
        instead of being closed (and the next one paying a new TCP and TLS handshake)."""
        assert self._transport is not None
        _current.stop = stop
        try:
            response = self._transport.open(current, headers)
        except (urllib3.exceptions.HTTPError, HTTPException, OSError, httpx.InvalidURL) as exc:
            if stop.stopped:
                raise _GaveUp from None
            raise _transport_error(url, exc, self.limits) from exc
        finally:
            _current.stop = None
        done = False
        try:
            status = response.status
            if status in _REDIRECTS:
                location = _header_value(response.headers.get("location", ""))
                _drain(response, stop)
                done = True
                return _Redirect(status, location)
            kept = {
                key.lower(): _header_value(value)
                for key, value in response.headers.itermerged()
                if key.lower() not in ("content-encoding", "content-length")
            }
            if status not in (200, 304):
                _drain(response, stop)
                done = True
                raise _status_error(url, current, status, kept)
            if status == 304:
                _drain(response, stop)
                done = True
                return _Response(304, kept, None)
            content = self._read_body(url, response, stop, deadline)
            done = True
            return _Response(200, kept, content)
        except (urllib3.exceptions.HTTPError, HTTPException, OSError) as exc:
            if stop.stopped:
                raise _GaveUp from None
            raise _transport_error(url, exc, self.limits) from exc
        finally:
            stop.release()
            if not done:
                response.close()  # unread bytes left: this connection is not reused
            response.release_conn()

    def _read_body(
        self,
        url: str,
        response: urllib3.BaseHTTPResponse,
        stop: _Stop,
        deadline: float,
    ) -> bytes:
        limit = self.limits.max_body_bytes
        encoding = response.headers.get("content-encoding", "")
        try:
            decoder = Decoder(encoding)
        except ValueError:
            raise _fail(
                url,
                f"unsupported Content-Encoding {encoding!r}",
                f"the server ignored Accept-Encoding: {ACCEPT_ENCODING}; tell the publisher",
            ) from None
        declared = response.headers.get("content-length", "")
        if decoder.name in ("", "identity") and declared.isdigit() and int(declared) > limit:
            raise _too_large(url, limit)  # refuse before reading a byte
        body = bytearray()
        try:
            while True:
                if stop.stopped or time.monotonic() > deadline:
                    raise _GaveUp
                raw = response.read1(_READ_BYTES, decode_content=False)
                if not raw:
                    break
                for piece in decoder.decode(raw):
                    if len(body) + len(piece) > limit:
                        raise _too_large(url, limit)
                    body += piece
            body += decoder.flush()
        except zlib.error as exc:
            raise _fail(
                url,
                f"cannot decode the {decoder.name} body ({exc})",
                "the server sent corrupt compressed data; polling again later",
            ) from None
        if len(body) > limit:
            raise _too_large(url, limit)
        return bytes(body)
