"""A link in a feed never makes the monitor read an internal address (``fulltext: true``).

The feed server on 127.0.0.1 stands for the feed's own host (trusted: its article pages are
fetched); the same server reached as ``localhost`` stands for another host on a non-public
address (an internal service): it must get no request at all, also not through a redirect.
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import datetime

import pytest

from monitor.errors import FetchError
from monitor.ingest.addresses import PublicHosts, is_public_address
from monitor.ingest.fetch import Fetcher, FetchLimits
from monitor.ingest.fulltext import FullTextFetcher
from monitor.model import UTC, FullText, FullTextState
from tests.fixtures.feed_server import FeedServer

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
PAGE = (
    "<html><body><article><h1>Seltene Erden</h1>"
    + "<p>China beschränkt die Ausfuhr Seltener Erden, berichten Händler in Peking. </p>" * 8
    + "</article></body></html>"
).encode()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata service
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_the_feeds_own_host_is_trusted_other_private_hosts_are_not() -> None:
    guard = PublicHosts.for_feed("http://127.0.0.1:8080/feed.xml")

    async def check(url: str) -> str | None:
        return await guard(url)

    assert asyncio.run(check("http://127.0.0.1:9/a")) is None
    for url in (
        "http://localhost:8080/a",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
    ):
        refused = asyncio.run(check(url))
        assert refused is not None and "non-public address" in refused, url


def fetch(server: FeedServer, urls: list[str]) -> list[FullText]:
    async def go() -> list[FullText]:
        limits = FetchLimits(connect_timeout=1, read_timeout=1, total_timeout=3)
        async with Fetcher(limits, trust_env=False) as fetcher:
            fulltext = FullTextFetcher(fetcher)
            try:
                return await fulltext.get(urls, feed_url=server.url("/feed.xml"), now=NOW)
            finally:
                fulltext.close()

    return asyncio.run(go())


def test_article_pages_on_the_feeds_host_are_fetched_internal_ones_are_refused(
    feed_server: FeedServer,
) -> None:
    feed_server.add("/article", PAGE, content_type="text/html; charset=utf-8")
    feed_server.add("/secret", b"<html><body>db password</body></html>", content_type="text/html")
    feed_server.redirect("/moved", feed_server.url("/secret", host="localhost"), status=302)
    ok, internal, redirected, metadata = fetch(
        feed_server,
        [
            feed_server.url("/article"),
            feed_server.url("/secret", host="localhost"),
            feed_server.url("/moved"),
            "http://169.254.169.254/latest/meta-data/",
        ],
    )
    assert ok.state is FullTextState.OK and "Seltener Erden" in (ok.text or "")
    for refused in (internal, redirected, metadata):
        assert refused.state is FullTextState.FAILED
        assert "non-public address" in (refused.error or ""), refused.error
        assert "Traceback" not in (refused.error or "")
    assert "redirected to http://localhost" in (redirected.error or "")
    # The internal page got no request: neither directly nor through the redirect.
    assert feed_server.requests_for("/secret") == []
    assert len(feed_server.requests_for("/moved")) == 1


class FirstAnswerPublic(PublicHosts):
    """A rebinding DNS server's first answer: the lookup before the request finds a public
    address (here: it is not asked), the connect's own lookup then finds the private one
    (``localhost``: 127.0.0.1 on this machine). Only the screen at the connect stands between."""

    async def __call__(self, url: str) -> str | None:
        return None


def test_a_host_that_resolves_private_at_the_connect_is_refused_there(
    feed_server: FeedServer,
) -> None:
    feed_server.add("/secret", b"<html><body>db password</body></html>", content_type="text/html")

    async def get(url: str, guard: PublicHosts) -> bytes | None:
        limits = FetchLimits(connect_timeout=1, read_timeout=1, total_timeout=3)
        async with Fetcher(limits, trust_env=False) as fetcher:
            return (await fetcher.fetch(url, files=False, guard=guard)).content

    secret = feed_server.url("/secret", host="localhost")
    with pytest.raises(FetchError, match="localhost is at a non-public address") as caught:
        asyncio.run(get(secret, FirstAnswerPublic()))
    assert not caught.value.temporary
    assert feed_server.requests_for("/secret") == []  # nothing reached the internal server
    # The feed's own host stays trusted at the connect too.
    own = FirstAnswerPublic(["localhost"])
    assert asyncio.run(get(secret, own)) == b"<html><body>db password</body></html>"
    assert len(feed_server.requests_for("/secret")) == 1
