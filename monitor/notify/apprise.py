"""The Apprise channel: Teams, Telegram, ntfy, Discord, ... through Apprise URLs.

Each URL is notified on its own and remembered once it succeeded, so a retry reaches only the
services that failed. Apprise reports success as a bool; details go to its own log.
"""

from __future__ import annotations

from monitor.config.channels import AppriseChannelSettings
from monitor.errors import DeliveryError
from monitor.model import RenderedMessage
from monitor.notify.base import MemorySentParts, SentParts

__all__ = ["AppriseChannel"]


def _scheme(url: str) -> str:
    # Apprise URLs carry tokens: only the scheme may appear in a message.
    return url.split("://", 1)[0] if "://" in url else "?"


class AppriseChannel:
    def __init__(
        self, name: str, settings: AppriseChannelSettings, *, sent: SentParts | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self._sent: SentParts = sent if sent is not None else MemorySentParts()

    def __repr__(self) -> str:
        return f"AppriseChannel({self.name!r}, {len(self.settings.urls)} URLs)"

    def send(self, message: RenderedMessage, *, key: str) -> None:
        import apprise

        html = self.settings.format == "html"
        body = message.html if html else message.text
        body_format = apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.TEXT
        done = self._sent.done(key)
        failed: list[str] = []
        for n, url in enumerate(self.settings.urls):
            part = f"url{n}"
            if part in done:
                continue
            client = apprise.Apprise()
            if not client.add(url):
                raise DeliveryError(
                    self.name,
                    f"URL #{n + 1} ({_scheme(url)}://...) is not a valid Apprise URL; "
                    "hint: see https://github.com/caronc/apprise/wiki for the service's syntax",
                    temporary=False,
                )
            if client.notify(title=message.subject, body=body, body_format=body_format):
                self._sent.add(key, part)
            else:
                failed.append(f"#{n + 1} ({_scheme(url)})")
        if failed:
            raise DeliveryError(
                self.name,
                f"Apprise could not notify URL {', '.join(failed)}; "
                "hint: the apprise log names the cause; retried with backoff",
                temporary=True,
            )
