"""Feed settings: the global defaults and one feed's overrides (also built from OPML)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from monitor.config.units import Duration, format_duration
from monitor.model import DEFAULT_MAX_NEW_ENTRIES


class SettingsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedDefaults(SettingsModel):
    """Global feed settings; each feed may override them."""

    interval: Duration = timedelta(minutes=30)
    min_interval: Duration = timedelta(minutes=5)
    max_interval: Duration = timedelta(hours=24)
    language: str | None = None
    max_new_entries: int = Field(default=DEFAULT_MAX_NEW_ENTRIES, ge=1, le=1_000_000)
    """New entries stored per poll; beyond it the oldest are dropped (with a warning)."""
    fulltext: bool = False
    """Fetch each new entry's article page and match its main text (README "Full text")."""

    @model_validator(mode="after")
    def _bounds(self) -> FeedDefaults:
        if not self.min_interval <= self.interval <= self.max_interval:
            raise ValueError(
                "expected min_interval <= interval <= max_interval, found "
                f"{format_duration(self.min_interval)} / {format_duration(self.interval)} / "
                f"{format_duration(self.max_interval)}"
            )
        return self


class FeedSettings(SettingsModel):
    url: str = Field(min_length=1)
    name: str | None = None
    interval: Duration | None = None
    min_interval: Duration | None = None
    max_interval: Duration | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    max_new_entries: int | None = Field(default=None, ge=1, le=1_000_000)
    fulltext: bool | None = None
    """None: ``defaults.fulltext``."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if "://" in value and not value.startswith(("http://", "https://", "file://")):
            raise ValueError(
                f"expected an http://, https:// or file:// URL or a file path, found {value!r}"
            )
        return value
