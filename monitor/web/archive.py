"""What the archive shows of a delivery: its record and its message as it was sent. Pure.

The message is the one stored with the delivery at creation (``delivery.stored_message``): a
retry sends exactly it, so it is exactly what went out (or will).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.delivery.stored_message import decode_message
from monitor.model import Delivery, DeliveryKind, DeliveryState

__all__ = ["ARCHIVE_LIMIT", "MessageView", "archive_query", "message_view"]

ARCHIVE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class MessageView:
    subject: str
    text: str
    html: str
    slack: str
    """The Slack payloads as indented JSON ("" when there are none)."""
    data: str
    """The data a webhook posts, as indented JSON."""
    template: str


def message_view(stored: str) -> MessageView:
    """The stored JSON text of a delivery's message, for the page (undecodable: said so)."""
    try:
        m = decode_message(stored)
    except (ValueError, KeyError, TypeError) as exc:
        return MessageView("", f"(the stored message cannot be read: {exc})", "", "", "", "")
    slack = json.dumps(m.slack_payloads, ensure_ascii=False, indent=2) if m.slack_payloads else ""
    data = json.dumps(m.data, ensure_ascii=False, indent=2, default=str) if m.data else ""
    return MessageView(m.subject, m.text, m.html or "", slack, data, m.template)


def archive_query(
    params: Mapping[str, str],
) -> tuple[list[DeliveryState] | None, DeliveryKind | None, str, str]:
    """(states, kind, state given, kind given) from ``?state=`` and ``?kind=``; an unknown value
    means no filter."""
    state = params.get("state", "")
    kind = params.get("kind", "")
    states = [DeliveryState(state)] if state in {s.value for s in DeliveryState} else None
    kinds = DeliveryKind(kind) if kind in {k.value for k in DeliveryKind} else None
    return states, kinds, state if states else "", kind if kinds else ""


def retryable(delivery: Delivery) -> bool:
    return delivery.state is DeliveryState.FAILED
