"""Slack Block Kit: feed text escaped for mrkdwn, and a template's macros built into payloads
split within Slack's limits (blocks per message, section and header length). Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from monitor.delivery.digest import Digest, Snippet

__all__ = [
    "SLACK_MAX_BLOCKS",
    "SLACK_MAX_FALLBACK",
    "SLACK_MAX_HEADER",
    "SLACK_MAX_SECTION",
    "clip_mrkdwn",
    "from_slack_markup",
    "highlight_slack",
    "safe_url",
    "slack_escape",
    "slack_finalize",
    "slack_payloads",
    "slack_url",
]

_SQUASH = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
_ZWSP = "\u200b"
# Slack mrkdwn formatting and mention characters; a zero-width space on each side keeps Slack
# from reading them as formatting boundaries while the text looks unchanged.
_MRKDWN = re.compile(r"([*_~`])")

# --- escaping ---------------------------------------------------------------------------------


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for href and Slack links, else None (javascript:, data:, ...)."""
    if not url:
        return None
    url = url.strip()
    if _SQUASH.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    # Percent-encode what could end a Slack link (| >) or an attribute; keep valid URL syntax.
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


def slack_escape(text: str) -> str:
    """Feed text for Slack mrkdwn: no control sequences (<!channel>, <@U1>, <url|x>), no markup."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MRKDWN.sub(_ZWSP + r"\1" + _ZWSP, text).replace("@", "@" + _ZWSP)


def slack_finalize(value: Any) -> Any:
    """Jinja2 ``finalize`` for Slack templates: neutralize mrkdwn in every plain string."""
    # Runs before autoescape: plain strings are feed or config text; Markup is our own output.
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return _MRKDWN.sub(_ZWSP + r"\1" + _ZWSP, value).replace("@", "@" + _ZWSP)
    return value


def from_slack_markup(value: str) -> str:
    """Autoescape writes HTML entities; Slack understands only &amp; &lt; &gt;, so undo the rest."""
    return str(value).replace("&#34;", '"').replace("&#39;", "'")


def slack_url(url: str | None) -> Markup | None:
    """``safe_url`` for a Slack template, or None."""
    # Markup, so that the Slack finalizer leaves "_", "~" and "@" in the URL alone.
    safe = safe_url(url)
    return Markup(safe.replace("&", "&amp;")) if safe else None


def highlight_slack(snippet: Snippet) -> Markup:
    """The snippet as escaped mrkdwn with its hits in bold."""
    # Bold needs a word boundary outside the stars in Slack; a hit inside a word stays plain.
    return Markup("").join(
        Markup("*" + slack_escape(piece.strip()) + "*")
        if hit and piece.strip()
        else Markup(slack_escape(piece))
        for piece, hit in snippet.parts()
    )


# --- Block Kit built here, text from the template's macros -----------------------------------

SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION = 3000
SLACK_MAX_HEADER = 150
SLACK_MAX_FALLBACK = 3000


def _u16(text: str) -> int:
    # Slack counts UTF-16 units in places; an emoji then counts twice. Measure the strict way.
    return len(text.encode("utf-16-le")) // 2


def clip_mrkdwn(text: str, limit: int) -> str:
    """At most ``limit`` units; never ends inside an entity (&amp;) or a link (<url|text>)."""
    if _u16(text) <= limit:
        return text
    cut = text[: limit - 1]
    while (excess := _u16(cut) - (limit - 1)) > 0:
        cut = cut[:-excess]
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…"


def _md(value: Any) -> str:
    return from_slack_markup(str(value)).strip()


def _plain(value: Any, limit: int) -> str:
    text = _md(value).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = _SQUASH.sub(" ", text.replace(_ZWSP, "")).strip()
    return clip_mrkdwn(text, limit) or "-"


def _section(text: str) -> dict[str, Any]:
    # Slack rejects an empty text; a template that renders nothing still yields a valid block.
    text = clip_mrkdwn(text, SLACK_MAX_SECTION) or "-"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _sections(text: str) -> list[dict[str, Any]]:
    """Long text (a summary over many rules) split at line breaks into several sections."""
    out: list[dict[str, Any]] = []
    chunk: list[str] = []
    size = 0
    for line in text.splitlines():
        if chunk and size + _u16(line) + 1 > SLACK_MAX_SECTION:
            out.append(_section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += _u16(line) + 1
    if any(c.strip() for c in chunk):
        out.append(_section("\n".join(chunk)))
    return out


def slack_payloads(ctx: dict[str, Any], mod: Any) -> list[dict[str, Any]]:
    """Messages in order, each within Slack's limits; a heading never ends a message."""
    head: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _plain(mod.header(), 150)}}
    ]
    units: list[list[dict[str, Any]]] = []
    digest: Digest | None = ctx.get("digest")
    if digest is not None:
        head += _sections(_md(mod.summary()))
        if hasattr(mod, "story"):
            for n, story in enumerate(digest.shown):
                block = _section(_md(mod.story(story)))
                units.append([{"type": "divider"}, block] if n == 0 else [block])
            if digest.more and hasattr(mod, "more"):
                units.append([_section(_md(mod.more()))])
        else:  # a wave-1 user template: matches by rule
            units += _rule_units(digest, mod)
    else:
        units.append([_section(_md(mod.entry(ctx["item"])))])
    return _split(head, units, mod)


def _rule_units(digest: Digest, mod: Any) -> list[list[dict[str, Any]]]:
    units: list[list[dict[str, Any]]] = []
    for group in digest.groups:
        heading = [{"type": "divider"}, _section(_md(mod.rule_heading(group)))]
        for n, item in enumerate(group.items):
            block = _section(_md(mod.entry(item)))
            units.append([*heading, block] if n == 0 else [block])
    return units


def _split(
    head: list[dict[str, Any]], units: list[list[dict[str, Any]]], mod: Any
) -> list[dict[str, Any]]:
    # One block per message stays free for the "part 2 of 5" line.
    cap = SLACK_MAX_BLOCKS - 1
    parts: list[list[dict[str, Any]]] = [[]]
    for unit in [[b] for b in head] + units:
        if parts[-1] and len(parts[-1]) + len(unit) > cap:
            parts.append([])
        parts[-1].extend(unit[:cap])
    total = len(parts)
    payloads = []
    for n, blocks in enumerate(parts, start=1):
        if n > 1:
            note = clip_mrkdwn(_md(mod.continued(n, total)), SLACK_MAX_SECTION) or "-"
            blocks.insert(0, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
        payloads.append(
            {
                "text": clip_mrkdwn(_md(mod.fallback(n, total)), SLACK_MAX_FALLBACK),
                "blocks": blocks,
                # Feed links must not unfold into previews of arbitrary pages.
                "unfurl_links": False,
                "unfurl_media": False,
            }
        )
    return payloads
