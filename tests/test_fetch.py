"""monitor.fetch against a real local HTTP server and real files."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
import tracemalloc
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict, Unpack

import pytest

from monitor import USER_AGENT
from monitor.errors import FetchError
from monitor.ingest.fetch import Fetcher, FetchLimits, FetchResult
from monitor.ingest.httpcodec import body_hash, parse_max_age, parse_retry_after
from tests.fixtures.feed_server import (
    ATOM,
    BOMB_SIZE,
    ETAG,
    LAST_MODIFIED,
    RSS,
    WRONG_CHARSET,
    FeedServer,
    RequestHandler,
)


class Validators(TypedDict, total=False):
    """The conditional-GET keywords these helpers pass on to ``Fetcher.fetch``."""

    etag: str | None
    last_modified: str | None


FAST = FetchLimits(connect_timeout=1.0, read_timeout=1.0, total_timeout=3.0)


def fetch(url: str, limits: FetchLimits = FAST, **kwargs: Unpack[Validators]) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(limits) as fetcher:
            return await fetcher.fetch(url, **kwargs)

    return asyncio.run(go())


def fetch_error(url: str, limits: FetchLimits = FAST, **kwargs: Unpack[Validators]) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, limits, **kwargs)
    error = info.value
    assert error.url == url
    assert url in str(error) and "hint: " in str(error)
    return error


# --- 200, 304 and unchanged bodies -------------------------------------------------------------


def test_200_returns_body_validators_and_headers(feed_server: FeedServer) -> None:
    url = feed_server.url("/feed.xml")
    result = fetch(url)
    assert (result.status, result.not_modified, result.content) == (200, False, RSS)
    assert (result.etag, result.last_modified) == (ETAG, LAST_MODIFIED)
    assert result.final_url == url and result.permanent_url is None
    assert result.headers["content-type"].startswith("application/rss+xml")
    assert result.body_hash == body_hash(RSS)
    assert 0 <= result.elapsed < FAST.total_timeout
    sent = feed_server.requests_for("/feed.xml")[0].headers
    assert sent["user-agent"] == USER_AGENT
    assert "application/rss+xml" in sent["accept"]
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_second_poll_with_validators_is_304_without_body(feed_server: FeedServer) -> None:
    url = feed_server.url("/feed.xml")
    first = fetch(url)
    second = fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert (second.status, second.not_modified, second.content) == (304, True, None)
    assert second.body_hash is None
    assert (second.etag, second.last_modified) == (ETAG, LAST_MODIFIED)
    log = feed_server.requests_for("/feed.xml")
    assert len(log) == 2
    assert log[1].headers["if-none-match"] == ETAG
    assert log[1].headers["if-modified-since"] == LAST_MODIFIED


def test_last_modified_alone_gives_304(feed_server: FeedServer) -> None:
    result = fetch(feed_server.url("/feed.xml"), last_modified=LAST_MODIFIED)
    assert result.not_modified


@pytest.mark.parametrize("bad", ['"caf\u00e9"', '"a"\r\nX-Injected: 1', ""])
def test_unsendable_validators_are_left_out(feed_server: FeedServer, bad: str) -> None:
    result = fetch(feed_server.url("/feed.xml"), etag=bad, last_modified=bad)
    assert result.status == 200
    sent = feed_server.requests_for("/feed.xml")[0].headers
    assert "if-none-match" not in sent and "if-modified-since" not in sent
    assert "x-injected" not in sent


def test_stale_etag_gets_the_full_body(feed_server: FeedServer) -> None:
    result = fetch(feed_server.url("/feed.xml"), etag='"old"')
    assert result.status == 200 and result.content == RSS


def test_no_validators_same_body_same_hash(feed_server: FeedServer) -> None:
    url = feed_server.url("/atom.xml")
    first, second = fetch(url), fetch(url)
    assert first.etag is None and first.last_modified is None
    assert second.status == 200 and second.body_hash == first.body_hash
    feed_server.add("/atom.xml", ATOM.replace(b"8 %", b"9 %"))
    assert fetch(url).body_hash != first.body_hash


def test_cache_control_max_age_is_reported(feed_server: FeedServer) -> None:
    assert fetch(feed_server.url("/ttl.xml")).max_age == 3600.0
    assert fetch(feed_server.url("/atom.xml")).max_age is None


# --- content encodings --------------------------------------------------------------------------


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    result = fetch(feed_server.url("/gzip.xml"))
    assert result.content == RSS
    assert "content-encoding" not in result.headers
    assert result.body_hash == body_hash(RSS)


@pytest.mark.parametrize(
    "encoded",
    [
        zlib.compress(RSS),
        zlib.compress(RSS)[2:-4],
        gzip.compress(RSS[:500]) + gzip.compress(RSS[500:]),
    ],
    ids=["zlib-deflate", "raw-deflate", "two-gzip-members"],
)
def test_deflate_variants_and_gzip_members(feed_server: FeedServer, encoded: bytes) -> None:
    encoding = "gzip" if encoded[:2] == b"\x1f\x8b" else "deflate"
    feed_server.add("/enc.xml", encoded, headers={"Content-Encoding": encoding})
    assert fetch(feed_server.url("/enc.xml")).content == RSS


def test_large_gzip_body_within_limit_decodes_completely(feed_server: FeedServer) -> None:
    limits = FetchLimits(read_timeout=2.0, total_timeout=5.0, max_body_bytes=BOMB_SIZE)
    result = fetch(feed_server.url("/bomb"), limits)
    assert result.content is not None and len(result.content) == BOMB_SIZE


def test_unsupported_encoding_is_an_error(feed_server: FeedServer) -> None:
    feed_server.add("/br.xml", b"\x0b\x02\x80hello\x03", headers={"Content-Encoding": "br"})
    error = fetch_error(feed_server.url("/br.xml"))
    assert "unsupported Content-Encoding 'br'" in str(error)


def test_corrupt_gzip_is_an_error(feed_server: FeedServer) -> None:
    feed_server.add(
        "/bad.gz", b"\x1f\x8b\x08\x00garbage" * 10, headers={"Content-Encoding": "gzip"}
    )
    assert "cannot decode the gzip body" in str(fetch_error(feed_server.url("/bad.gz")))


# --- bodies the parser will deal with: fetch passes bytes through untouched ---------------------


@pytest.mark.parametrize("path", ["/invalid.xml", "/wrong-charset.xml"])
def test_bad_xml_and_wrong_charset_are_fetched_as_is(feed_server: FeedServer, path: str) -> None:
    result = fetch(feed_server.url(path))
    assert result.status == 200 and result.content
    if path == "/wrong-charset.xml":
        assert result.content == WRONG_CHARSET  # not re-decoded: the parser sniffs the charset
        assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "permanent"),
    [
        ("/redirect/301", True),
        ("/redirect/308", True),
        ("/redirect/302", False),
        ("/redirect/307", False),
        ("/redirect/chain", True),
        ("/redirect/mixed", False),
    ],
)
def test_redirects_are_followed_and_permanence_reported(
    feed_server: FeedServer, path: str, permanent: bool
) -> None:
    url, target = feed_server.url(path), feed_server.url("/feed.xml")
    result = fetch(url, etag=ETAG)
    assert result.url == url and result.final_url == target
    assert result.permanent_url == (target if permanent else None)
    assert result.not_modified  # validators travel along the redirect
    assert feed_server.requests_for("/feed.xml")[0].headers["if-none-match"] == ETAG


def test_redirect_loop_is_an_error(feed_server: FeedServer) -> None:
    error = fetch_error(feed_server.url("/loop/a"))
    assert "redirect loop" in str(error) and error.status == 302
    assert len(feed_server.requests) == 2  # detected, not ridden until the redirect limit


def test_redirect_limit(feed_server: FeedServer) -> None:
    for i in range(3):
        feed_server.redirect(f"/hop/{i}", f"/hop/{i + 1}", 302)
    feed_server.redirect("/hop/3", "/feed.xml", 302)
    assert fetch(feed_server.url("/hop/0"), FetchLimits(max_redirects=4)).status == 200
    error = fetch_error(feed_server.url("/hop/0"), FetchLimits(max_redirects=3))
    assert "more than 3 redirects" in str(error)


def test_redirect_to_a_file_url_is_refused(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.redirect("/to-file", (tmp_path / "x.xml").as_uri(), 301)
    assert "non-HTTP URL" in str(fetch_error(feed_server.url("/to-file")))


def test_redirect_without_location_is_an_error(feed_server: FeedServer) -> None:
    feed_server.add("/noloc", status=302)
    assert "without a Location" in str(fetch_error(feed_server.url("/noloc")))


def test_error_after_redirect_names_where_it_happened(feed_server: FeedServer) -> None:
    feed_server.redirect("/moved", "/status/410", 301)
    error = fetch_error(feed_server.url("/moved"))
    assert error.status == 410 and feed_server.url("/status/410") in str(error)


# --- HTTP errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "temporary", "words"),
    [(404, False, "not found"), (410, False, "gone"), (500, True, "server error")],
)
def test_http_errors(feed_server: FeedServer, status: int, temporary: bool, words: str) -> None:
    error = fetch_error(feed_server.url(f"/status/{status}"))
    assert error.status == status and error.temporary is temporary
    assert words in str(error) and f"HTTP {status}" in str(error)
    assert error.retry_after is None


def test_429_retry_after_seconds(feed_server: FeedServer) -> None:
    error = fetch_error(feed_server.url("/status/429"))
    assert (error.status, error.retry_after, error.temporary) == (429, 120.0, True)


def test_503_retry_after_http_date(feed_server: FeedServer) -> None:
    error = fetch_error(feed_server.url("/status/503"))
    assert error.status == 503 and error.retry_after == 60.0  # measured from the Date header


def test_connection_refused(feed_server: FeedServer) -> None:
    with socket.socket() as s:  # a port that was free a moment ago, with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = fetch_error(f"http://127.0.0.1:{port}/feed.xml")
    assert "could not connect" in str(error) and error.temporary


def test_server_closing_without_answer(feed_server: FeedServer) -> None:
    def close(h: RequestHandler) -> None:
        h.close_connection = True

    feed_server.route("/close", close)
    assert "broke the connection" in str(fetch_error(feed_server.url("/close")))


# --- time and size limits -----------------------------------------------------------------------


def test_server_that_never_answers_hits_read_timeout(feed_server: FeedServer) -> None:
    limits = FetchLimits(connect_timeout=1.0, read_timeout=0.3, total_timeout=5.0)
    started = time.monotonic()
    error = fetch_error(feed_server.url("/hang"), limits)
    assert time.monotonic() - started < limits.read_timeout + 1.0
    assert "sent nothing for 0.3 s" in str(error) and error.temporary


def test_dripping_server_hits_total_timeout(feed_server: FeedServer) -> None:
    limits = FetchLimits(connect_timeout=1.0, read_timeout=1.0, total_timeout=0.5)
    started = time.monotonic()
    error = fetch_error(feed_server.url("/drip"), limits)
    assert time.monotonic() - started < limits.total_timeout + 1.0
    assert "longer than 0.5 s in total" in str(error)


def test_endless_body_is_cut_at_the_limit(feed_server: FeedServer) -> None:
    limits = FetchLimits(read_timeout=1.0, total_timeout=3.0, max_body_bytes=256 * 1024)
    error = fetch_error(feed_server.url("/endless"), limits)
    assert "body larger than 262144 bytes" in str(error) and not error.temporary


def test_declared_length_over_the_limit_is_refused(feed_server: FeedServer) -> None:
    feed_server.add("/big.xml", b"x" * 5000)
    error = fetch_error(feed_server.url("/big.xml"), FetchLimits(max_body_bytes=4999))
    assert "body larger than 4999 bytes" in str(error)


def test_gzip_bomb_is_cut_without_taking_memory(feed_server: FeedServer) -> None:
    limit = 1024 * 1024
    limits = FetchLimits(read_timeout=1.0, total_timeout=3.0, max_body_bytes=limit)
    tracemalloc.start()
    try:
        error = fetch_error(feed_server.url("/bomb"), limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "counted after decompression" in str(error)
    # The bomb inflates to 10 MiB; inflating one network chunk at once would already take more.
    assert peak < 3 * limit, f"peak {peak} bytes"


# --- concurrency --------------------------------------------------------------------------------


def _gather(urls: list[str], limits: FetchLimits) -> list[FetchResult | BaseException]:
    async def go() -> list[FetchResult | BaseException]:
        async with Fetcher(limits) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(u) for u in urls), return_exceptions=True)

    return asyncio.run(go())


def test_per_host_limit(feed_server: FeedServer) -> None:
    results = _gather([feed_server.url("/slow")] * 6, FetchLimits(concurrency=8, per_host=2))
    assert all(isinstance(r, FetchResult) for r in results)
    assert feed_server.max_in_flight == 2


def test_global_limit_across_hosts(feed_server: FeedServer) -> None:
    urls = [feed_server.url("/slow")] * 3 + [feed_server.url("/slow", host="localhost")] * 3
    results = _gather(urls, FetchLimits(concurrency=3, per_host=2))
    assert all(isinstance(r, FetchResult) for r in results)
    assert feed_server.max_in_flight == 3


def test_one_broken_feed_does_not_stop_the_others(feed_server: FeedServer) -> None:
    paths = ["/feed.xml", "/status/500", "/hang", "/atom.xml", "/loop/a", "/gzip.xml"]
    limits = FetchLimits(read_timeout=0.3, total_timeout=1.0)
    results = _gather([feed_server.url(p) for p in paths], limits)
    ok = [p for p, r in zip(paths, results, strict=True) if isinstance(r, FetchResult)]
    failed = [p for p, r in zip(paths, results, strict=True) if isinstance(r, FetchError)]
    assert ok == ["/feed.xml", "/atom.xml", "/gzip.xml"]
    assert failed == ["/status/500", "/hang", "/loop/a"]


def test_fetch_outside_context_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(Fetcher().fetch("http://127.0.0.1/"))


# --- local files --------------------------------------------------------------------------------


@pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-url"])
def test_local_file(tmp_path: Path, as_uri: bool) -> None:
    path = tmp_path / "Rohstoffe feed.xml"  # a space, to exercise URL quoting
    path.write_bytes(RSS)
    url = path.as_uri() if as_uri else str(path)
    result = fetch(url)
    assert (result.status, result.content, result.final_url) == (200, RSS, url)
    assert result.body_hash == body_hash(RSS) and result.etag is None


def test_local_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.xml"
    error = fetch_error(str(missing))
    assert f"file not found: {missing}" in str(error) and not error.temporary
    assert "is a directory" in str(fetch_error(tmp_path.as_uri()))
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 101)
    assert "larger than 100 bytes" in str(fetch_error(str(big), FetchLimits(max_body_bytes=100)))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.org/feed.xml", "unsupported URL scheme 'ftp'"),
        ("http://[::1/feed", "invalid URL"),
        ("http://127.0.0.1:99999/feed", "invalid URL"),
        ("https://", "invalid URL"),
        ("file://otherhost/feed.xml", "names another host"),
        ("  ", "empty feed URL"),
    ],
)
def test_unusable_urls(url: str, words: str) -> None:
    error = fetch_error(url)
    assert words in str(error) and not error.temporary


# --- header parsing -----------------------------------------------------------------------------

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        ("120", None, 120.0),
        (" 0 ", None, 0.0),
        ("Tue, 04 Mar 2025 12:05:00 GMT", None, 300.0),
        ("Tue, 04 Mar 2025 12:05:00 GMT", "Tue, 04 Mar 2025 12:04:00 GMT", 60.0),
        ("Tue, 04 Mar 2025 11:00:00 GMT", None, 0.0),
        ("soon", None, None),
        ("-5", None, None),
        (None, None, None),
    ],
)
def test_parse_retry_after(value: str | None, date: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, date=date, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=300", 300.0),
        ("public, MAX-AGE=60, must-revalidate", 60.0),
        ('max-age="90"', 90.0),
        ("no-cache", None),
        ("max-age=soon", None),
        (None, None),
    ],
)
def test_parse_max_age(value: str | None, expected: float | None) -> None:
    assert parse_max_age(value) == expected


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="total_timeout"):
        FetchLimits(total_timeout=0)
    with pytest.raises(ValueError, match="per_host"):
        FetchLimits(per_host=0)
