"""What the web view sends with every response, who may bind where, who may come in, and the
CSRF token of state-changing requests (pure: the environment is passed in, no I/O)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.errors import MonitorError

__all__ = [
    "BODY_HEADERS",
    "CSRF_COOKIE",
    "SECURITY_HEADERS",
    "Credentials",
    "WebBindError",
    "check_bind",
    "csrf_ok",
    "csrf_token",
    "new_nonce",
    "same_origin",
]

# No inline script or style may run: scripts and styles come from the app's own static files.
# frame-src 'self': the archive shows a sent HTML message in a sandboxed frame of its own route.
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: under no-referrer a browser's form POST says "Origin: null",
    # and the origin check of state-changing requests would refuse the site's own forms.
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}

# A sent message's HTML body, as it went out: its own inline styles may apply, nothing else
# loads or runs (no script-src at all, a sandbox without scripts, only this site may frame it).
BODY_HEADERS: dict[str, str] = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "SAMEORIGIN",
    "cross-origin-opener-policy": "same-origin",
}

CSRF_COOKIE = "monitor_csrf"

TOKEN_ENV = "MONITOR_WEB_TOKEN"
USER_ENV = "MONITOR_WEB_USER"
PASSWORD_ENV = "MONITOR_WEB_PASSWORD"


class WebBindError(MonitorError):
    """The web view was asked to listen beyond loopback without a credential, or its
    credential is half configured."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who may use the web view: a bearer token, or a user and password (HTTP Basic, what a
    browser asks for), or both. None configured: anyone who can reach the address."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        """``MONITOR_WEB_TOKEN``, ``MONITOR_WEB_USER`` and ``MONITOR_WEB_PASSWORD`` (empty counts
        as unset); a user without a password (or the other way) is refused."""
        token = env.get(TOKEN_ENV) or None
        user = env.get(USER_ENV) or None
        password = env.get(PASSWORD_ENV) or None
        if (user is None) != (password is None):
            given, missing = (USER_ENV, PASSWORD_ENV) if user else (PASSWORD_ENV, USER_ENV)
            raise WebBindError(f"web: {given} is set but {missing} is not: set both, or neither")
        if user is not None and ":" in user:
            raise WebBindError(f"web: {USER_ENV} must not contain ':'")
        return cls(token, user, password)

    @property
    def configured(self) -> bool:
        return bool(self.token or (self.user and self.password))

    @property
    def basic(self) -> bool:
        return bool(self.user and self.password)

    def allows(self, authorization: str) -> bool:
        """Whether the request's ``Authorization`` header carries a configured credential."""
        if not self.configured:
            return True
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self.token:
            return hmac.compare_digest(value.strip().encode(), self.token.encode())
        if scheme == "basic" and self.user and self.password:
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, _, password = decoded.partition(":")
            ok_user = hmac.compare_digest(user.encode(), self.user.encode())
            ok_password = hmac.compare_digest(password.encode(), self.password.encode())
            return ok_user and ok_password
        return False


def check_bind(host: str, credentials: Credentials | str | None) -> None:
    """Loopback needs nothing; any other address needs a credential: ``MONITOR_WEB_TOKEN``, or
    ``MONITOR_WEB_USER`` with ``MONITOR_WEB_PASSWORD``."""
    if isinstance(credentials, str) or credentials is None:
        credentials = Credentials(token=credentials or None)
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not credentials.configured:
        raise WebBindError(
            f"web: binding {host} (not loopback) needs a credential: set {TOKEN_ENV}, or "
            f"{USER_ENV} and {PASSWORD_ENV}"
        )


def new_nonce() -> str:
    """A fresh random value for the CSRF cookie."""
    return secrets.token_urlsafe(18)


def csrf_token(secret: bytes, nonce: str) -> str:
    """The token forms carry: bound to the browser's cookie nonce and to this app's secret."""
    return hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, nonce: str | None, token: str | None) -> bool:
    """Whether a state-changing request carries the token of its own cookie nonce."""
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, nonce), token)


def same_origin(origin: str | None, scheme: str, host: str | None) -> bool:
    """A request's ``Origin`` (when the browser sends one) must be this site."""
    if origin is None:
        return True
    return bool(host) and origin == f"{scheme}://{host}"
