"""Who published an entry, and which member represents a story. Pure: no I/O.

An outlet is the link's domain without its service prefix (``www.``, ``rss.``...): two feeds of
one outlet count once, and the same wire copy carried by two outlets counts twice. The
representative of a story is its member from the first of ``stories.preferred_sources`` any
member comes from, else its earliest member.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import urlsplit

from monitor.model import StoryMember, StoryRecord

__all__ = ["outlet_of", "preference", "representative"]

# Second-level labels under which a country registers names ("bbc.co.uk", "abc.net.au").
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "or", "ne", "go"})


def _host(url: str | None) -> str:
    if not url:
        return ""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".")


@lru_cache(maxsize=4096)
def _domain(host: str) -> str:
    """Memoized: a poll's entries come from a few hosts, and ``ip_address`` raising its
    ValueError for every name costs more than the rest of ``outlet_of``."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def outlet_of(link: str | None, feed_url: str, masthead: str = "") -> str:
    """The link's domain; the feed's when there is no usable link; else the masthead."""
    host = _host(link) or _host(feed_url)
    if host:
        return _domain(host)
    return masthead.strip().lower() or feed_url


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def preference(member: StoryMember, preferred: Sequence[str]) -> int:
    """Index of the first preferred source the member comes from; ``len(preferred)`` if none.

    A source with a dot is a domain: the member's outlet or link host is it or ends in it
    (``reuters.com``). Any other source is a name: a word of the feed's masthead or of the
    entry's author (``dpa``). Case does not matter.
    """
    host = _host(member.link)
    words: set[str] | None = None
    for i, source in enumerate(preferred):
        s = source.lower()
        if "." in s:
            for h in (member.outlet, host):
                if h and (h == s or h.endswith("." + s)):
                    return i
        else:
            if words is None:
                words = _words(f"{member.masthead} {member.author or ''}")
            if set(_words(s)) <= words and s:
                return i
    return len(preferred)


def representative(story: StoryRecord, preferred: Sequence[str] = ()) -> StoryMember:
    """The member to show for the story: the best preferred source's earliest, else the
    earliest (ties by feed URL, entry id)."""
    return min(
        story.members,
        key=lambda m: (preference(m, preferred), m.published, m.feed_url, m.entry_id),
    )
