"""A TCP connect that a stopping fetch can end at once.

A blocking ``connect()`` cannot be interrupted from another thread: closing or shutting down a
socket that is still connecting does not wake it on Linux. A fetch given up on (SIGTERM, total
timeout, cancellation) while its request thread waits for a host that does not answer SYNs (a
full accept queue, a firewall that drops) kept that thread, and with it a stopping daemon's
exit, for up to ``connect_timeout`` (10 s by default). Here the connect is non-blocking and
waited on in short slices, asking ``stopped()`` between them; otherwise it does what
``urllib3.util.connection.create_connection`` does (every address of the name in turn, socket
options, source address, the timeout as the socket's timeout afterwards, for the TLS handshake).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections.abc import Callable, Sequence

__all__ = ["SLICE", "AddressRefused", "Stopped", "connect"]

SLICE = 0.1
"""Seconds between two looks at ``stopped()`` while a connect is pending."""

SocketOption = tuple[int, int, int | bytes]


class Stopped(Exception):
    """``stopped()`` said so while connecting; the socket is closed."""


class AddressRefused(Exception):
    """Every address the name resolved to was refused by ``refuse`` (its words)."""


_PENDING = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR}


def _wait(sock: socket.socket, deadline: float | None, stopped: Callable[[], bool]) -> int:
    """Wait until ``sock``'s pending connect ends: its error number (0: connected)."""
    while True:
        if stopped():
            raise Stopped
        wait = SLICE
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(errno.ETIMEDOUT, "timed out")
            wait = min(wait, left)
        _, writable, failed = select.select([], [sock], [sock], wait)
        if writable or failed:
            return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def connect(
    address: tuple[str, int],
    timeout: float | None,
    stopped: Callable[[], bool],
    *,
    source_address: tuple[str, int] | None = None,
    socket_options: Sequence[SocketOption] | None = None,
    family: int = socket.AF_UNSPEC,
    refuse: Callable[[str], str | None] | None = None,
) -> socket.socket:
    """A socket connected to ``address`` (host, port), trying each of the host's addresses;
    ``timeout`` applies to each address's connect and is the socket's timeout afterwards.
    Raises ``Stopped``, ``socket.gaierror`` or the last address's ``OSError`` (``TimeoutError``
    when it timed out).

    ``refuse(address)``: why not to connect to that address (None: go ahead), asked for each
    address the name resolved to, right before connecting to it: the check of the address
    connected to, not of an earlier lookup that a DNS server may answer differently (DNS
    rebinding). ``AddressRefused`` when every address was refused."""
    host, port = address
    host = host.strip("[]")
    last: OSError | None = None
    refused: str | None = None
    for af, kind, proto, _, where in socket.getaddrinfo(host, port, family, socket.SOCK_STREAM):
        why = refuse(str(where[0])) if refuse is not None else None
        if why is not None:
            refused = why
            continue
        sock = socket.socket(af, kind, proto)
        try:
            for level, option, value in socket_options or ():
                sock.setsockopt(level, option, value)
            if source_address:
                sock.bind(source_address)
            sock.setblocking(False)
            deadline = None if timeout is None else time.monotonic() + timeout
            code = sock.connect_ex(where)
            if code in _PENDING:
                code = _wait(sock, deadline, stopped)
            if code:
                raise OSError(code, os.strerror(code))
            sock.settimeout(timeout)
            return sock
        except Stopped:
            sock.close()
            raise
        except OSError as exc:  # a timeout too: the next address may answer
            sock.close()
            last = exc
    if last is not None:
        raise last
    if refused is not None:
        raise AddressRefused(refused)
    raise OSError(f"getaddrinfo returned no address for {host!r}")
