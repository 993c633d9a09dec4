"""Validated settings for the ``channels:`` and ``subscriptions:`` sections of monitor.yaml.

Secrets are plain strings here: the config loader expands ``${ENV}`` references before validation.
``settings`` embeds these models and turns pydantic errors into file/line messages.

YAML shape::

    channels:
      team-mail: {type: email, host: smtp.example.org, from: monitor@example.org, to: a@example.org}
      slack-rohstoffe: {type: slack, webhook_url: "${SLACK_WEBHOOK}"}
    subscriptions:
      - {name: morning, channel: team-mail, mode: digest, schedule: "0 7 * * mon-fri"}
      - {name: urgent, channel: slack-rohstoffe, mode: alert, rules: [gallium], min_score: 80}
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from monitor.config.units import Duration
from monitor.errors import SettingValueError

__all__ = [
    "AppriseChannelSettings",
    "ChannelSettings",
    "EmailChannelSettings",
    "FileChannelSettings",
    "NotifySettings",
    "SlackChannelSettings",
    "SubscriptionSettings",
    "WebhookChannelSettings",
    "check_references",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_address(value: str) -> str:
    # A CR/LF in an address would let a config value add mail headers.
    if any(c in value for c in "\r\n\0"):
        raise ValueError("an email address may not contain line breaks")
    _, addr = parseaddr(value)
    if "@" not in addr or addr.startswith("@") or addr.endswith("@"):
        raise ValueError(f"{value!r} is not an email address (expected name@example.org)")
    return value


def _check_secret_url(value: str) -> str:
    # The URL carries the token: say what is wrong with it without echoing it.
    if value != value.strip():
        raise ValueError("the URL starts or ends with a space or line break; remove it")
    if any(c.isspace() for c in value):
        raise ValueError("the URL contains a space or line break")
    scheme, sep, _ = value.partition("://")
    if not sep:
        raise ValueError("expected an https:// URL")
    if scheme.lower() not in {"http", "https"}:
        raise ValueError(f"expected an https:// URL, found a {scheme[:10]}:// URL")
    return value


SecretUrl = Annotated[str, AfterValidator(_check_secret_url)]
"""An http(s) URL that embeds a token; error messages never repeat it."""

Address = Annotated[str, AfterValidator(_check_address)]
"""One email address ("Name <a@example.org>" or "a@example.org"); no line breaks."""
Addresses = Annotated[list[Address], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)]
"""One address or a list of them."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _ChannelBase(_Strict):
    retry_for: Duration = Field(
        default=timedelta(hours=24),
        description="How long failed deliveries are retried before they are marked failed.",
    )
    timeout: float = Field(default=30.0, gt=0, le=600, description="Network timeout in seconds.")

    @field_validator("retry_for")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("retry_for must be positive, e.g. 24h")
        return value


class EmailChannelSettings(_ChannelBase):
    """SMTP: STARTTLS (default, port 587), implicit TLS (port 465) or plain (port 25)."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    from_: Address = Field(alias="from")
    to: Addresses = Field(min_length=1)
    ca_file: Path | None = Field(
        default=None, description="Trust this CA bundle instead of the system's (own mail relay)."
    )

    @model_validator(mode="after")
    def _auth_pair(self) -> EmailChannelSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: set both or neither")
        if self.username is not None and self.security == "none":
            raise ValueError(
                "security: none would send the password in clear text; use starttls or tls"
            )
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"starttls": 587, "tls": 465, "none": 25}[self.security]


class SlackChannelSettings(_ChannelBase):
    """A Slack incoming webhook (https://hooks.slack.com/services/...)."""

    type: Literal["slack"]
    webhook_url: SecretUrl = Field(repr=False)  # the URL is the secret
    max_inline_wait: float = Field(
        default=10.0,
        ge=0,
        le=120,
        description="Seconds one send may wait on Retry-After before handing back to the outbox.",
    )


FileFormat = Literal["eml", "html", "txt", "slack", "data"]
FILE_FORMATS: tuple[FileFormat, ...] = ("eml", "html", "txt", "slack", "data")


class FileChannelSettings(_ChannelBase):
    """A folder that receives each message as .eml, .html, .txt, .slack.json and .data.json."""

    type: Literal["file"]
    path: Path
    formats: list[FileFormat] = Field(default_factory=lambda: list(FILE_FORMATS), min_length=1)
    from_: Address = Field(default="monitor@localhost", alias="from")
    to: Addresses = Field(default_factory=lambda: ["reader@localhost"], min_length=1)


class AppriseChannelSettings(_ChannelBase):
    """Apprise URLs (Teams, Telegram, ntfy, Discord, ...): https://github.com/caronc/apprise."""

    type: Literal["apprise"]
    urls: list[str] = Field(min_length=1, repr=False)  # Apprise URLs embed tokens
    format: Literal["text", "html"] = "text"

    @field_validator("urls", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class WebhookChannelSettings(_ChannelBase):
    """A JSON POST of the alert/digest data to any URL."""

    type: Literal["webhook"]
    url: SecretUrl = Field(repr=False)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)  # may carry tokens

    @field_validator("headers")
    @classmethod
    def _no_line_breaks(cls, value: dict[str, str]) -> dict[str, str]:
        for k, v in value.items():
            if any(c in k + v for c in "\r\n\0"):
                raise ValueError(f"header {k!r} may not contain line breaks")
        return value


ChannelSettings = Annotated[
    EmailChannelSettings
    | SlackChannelSettings
    | FileChannelSettings
    | AppriseChannelSettings
    | WebhookChannelSettings,
    Field(discriminator="type"),
]


class SubscriptionSettings(_Strict):
    """Which rules' matches go to which channel, how (alert or digest), in which language."""

    name: str
    channel: str
    rules: list[str] | Literal["*"] = "*"
    min_score: int = Field(default=0, ge=0, le=100, description="Scores run from 0 to 100.")
    mode: Literal["alert", "digest"]
    schedule: str | None = Field(
        default=None, description='Cron (5 fields) for digests, e.g. "0 7 * * mon-fri".'
    )
    timezone: str = "Europe/Berlin"
    language: Literal["de", "en"] = "de"
    template: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    send_empty: bool = False
    alerted: Literal["mark", "omit"] = "mark"
    max_stories: int = Field(
        default=25,
        ge=1,
        le=1000,
        description="Stories a digest shows at most; the rest are counted (JSON keeps all).",
    )
    lookback: Duration = Field(
        default=timedelta(days=2),
        description="The first digest takes entries published this long before it, at most.",
    )
    more_url: str | None = Field(
        default=None, description='Link for "and N more" in a capped digest (the full list).'
    )
    updates: Literal["none", "thread"] = Field(
        default="none",
        description="Alerts: later entries of an alerted story are left silent (none) or sent "
        "as an update threaded under the first alert (thread).",
    )
    update_interval: Duration = Field(
        default=timedelta(hours=1),
        description="Alerts with updates: thread: at most one update per story in this time.",
    )
    max_updates: int = Field(
        default=3, ge=0, le=50, description="Alerts with updates: thread: updates per story."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r}: use letters, digits, '-', '_' or '.' (at most 64), "
                "since the name becomes part of message ids and file names"
            )
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: timedelta) -> timedelta:
        if not timedelta(hours=1) <= value <= timedelta(days=3650):
            raise ValueError("expected a look-back between 1h and 3650d, e.g. 2d")
        return value

    @field_validator("more_url")
    @classmethod
    def _more_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"expected an http(s) URL, found {value!r}")
        return value

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list) and not value:
            raise ValueError('list at least one rule id, or write rules: "*" for all rules')
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (expected an IANA name such as Europe/Berlin)"
            ) from None
        return value

    @model_validator(mode="after")
    def _schedule(self) -> SubscriptionSettings:
        if self.mode == "digest":
            given = {"updates", "update_interval", "max_updates"} & self.model_fields_set
            if given:
                raise ValueError(
                    f"{', '.join(sorted(given))}: only for alert subscriptions (mode: alert); "
                    "a digest lists each story once anyway"
                )
        if self.mode == "alert":
            if self.schedule is not None:
                raise ValueError("an alert subscription is sent at once; drop 'schedule'")
            return self
        if self.schedule is None:
            raise ValueError('a digest needs a schedule, e.g. schedule: "0 7 * * mon-fri"')
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(self.schedule, timezone=ZoneInfo(self.timezone))
        except ValueError as exc:
            raise ValueError(
                f"schedule {self.schedule!r} is not a valid cron expression ({exc}); "
                'expected 5 fields "minute hour day month weekday", e.g. "0 7 * * mon-fri"'
            ) from None
        return self

    def selects(self, rule_id: str, score: int, context: Collection[str] = ()) -> bool:
        """Whether a match of ``rule_id`` with ``score`` belongs to this subscription.

        ``rules: "*"`` means every rule but the context-only ones (``context``: their ids);
        those are selected by naming them."""
        if score < self.min_score:
            return False
        if self.rules == "*":
            return rule_id not in context
        return rule_id in self.rules


class NotifySettings(_Strict):
    """Both sections together, so that subscription -> channel references can be checked."""

    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    subscriptions: list[SubscriptionSettings] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"channel name {name!r}: use letters, digits, '-', '_' or '.'")
        return value

    @model_validator(mode="after")
    def _references(self) -> NotifySettings:
        check_references(self.channels, self.subscriptions)
        return self


def check_references(
    channels: Mapping[str, Any], subscriptions: Sequence[SubscriptionSettings]
) -> None:
    """Subscription names are unique and every subscription names a defined channel."""
    seen: set[str] = set()
    for n, sub in enumerate(subscriptions):
        if sub.name in seen:
            raise SettingValueError(
                f"subscription {sub.name!r} is defined twice",
                loc=("subscriptions", n, "name"),
                hint="give each subscription its own name",
            )
        seen.add(sub.name)
        if sub.channel not in channels:
            known = ", ".join(sorted(channels)) or "none defined"
            close = difflib.get_close_matches(sub.channel, list(channels), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "define it under `channels:`"
            raise SettingValueError(
                f"subscription {sub.name!r} names channel {sub.channel!r}, "
                f"which is not under channels: (known: {known})",
                loc=("subscriptions", n, "channel"),
                hint=hint,
            )
