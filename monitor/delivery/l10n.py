"""Localized dates and numbers for rendered messages (German and English), no locale database.

Pure: the caller passes the value, the language and the IANA time zone.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["format_datetime", "format_number"]

_MONTHS = {
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "en": "January February March April May June July August September October November December",
}
_MONTHS_SHORT = {
    "de": "Jan. Feb. März Apr. Mai Juni Juli Aug. Sept. Okt. Nov. Dez.",
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
}
_DAYS = {
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
}
_TZ_DE = {"CET": "MEZ", "CEST": "MESZ"}


def format_datetime(value: datetime, lang: str, tz: str, style: str = "medium") -> str:
    """Local time in ``tz``: short "24.11.2025, 07:00", medium adds the zone, long the weekday."""
    local = value.astimezone(ZoneInfo(tz))
    months = (_MONTHS if style in {"long", "date"} else _MONTHS_SHORT)[lang].split()
    month = months[local.month - 1]
    zone = local.tzname() or ""
    if lang == "de":
        zone = _TZ_DE.get(zone, zone)
    clock = f"{local:%H:%M}"
    if style == "short":
        if lang == "de":
            return f"{local:%d.%m.%Y}, {clock}"
        return f"{local.day} {month} {local.year}, {clock}"
    if style == "time":
        return clock
    day = (
        f"{local.day}. {month} {local.year}"
        if lang == "de"
        else f"{local.day} {month} {local.year}"
    )
    if style in {"long", "date"}:
        day = f"{_DAYS[lang].split()[local.weekday()]}, {day}"
        if style == "date":
            return day
    return f"{day}, {clock} {zone}".rstrip()


def format_number(value: float, lang: str, decimals: int = 0) -> str:
    text = f"{value:,.{decimals}f}"
    if lang == "de":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text
