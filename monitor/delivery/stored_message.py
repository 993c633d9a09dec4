"""A rendered message <-> the JSON stored with its delivery, so a retry sends the same message."""

from __future__ import annotations

import json
from datetime import datetime

from monitor.model import RenderedMessage, as_utc

__all__ = ["decode_message", "encode_message"]


def encode_message(message: RenderedMessage) -> str:
    return json.dumps(
        {
            "kind": message.kind,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "slack_payloads": message.slack_payloads,
            "data": message.data,
            "created": message.created.isoformat(),
            "template": message.template,
            "thread_key": message.thread_key,
        },
        ensure_ascii=False,
    )


def decode_message(text: str) -> RenderedMessage:
    obj = json.loads(text)
    return RenderedMessage(
        kind=obj["kind"],
        subject=obj["subject"],
        text=obj["text"],
        html=obj["html"],
        slack_payloads=obj["slack_payloads"],
        data=obj["data"],
        created=as_utc(datetime.fromisoformat(obj["created"])),
        template=obj.get("template", ""),
        thread_key=obj.get("thread_key"),
    )
