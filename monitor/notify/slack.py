"""The Slack channel: POST each Block Kit payload of a message to an incoming webhook, in order.

A large digest arrives as several payloads (split in ``delivery.slack_blocks``). Each accepted
part is remembered under (key, part index + content hash), so a retry after a failure at part 3
starts at part 3. A short Retry-After is waited out in place (up to ``max_inline_wait`` seconds
per send); a longer one goes back to the outbox as ``DeliveryError(retry_after=...)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from monitor import USER_AGENT
from monitor.config.channels import SlackChannelSettings
from monitor.errors import DeliveryError
from monitor.model import RenderedMessage
from monitor.notify.base import MemorySentParts, SentParts, http_failure, part_id

__all__ = ["SlackChannel"]


class SlackChannel:
    def __init__(
        self,
        name: str,
        settings: SlackChannelSettings,
        *,
        sent: SentParts | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.settings = settings
        self._sent: SentParts = sent if sent is not None else MemorySentParts()
        self._sleep = sleep

    def __repr__(self) -> str:
        # The webhook URL is a secret: never in a repr or a log line.
        return f"SlackChannel({self.name!r})"

    def send(self, message: RenderedMessage, *, key: str) -> None:
        payloads = message.slack_payloads
        if not payloads:
            raise DeliveryError(
                self.name,
                "the message has no Slack payload; hint: check the slack template",
                temporary=False,
            )
        done = self._sent.done(key)
        waited = 0.0
        total = len(payloads)
        with httpx.Client(
            timeout=self.settings.timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json; charset=utf-8"},
        ) as client:
            for index, payload in enumerate(payloads):
                pid = part_id(index, payload)
                if pid in done:
                    continue
                body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                what = f"part {index + 1}/{total}"
                while True:
                    try:
                        response = client.post(self.settings.webhook_url, content=body)
                    except httpx.HTTPError as exc:
                        raise DeliveryError(
                            self.name,
                            f"{what}: cannot reach the webhook: {exc.__class__.__name__}: "
                            f"{str(exc).replace(self.settings.webhook_url, '<webhook>')}; "
                            "hint: network or Slack outage, retried with backoff (parts already "
                            "accepted are not sent again)",
                            temporary=True,
                        ) from exc
                    if response.is_success:
                        self._sent.add(key, pid)
                        break
                    error = http_failure(self.name, response, what=what)
                    wait = error.retry_after
                    if (
                        error.temporary
                        and wait is not None
                        and waited + wait <= self.settings.max_inline_wait
                    ):
                        # Slack allows about one message per second per webhook: a short wait
                        # here keeps a split digest together instead of spreading it over cycles.
                        self._sleep(wait)
                        waited += wait
                        continue
                    raise error
