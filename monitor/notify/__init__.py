"""Channels: the edges where rendered messages leave the process (email, Slack, file, ...).

Every channel implements ``monitor.notify.base.Channel``; ``build_channel`` makes one from its
settings. Imports are lazy so that the pure core can use ``monitor.config.channels`` cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.notify.base import Channel
    from monitor.notify.registry import build_channel

__all__ = ["Channel", "build_channel"]


def __getattr__(name: str) -> Any:
    if name == "Channel":
        from monitor.notify.base import Channel

        return Channel
    if name == "build_channel":
        from monitor.notify.registry import build_channel

        return build_channel
    raise AttributeError(name)
