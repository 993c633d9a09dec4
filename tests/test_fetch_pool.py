"""Connections are reused: an unchanged re-poll of many feeds on one host over HTTP and HTTPS
(a real server on 127.0.0.1 that counts the connections it accepts; HTTPS with a certificate
from a CA made for the test, which the fetcher is told to trust)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from monitor.errors import FetchError
from monitor.ingest.fetch import Fetcher, FetchLimits
from tests.fixtures.feed_server import ETAG, LAST_MODIFIED, RSS, FeedServer, _Server

FEEDS = 50
LIMITS = FetchLimits(connect_timeout=2.0, read_timeout=2.0, total_timeout=10.0)


class _CountingServer(_Server):
    """The fixture's feed server, counting accepted connections, optionally behind TLS."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        super().__init__()
        self.tls = tls
        self.accepted = 0

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        self.accepted += 1
        if self.tls is not None:
            # The handshake happens on the first read, in the handler's thread.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def _serve(tls: ssl.SSLContext | None) -> Iterator[tuple[_CountingServer, str]]:
    server = _CountingServer(tls)
    feeds: FeedServer = server.feeds
    for i in range(FEEDS):
        feeds.add(f"/f{i}.xml", RSS, etag=ETAG, last_modified=LAST_MODIFIED)
    feeds.redirect("/moved.xml", "/f0.xml", 301)
    feeds.add("/status/404", b"not found\n", status=404, content_type="text/plain")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield server, f"{scheme}://localhost:{feeds.port}"
    finally:
        feeds.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(params=["http", "https"])
def server(request: pytest.FixtureRequest, ca: trustme.CA) -> Iterator[tuple[_CountingServer, str]]:
    tls = None
    if request.param == "https":
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(tls)
    yield from _serve(tls)


def test_unchanged_repoll_reuses_connections(
    server: tuple[_CountingServer, str], ca_file: Path
) -> None:
    srv, base = server

    async def go() -> tuple[int, int, int]:
        async with Fetcher(LIMITS, trust_env=False, ca_file=ca_file) as fetcher:
            first = await asyncio.gather(*(fetcher.fetch(f"{base}/f{i}.xml") for i in range(FEEDS)))
            assert all(r.status == 200 and r.content == RSS for r in first)
            after_first = srv.accepted
            again = await asyncio.gather(
                *(
                    fetcher.fetch(f"{base}/f{i}.xml", etag=r.etag, last_modified=r.last_modified)
                    for i, r in enumerate(first)
                )
            )
            assert all(r.not_modified for r in again)
            return after_first, srv.accepted - after_first, len(again)

    after_first, opened, requests = asyncio.run(go())
    # per_host (2) connections serve both polls: at most a couple are opened per poll.
    assert after_first <= 0.1 * FEEDS, f"first poll opened {after_first} for {FEEDS} requests"
    assert opened / requests <= 0.1, f"re-poll opened {opened} connections for {requests} 304s"


def test_redirects_and_errors_keep_the_connection(
    server: tuple[_CountingServer, str], ca_file: Path
) -> None:
    srv, base = server

    async def go() -> None:
        async with Fetcher(LIMITS, trust_env=False, ca_file=ca_file) as fetcher:
            for _ in range(10):
                moved = await fetcher.fetch(f"{base}/moved.xml")
                assert moved.permanent_url == f"{base}/f0.xml"
                with pytest.raises(FetchError, match="HTTP 404"):
                    await fetcher.fetch(f"{base}/status/404")

    asyncio.run(go())
    assert srv.accepted == 1, f"30 requests one after another opened {srv.accepted} connections"


def test_https_needs_the_ca_to_be_trusted(ca: trustme.CA) -> None:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(tls)
    for _srv, base in _serve(tls):

        async def go(url: str) -> None:
            async with Fetcher(LIMITS, trust_env=False) as fetcher:
                await fetcher.fetch(url)

        with pytest.raises(FetchError, match=r"could not connect.*CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(go(f"{base}/f0.xml"))
