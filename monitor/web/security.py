"""What the web view sends with every response, and who may bind where (pure, no I/O)."""

from __future__ import annotations

import ipaddress

from monitor.errors import MonitorError

__all__ = ["SECURITY_HEADERS", "WebBindError", "check_bind"]

# No inline script or style may run: scripts and styles come from the app's own static files.
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


class WebBindError(MonitorError):
    """The web view was asked to listen beyond loopback without a credential."""


def check_bind(host: str, token: str | None) -> None:
    """Loopback needs nothing; any other address needs a token (``MONITOR_WEB_TOKEN``)."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not token:
        raise WebBindError(
            f"web: binding {host} (not loopback) needs a credential: set MONITOR_WEB_TOKEN"
        )
