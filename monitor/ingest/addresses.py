"""Which hosts a link taken from a feed may reach: article pages of ``fulltext: true`` feeds.

A feed is the user's choice; the links inside it are the publisher's. A hostile or compromised
feed could link to ``http://127.0.0.1:5432/``, ``http://169.254.169.254/`` (a cloud's metadata
service) or a machine of the user's intranet, and the monitor would fetch it and store the answer
as the entry's text. ``PublicHosts`` lets a link through only when its host resolves to public
addresses, or when it is the feed's own host (whoever runs the feed's server runs its article
pages too, also on an intranet or on 127.0.0.1). It is checked on every redirect hop.

The check resolves the name before the request; the HTTP client resolves it again to connect,
so a DNS server that answers differently the second time (DNS rebinding) is not caught here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["PublicHosts", "is_public_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(address: IPAddress) -> bool:
    """Globally routable: not loopback, private, link-local, shared, reserved or multicast."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class PublicHosts:
    """A hop guard for ``Fetcher.fetch``: None when ``url`` may be fetched, else why not."""

    def __init__(self, trusted: Iterable[str] = ()) -> None:
        self.trusted = frozenset(h.lower() for h in trusted if h)

    @classmethod
    def for_feed(cls, feed_url: str) -> PublicHosts:
        """Public hosts, and the feed's own host."""
        host = urlsplit(feed_url).hostname
        return cls([host] if host else [])

    async def __call__(self, url: str) -> str | None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host in self.trusted:
            return None
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, parts.port or 443, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                return f"cannot resolve {host!r}: {exc.strerror or exc}"
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        private = next((a for a in addresses if not is_public_address(a)), None)
        if private is None:
            return None
        return (
            f"{host} is at a non-public address ({private}); a link in a feed is fetched only "
            "from public hosts or the feed's own host"
        )
