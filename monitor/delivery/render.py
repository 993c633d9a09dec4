"""Alert and Digest models -> subject, plain text, HTML (CSS inlined), Slack payloads, JSON data.

Templates are looked up by name, ``<set>/<lang>/<kind>.<format>.j2`` (kind: alert|digest;
format: html|txt|slack), first in the user's template folder, then in the shipped ``templates/``;
a set that lacks a file falls back to ``default/<lang>/...``. So a user overrides one shipped
template by putting a file of the same relative name in their folder.

Feed text is data: it is escaped for HTML (autoescape), for Slack (``slack_blocks``), and
never evaluated as template code. Dates and numbers come from ``l10n``. Pure: no I/O
besides reading templates, no clock.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import css_inline
import jinja2
from markupsafe import Markup, escape

from monitor.delivery.alerts import StoryAlert, single_alert
from monitor.delivery.digest import Alert, Digest, Item, Snippet, StoryItem
from monitor.delivery.l10n import format_datetime, format_number
from monitor.delivery.slack_blocks import (
    highlight_slack,
    safe_url,
    slack_finalize,
    slack_payloads,
    slack_url,
)
from monitor.errors import TemplateError
from monitor.model import MessageKind, RenderedMessage
from monitor.resources import check_template_dir, shipped_templates_dir

__all__ = [
    "Renderer",
    "render_alert",
    "render_digest",
    "safe_url",
]

SUBJECT_MAX = 200
_SQUASH = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def _highlight_html(snippet: Snippet) -> Markup:
    return Markup("").join(
        Markup("<mark>%s</mark>") % piece if hit else escape(piece)
        for piece, hit in snippet.parts()
    )


def _highlight_text(snippet: Snippet) -> str:
    return "".join(f"*{piece}*" if hit else piece for piece, hit in snippet.parts())


# --- the renderer -----------------------------------------------------------------------------


class Renderer:
    """Jinja2 environments over (user folder, shipped templates); reusable, thread-safe."""

    def __init__(self, user_dir: Path | None = None, shipped_dir: Path | None = None) -> None:
        check_template_dir(user_dir)
        self.user_dir = user_dir
        self.shipped_dir = shipped_dir or shipped_templates_dir()
        loaders: list[jinja2.BaseLoader] = []
        if user_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(user_dir)))
        loaders.append(jinja2.FileSystemLoader(str(self.shipped_dir)))
        # "shipped/<name>" always names the shipped file: a template can fall back on shipped
        # labels that a user's older copy of _labels.j2 lacks.
        loaders.append(
            jinja2.PrefixLoader({"shipped": jinja2.FileSystemLoader(str(self.shipped_dir))})
        )
        loader = jinja2.ChoiceLoader(loaders)
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
        }
        self._envs = {
            "html": jinja2.Environment(autoescape=True, **common),
            "txt": jinja2.Environment(autoescape=False, **common),
            "slack": jinja2.Environment(autoescape=True, finalize=slack_finalize, **common),
        }
        highlight: dict[str, Callable[[Snippet], Any]] = {
            "html": _highlight_html,
            "txt": _highlight_text,
            "slack": highlight_slack,
        }
        for fmt, env in self._envs.items():
            env.filters.update(
                highlight=highlight[fmt],
                safe_url=slack_url if fmt == "slack" else safe_url,
                datetime=_ctx_datetime,
                number=_ctx_number,
                oneline=lambda s: _SQUASH.sub(" ", str(s)).strip(),
            )

    # -- lookup --

    def template_name(self, fmt: str, kind: MessageKind, template_set: str, lang: str) -> str:
        """The name that will be used, user folder first (for ``monitor digest preview``)."""
        return self._template(fmt, kind, template_set, lang).name or ""

    def _template(
        self, fmt: str, kind: MessageKind, template_set: str, lang: str
    ) -> jinja2.Template:
        names = [f"{template_set}/{lang}/{kind}.{fmt}.j2"]
        if template_set != "default":
            names.append(f"default/{lang}/{kind}.{fmt}.j2")
        try:
            return self._envs[fmt].select_template(names)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"template {exc.name or names[0]} line {exc.lineno}: {exc.message}; "
                f"hint: fix the Jinja2 syntax in {exc.filename or 'the template'}"
            ) from exc
        except jinja2.TemplatesNotFound as exc:
            where = f"{self.user_dir} or {self.shipped_dir}" if self.user_dir else self.shipped_dir
            raise TemplateError(
                f"no template {' or '.join(names)} in {where}; "
                f"hint: check the subscription's template and language settings"
            ) from exc

    def _module(
        self, fmt: str, kind: MessageKind, template_set: str, lang: str, ctx: dict[str, Any]
    ) -> Any:
        tmpl = self._template(fmt, kind, template_set, lang)
        try:
            return tmpl.make_module(ctx)
        except jinja2.TemplateError as exc:
            raise TemplateError(
                f"template {tmpl.name} ({tmpl.filename}) failed: {exc.__class__.__name__}: {exc}; "
                "hint: a user template may only use the variables the shipped one uses"
            ) from exc

    # -- rendering --

    def render_digest(self, digest: Digest) -> RenderedMessage:
        ctx = {"digest": digest, "lang": digest.language, "tz": digest.timezone, "now": digest.now}
        return self._render("digest", digest.template, digest.language, ctx, digest_data(digest))

    def render_alert(self, alert: StoryAlert | Alert) -> RenderedMessage:
        """A story alert, re-alert or update (an old single-match ``Alert`` is taken as a story
        of its own)."""
        story = alert if isinstance(alert, StoryAlert) else single_alert(alert)
        ctx = {
            "alert": story,
            "item": story.item,
            "lang": story.language,
            "tz": story.timezone,
            "now": story.now,
        }
        message = self._render("alert", story.template, story.language, ctx, alert_data(story))
        if story.thread_key is None:
            return message
        return dataclasses.replace(message, thread_key=story.thread_key)

    def _render(
        self, kind: MessageKind, tset: str, lang: str, ctx: dict[str, Any], data: dict[str, Any]
    ) -> RenderedMessage:
        text_mod = self._module("txt", kind, tset, lang, ctx)
        html_mod = self._module("html", kind, tset, lang, ctx)
        slack_mod = self._module("slack", kind, tset, lang, ctx)
        subject = getattr(text_mod, "subject", None)
        if subject is None:
            raise TemplateError(
                f"template {tset}/{lang}/{kind}.txt.j2 sets no subject; "
                "hint: add {% set subject %}...{% endset %} at its top"
            )
        try:
            html = css_inline.inline(str(html_mod), load_remote_stylesheets=False)
        except (css_inline.InlineError, ValueError) as exc:
            raise TemplateError(f"template {tset}/{lang}/{kind}.html.j2: CSS: {exc}") from exc
        return RenderedMessage(
            kind=kind,
            subject=clean_subject(str(subject)),
            text=str(text_mod).strip() + "\n",
            html=html,
            slack_payloads=self._slack(kind, tset, lang, ctx, slack_mod),
            data=data,
            created=ctx["now"],
            template=f"{tset}/{lang}/{kind}",
        )

    def _slack(
        self, kind: MessageKind, tset: str, lang: str, ctx: dict[str, Any], mod: Any
    ) -> list[dict[str, Any]]:
        # Macros run only now, so their errors surface here rather than in make_module.
        try:
            return slack_payloads(ctx, mod)
        except (jinja2.TemplateError, AttributeError, TypeError) as exc:
            raise TemplateError(
                f"template {tset}/{lang}/{kind}.slack.j2 failed: {exc.__class__.__name__}: {exc}; "
                "hint: it must define the macros header, entry, continued and fallback "
                "(digests also summary and rule_heading)"
            ) from exc


def clean_subject(subject: str) -> str:
    """One line, at most SUBJECT_MAX characters: a header can never be split or overlong."""
    line = _SQUASH.sub(" ", subject).strip()
    if len(line) > SUBJECT_MAX:
        line = line[: SUBJECT_MAX - 1].rstrip() + "…"
    return line


@jinja2.pass_context
def _ctx_datetime(ctx: jinja2.runtime.Context, value: datetime, style: str = "medium") -> str:
    return format_datetime(value, ctx["lang"], ctx["tz"], style)


@jinja2.pass_context
def _ctx_number(ctx: jinja2.runtime.Context, value: float, decimals: int = 0) -> str:
    return format_number(value, ctx["lang"], decimals)


# --- JSON data (webhook, file channel) --------------------------------------------------------


def item_data(item: Item) -> dict[str, Any]:
    return {
        "feed_url": item.entry.feed_url,
        "entry_id": item.entry.id,
        "title": item.title.text,
        "link": safe_url(item.link),
        "source": item.source,
        "published": item.published.isoformat(),
        "rule_id": item.rule_id,
        "rule_title": item.rule_title,
        "score": item.score,
        "alerted": item.alerted,
        "snippet": {
            "field": item.snippet.field,
            "text": item.snippet.text,
            "spans": [list(s) for s in item.snippet.spans],
        },
        "hits": [
            {
                "concept": h.concept,
                "variant": h.variant,
                "field": h.field,
                "start": h.start,
                "end": h.end,
                "text": h.text,
                "similarity": h.similarity,
                **({"kind": h.kind, "threshold": h.threshold} if h.semantic else {}),
            }
            for h in item.hits
        ],
    }


def story_data(story: StoryItem) -> dict[str, Any]:
    return {
        "story_id": story.id,
        "title": story.item.title.text,
        "link": safe_url(story.item.link),
        "breaking": story.breaking,
        "alerted": story.alerted,
        "priority": story.priority.value,
        "score": story.score,
        "entries": story.size,
        "first_seen": story.first_seen.isoformat(),
        "last_seen": story.last_seen.isoformat(),
        "languages": list(story.languages),
        "outlets": [{"name": o.name, "domain": o.domain} for o in story.outlets],
        "tags": [
            {"rule_id": t.rule_id, "title": t.title, "priority": t.priority.value, "score": t.score}
            for t in story.tags
        ],
        "places": [{"where": p.where, "concepts": list(p.concepts)} for p in story.places],
        "semantic": [
            {
                "rule_id": x.rule_id,
                "example": x.hit.variant,
                "similarity": x.hit.similarity,
                "threshold": x.hit.threshold,
            }
            for x in story.semantic
        ],
        "items": [item_data(i) for i in story.items],
    }


def digest_data(digest: Digest) -> dict[str, Any]:
    """Everything the digest holds, the stories past ``max_stories`` included."""
    return {
        "kind": "digest",
        "subscription": digest.subscription,
        "language": digest.language,
        "timezone": digest.timezone,
        "generated": digest.now.isoformat(),
        "since": digest.since.isoformat() if digest.since else None,
        "stories_total": digest.story_count,
        "stories_shown": len(digest.shown),
        "total": digest.total,
        "entries": digest.entry_count,
        "omitted_alerted": digest.omitted_alerted,
        "counts": [
            {"rule_id": c.rule_id, "title": c.title, "count": c.count} for c in digest.counts
        ],
        "stories": [story_data(s) for s in digest.stories],
    }


def alert_data(alert: StoryAlert) -> dict[str, Any]:
    """The alert as JSON: the item with its exact hit spans, and the story around it."""
    spike = alert.breaking
    return {
        "kind": "alert",
        "variant": alert.variant,
        "subscription": alert.subscription,
        "language": alert.language,
        "timezone": alert.timezone,
        "generated": alert.now.isoformat(),
        "item": item_data(alert.item),
        "story": {
            "id": alert.story_id,
            "outlets": list(alert.outlets),
            "members": alert.members,
            "languages": list(alert.languages),
        },
        "tags": [
            {"rule_id": t.rule_id, "title": t.title, "score": t.score, "priority": t.priority.value}
            for t in alert.tags
        ],
        "reasons": [{"field": r.field, "terms": list(r.terms)} for r in alert.reasons],
        "hits": [
            {
                "concept": h.concept,
                "variant": h.variant,
                "field": h.field,
                "start": h.start,
                "end": h.end,
                "text": h.text,
                "similarity": h.similarity,
                **({"kind": h.kind, "threshold": h.threshold} if h.semantic else {}),
            }
            for h in alert.alert_hits
        ],
        "breaking": None
        if spike is None
        else {
            "outlets": spike.outlets,
            "window_hours": spike.window_hours,
            "baseline": round(spike.baseline, 2),
            "baseline_stories": spike.baseline_stories,
            "rule_id": spike.rule_id,
            "explanation": spike.explanation(),
        },
        "updates": [item_data(i) for i in alert.updates],
        "new_outlets": list(alert.new_outlets),
        "thread_key": alert.thread_key,
    }


# --- module-level convenience -----------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _renderer(user_dir: Path | None) -> Renderer:
    return Renderer(user_dir)


def render_digest(digest: Digest, *, user_dir: Path | None = None) -> RenderedMessage:
    return _renderer(user_dir).render_digest(digest)


def render_alert(alert: StoryAlert | Alert, *, user_dir: Path | None = None) -> RenderedMessage:
    return _renderer(user_dir).render_alert(alert)
