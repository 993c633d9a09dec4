"""``build_channel``: channel settings -> a ready ``Channel``."""

from __future__ import annotations

from monitor.config.channels import (
    AppriseChannelSettings,
    ChannelSettings,
    EmailChannelSettings,
    FileChannelSettings,
    SlackChannelSettings,
    WebhookChannelSettings,
)
from monitor.notify.base import Channel, SentParts

__all__ = ["build_channel"]


def build_channel(
    name: str, settings: ChannelSettings, *, sent: SentParts | None = None
) -> Channel:
    """``sent`` remembers accepted parts across retries (default: in memory, per channel)."""
    # Imported here so that building one kind of channel never imports the others' libraries.
    if isinstance(settings, EmailChannelSettings):
        from monitor.notify.email import EmailChannel

        return EmailChannel(name, settings, sent=sent)
    if isinstance(settings, SlackChannelSettings):
        from monitor.notify.slack import SlackChannel

        return SlackChannel(name, settings, sent=sent)
    if isinstance(settings, FileChannelSettings):
        from monitor.notify.file import FileChannel

        return FileChannel(name, settings)
    if isinstance(settings, AppriseChannelSettings):
        from monitor.notify.apprise import AppriseChannel

        return AppriseChannel(name, settings, sent=sent)
    if isinstance(settings, WebhookChannelSettings):
        from monitor.notify.webhook import WebhookChannel

        return WebhookChannel(name, settings)
    raise TypeError(f"channel {name!r}: unknown settings type {type(settings).__name__}")
