"""The web view's routes: the story stream, a story, search. Read-only on the store.

Every page is rendered by Jinja2 with autoescaping on, so feed text is text wherever it shows;
the security headers (``security.SECURITY_HEADERS``) forbid inline scripts besides.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from monitor.model import StoryRecord
from monitor.store.base import Storage
from monitor.web.feeds import SORTS, feed_health
from monitor.web.highlight import marked, rule_lines
from monitor.web.l10n import LANGUAGES, choose, translator
from monitor.web.security import SECURITY_HEADERS

__all__ = ["create_app"]

_HERE = Path(__file__).parent
_STREAM_DAYS = 14
_STREAM_LIMIT = 200
_RATE_DAYS = 7


def _safe_link(link: str | None) -> str | None:
    """Only http(s) links become anchors: a ``javascript:`` link shows as nothing clickable."""
    if link and link.lower().startswith(("http://", "https://")):
        return link
    return None


def create_app(
    storage: Storage,
    *,
    now: Callable[[], datetime] | None = None,
    token: str | None = None,
) -> Starlette:
    """The app on ``storage``; with ``token``, every request needs ``Authorization: Bearer``."""
    clock = now or (lambda: datetime.now(UTC))
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["safe_link"] = _safe_link

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        asked = request.query_params.get("lang")
        lang = choose(asked, request.cookies.get("lang"), request.headers.get("accept-language"))
        other = "en" if lang == "de" else "de"
        switch = request.url.include_query_params(lang=other)
        html = env.get_template(name).render(
            t=translator(lang), lang=lang, other_lang=other, switch_url=str(switch), **context
        )
        response = HTMLResponse(html, status_code=status)
        if asked in LANGUAGES:  # remembered for the next pages
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True)
        return response

    def stories(days: int) -> list[StoryRecord]:
        since = clock() - timedelta(days=days)
        return storage.recent_stories(since=since, limit=_STREAM_LIMIT)

    async def stream(request: Request) -> Response:
        q = request.query_params
        language = q.get("language", "")
        outlet = q.get("outlet", "")
        try:
            days = max(1, min(365, int(q.get("days", _STREAM_DAYS))))
        except ValueError:
            days = _STREAM_DAYS
        found = stories(days)
        outlets = sorted({o for s in found for o in s.outlets})
        languages = sorted({lang for s in found for lang in s.languages})
        shown = [
            s
            for s in found
            if (not language or language in s.languages) and (not outlet or outlet in s.outlets)
        ]
        return page(
            request,
            "stream.html",
            stories=shown,
            outlets=outlets,
            languages=languages,
            language=language,
            outlet=outlet,
            days=days,
        )

    async def story(request: Request) -> Response:
        story_id = request.path_params["story_id"]
        found = storage.get_story(story_id)
        if found is None:
            return page(request, "missing.html", what=story_id, status=404)
        views = []
        for m in found.members:
            matches = storage.matches_for(m.feed_url, m.entry_id)
            views.append(
                (m, marked(m.title, (h for x in matches for h in x.hits)), rule_lines(matches))
            )
        return page(request, "story.html", story=found, members=views)

    async def search(request: Request) -> Response:
        query = request.query_params.get("q", "")
        entries = storage.search_entries(query, limit=100) if query.strip() else []
        return page(request, "search.html", query=query, entries=entries)

    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if token and not hmac.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {token}"
        ):
            response: Response = Response("credential needed\n", status_code=401)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def feeds(request: Request) -> Response:
        sort = request.query_params.get("sort", "health")
        if sort not in SORTS:
            sort = "health"
        recent = storage.entry_counts_since(clock() - timedelta(days=_RATE_DAYS))
        rows = feed_health(storage.feed_states(), recent, _RATE_DAYS, sort)
        return page(request, "feeds.html", feeds=rows, sort=sort, sorts=SORTS, days=_RATE_DAYS)

    return Starlette(
        routes=[
            Route("/feeds", feeds),
            Route("/", stream),
            Route("/story/{story_id:path}", story),
            Route("/search", search),
            Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=headers)],
    )
