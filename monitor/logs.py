"""Structured logging: one event name plus key-values per line, human or JSON.

Call ``event(log, "poll", feed=url, status="ok", new=3)``; configure once with ``setup``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from monitor.secrets import redact

_KV = "monitor_kv"


def event(logger: logging.Logger, name: str, /, *, level: int = logging.INFO, **kv: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={_KV: kv})


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, datetime):
        return v.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    s = str(v)
    if not s or any(c in s for c in ' "=\n'):
        return json.dumps(s, ensure_ascii=False)
    return s


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        kv = getattr(record, _KV, None) or {}
        pairs = " ".join(f"{k}={_value(v)}" for k, v in kv.items() if v is not None)
        line = f"{ts} {record.levelname:<7} {record.getMessage()}" + (f" {pairs}" if pairs else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)  # secret settings never reach a log


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for k, v in (getattr(record, _KV, None) or {}).items():
            if v is not None:
                out[k] = redact(v) if isinstance(v, str) else v
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, ensure_ascii=False, default=_value))


def setup(fmt: str = "human", level: str = "info", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    root = logging.getLogger("monitor")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # APScheduler logs every job run at INFO; keep its warnings only.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
