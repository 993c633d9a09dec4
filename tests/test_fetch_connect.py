"""monitor.ingest.connect: a TCP connect that ends when its fetch is given up, against real
sockets on 127.0.0.1 (a listener, a refused port, a listener whose accept queue is full)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from monitor.ingest.connect import SLICE, Stopped, connect


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield s
    s.close()


def test_connects_and_keeps_the_timeout_for_what_follows(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    opts = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    sock = connect(("127.0.0.1", port), 2.5, lambda: False, socket_options=opts)
    try:
        assert sock.getpeername() == ("127.0.0.1", port)
        assert sock.gettimeout() == 2.5
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


def test_a_refused_port_gives_the_oss_words() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ConnectionRefusedError, match="Connection refused"):
        connect(("127.0.0.1", port), 2.0, lambda: False)


def test_an_unanswered_connect_times_out_or_stops_within_a_slice(unanswered_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        connect(("127.0.0.1", unanswered_port), 0.3, lambda: False)
    assert 0.3 <= time.monotonic() - started < 2.0
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Stopped):
        connect(("127.0.0.1", unanswered_port), 30.0, stop.is_set)
    assert time.monotonic() - started < 0.3 + SLICE + 1.0
