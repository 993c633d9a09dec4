"""Which hosts a link taken from a feed may reach: article pages of ``fulltext: true`` feeds.

A feed is the user's choice; the links inside it are the publisher's. A hostile or compromised
feed could link to ``http://127.0.0.1:5432/``, ``http://169.254.169.254/`` (a cloud's metadata
service) or a machine of the user's intranet, and the monitor would fetch it and store the answer
as the entry's text. ``PublicHosts`` lets a link through only when its host resolves to public
addresses, or when it is the feed's own host (whoever runs the feed's server runs its article
pages too, also on an intranet or on 127.0.0.1). It is checked on every redirect hop.

Twice: before the request (``__call__``, for a clear refusal before any connection), and at
the connect itself (``screen``: the fetcher's connect asks it for each address it is about to
connect to), so that a DNS server that answers with a public address first and a private one
next (DNS rebinding) is refused too. Through an HTTP proxy the proxy resolves the name, so only
the first check applies there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
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

    def screen(self, host: str) -> Callable[[str], str | None] | None:
        """For the connect to ``host``: why not to connect to an address (None: go ahead);
        None for a trusted host or a literal address (checked already, it cannot re-resolve)."""
        host = host.lower().strip("[]")
        if host in self.trusted:
            return None
        try:
            ipaddress.ip_address(host)
            return None
        except ValueError:
            pass

        def refuse(address: str) -> str | None:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            return None if is_public_address(ip) else _refusal(host, ip)

        return refuse

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
        return None if private is None else _refusal(host, private)


def _refusal(host: str, address: IPAddress) -> str:
    return (
        f"{host} is at a non-public address ({address}); a link in a feed is fetched only from "
        "public hosts or the feed's own host"
    )
