"""``urllib.parse.urljoin`` with a fast path for the common case, the same results.

Most links in feeds are already absolute http(s) URLs; ``urljoin`` parses base and link into
six parts each and reassembles them (~20 us per entry). For an absolute link that reassembly
gives back the link as written, except in the cases checked here (an empty "?" or "#", ";"
parameters, an upper-case scheme, brackets, controls, non-ASCII), which take the slow path.
Pure.
"""

from __future__ import annotations

import functools
import re
import urllib.parse

__all__ = ["join_url", "web_url"]

_WEB_SCHEMES = frozenset({"http", "https"})
# What urlsplit takes as a scheme: a letter, then letters, digits, "+", "-", "." up to the ":".
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


@functools.lru_cache(maxsize=256)
def _base_scheme(base: str) -> str:
    # Raises ValueError where urljoin would (an invalid base).
    return urllib.parse.urlsplit(base).scheme


def _join(base: str, url: str) -> tuple[str, str | None]:
    """The joined URL and, when known without parsing it again, its scheme (lower case)."""
    if (
        base
        and url.isascii()
        and url.isprintable()  # no tab, CR, LF (urlsplit removes them) nor other controls
        and "[" not in url
        and "]" not in url
        and (match := _SCHEME.match(url)) is not None
    ):
        end = match.end()
        scheme = url[: end - 1].lower()
        base_scheme = _base_scheme(base)
        if scheme != base_scheme or scheme not in urllib.parse.uses_relative:
            return url, scheme  # urljoin returns such a URL as it is
        if scheme in _WEB_SCHEMES and url[: end - 1] == scheme and _reassembles(url, end):
            return url, scheme
    joined = urllib.parse.urljoin(base, url)
    return joined, None


def _reassembles(url: str, after_scheme: int) -> bool:
    """urlunsplit(urlsplit(url)) == url for "scheme:" + this rest with a host."""
    if url[after_scheme : after_scheme + 2] != "//" or ";" in url:
        return False
    host_start = after_scheme + 2
    if host_start >= len(url) or url[host_start] in "/?#":
        return False  # no host: resolved against the base's
    hash_at = url.find("#")
    if hash_at == len(url) - 1:
        return False  # an empty fragment is dropped
    before_fragment = url if hash_at < 0 else url[:hash_at]
    return not before_fragment.endswith("?")  # an empty query is dropped


def join_url(base: str, url: str) -> str:
    """``urllib.parse.urljoin(base, url)``; raises ValueError where it does."""
    return _join(base, url)[0]


def web_url(base: str, link: str) -> str | None:
    """``link`` resolved against ``base``; None unless the result is an http(s) URL (or the
    link cannot be parsed, e.g. an invalid IPv6 host)."""
    # The usual case, an absolute http(s) link that urljoin gives back as written, checked
    # here step by step as _join and _reassembles check it (one call per entry, not three).
    if (
        base
        and link.isascii()
        and link.isprintable()
        and "[" not in link
        and "]" not in link
        and (match := _SCHEME.match(link)) is not None
    ):
        end = match.end()
        written = link[: end - 1]
        scheme = written.lower()
        if scheme in _WEB_SCHEMES and written == scheme:
            try:
                base_scheme = _base_scheme(base)
            except ValueError:
                return None
            if scheme != base_scheme:
                return link  # urljoin returns it as it is
            if (
                link[end : end + 2] == "//"
                and ";" not in link
                and end + 2 < len(link)
                and link[end + 2] not in "/?#"
            ):
                hash_at = link.find("#")
                if hash_at != len(link) - 1 and not (
                    link if hash_at < 0 else link[:hash_at]
                ).endswith("?"):
                    return link
    try:
        url, found = _join(base, link)
        if found is None:
            found = urllib.parse.urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if found in _WEB_SCHEMES else None
