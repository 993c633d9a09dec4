"""The ``stories:`` section of monitor.yaml: the story window and the preferred sources."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from monitor.config.feeds import SettingsModel
from monitor.config.units import Duration, format_duration

__all__ = ["StorySettings"]

_SOURCE = re.compile(r"^[\w][\w.-]*$")


def _source(source: str) -> str:
    s = source.strip().lower()
    if "://" in s:
        raise ValueError(
            f"expected a domain (reuters.com) or a name (dpa), found the URL {source!r}: "
            "write its domain only"
        )
    if not _SOURCE.match(s):
        raise ValueError(f"expected a domain (reuters.com) or a name (dpa), found {source!r}")
    return s.removeprefix("www.")


Source = Annotated[str, AfterValidator(_source)]


class StorySettings(SettingsModel):
    """Stories are assigned to every new entry in the poll that stores it (README "Stories")."""

    enabled: bool = True
    span: Duration = timedelta(hours=30)
    """How long after its first entry a story can be joined (and how long the window keeps it)."""
    join: float = Field(default=0.30, ge=0.0, le=1.0)
    """Overlap with a member needed to join its story: higher merges less."""
    preferred_sources: tuple[Source, ...] = ()
    """Outlet domains (``reuters.com``) or masthead/author names (``dpa``), best first: a
    story's representative entry is from the first of them that carries it, else the earliest."""

    @field_validator("preferred_sources", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("preferred_sources")
    @classmethod
    def _once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            twice = next(v for v in value if value.count(v) > 1)
            raise ValueError(f"{twice!r} is listed twice")
        return value

    @field_validator("span")
    @classmethod
    def _span(cls, value: timedelta) -> timedelta:
        if not timedelta(hours=1) <= value <= timedelta(days=14):
            raise ValueError(f"expected a span between 1h and 14d, found {format_duration(value)}")
        return value
