"""The webhook channel: one JSON POST of the alert/digest data to any URL.

Body: ``{"key", "subject", "text", ...data}`` (see ``monitor.delivery.render.digest_data``), with an
``Idempotency-Key`` header carrying the key so that a receiver can drop a re-sent message.
"""

from __future__ import annotations

import json

import httpx

from monitor import USER_AGENT
from monitor.config.channels import WebhookChannelSettings
from monitor.errors import DeliveryError
from monitor.model import RenderedMessage
from monitor.notify.base import http_failure

__all__ = ["WebhookChannel", "webhook_body"]


def webhook_body(message: RenderedMessage, key: str) -> dict[str, object]:
    return {"key": key, "subject": message.subject, "text": message.text, **message.data}


class WebhookChannel:
    def __init__(self, name: str, settings: WebhookChannelSettings) -> None:
        self.name = name
        self.settings = settings

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r})"

    def send(self, message: RenderedMessage, *, key: str) -> None:
        body = json.dumps(webhook_body(message, key), ensure_ascii=False).encode("utf-8")
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": key,
            **self.settings.headers,
        }
        try:
            with httpx.Client(timeout=self.settings.timeout, follow_redirects=False) as client:
                response = client.post(self.settings.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(
                self.name,
                f"cannot reach {httpx.URL(self.settings.url).host}: "
                f"{exc.__class__.__name__}: {exc}; hint: is the receiver up? Retried with backoff",
                temporary=True,
            ) from exc
        if not response.is_success:
            raise http_failure(self.name, response)
