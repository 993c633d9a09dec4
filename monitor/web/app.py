"""The web view's routes: the story stream, a story, search, feeds, the archive of deliveries
and the rule playground.

Every page is rendered by Jinja2 with autoescaping on, so feed text is text wherever it shows;
the security headers (``security.SECURITY_HEADERS``) forbid inline scripts besides. A sent HTML
message is only ever shown by its own route under a stricter policy (``BODY_HEADERS``), inside
a sandboxed frame. Every POST needs the CSRF token of the browser's cookie (``security``) and,
when the browser names one, this site as its origin. Store calls run in a worker thread, so the
web view never blocks an event loop it shares (``monitor run`` with ``web.enabled``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from monitor.delivery.spike import BASELINE_SPAN, MIN_OUTLETS
from monitor.errors import MonitorError
from monitor.matching.loader import load_rules
from monitor.matching.rules import RuleSet
from monitor.resources import shipped_rules_dir
from monitor.store.base import Storage
from monitor.web import playground
from monitor.web.archive import ARCHIVE_LIMIT, archive_query, message_view
from monitor.web.feeds import SORTS, feed_health
from monitor.web.highlight import clipped, marked, rule_lines
from monitor.web.l10n import LANGUAGES, choose, translator
from monitor.web.security import (
    BODY_HEADERS,
    CSRF_COOKIE,
    SECURITY_HEADERS,
    Credentials,
    csrf_ok,
    csrf_token,
    new_nonce,
    same_origin,
)
from monitor.web.stream import breaking_spikes, parse_filter
from monitor.web.volume import BAR_AREA, rule_volume, story_timeline

__all__ = ["create_app"]

_HERE = Path(__file__).parent
_STREAM_LIMIT = 200
_RATE_DAYS = 7
_MAX_FORM = 2_000_000
_VOLUME_SECONDS = 60.0
DayCount = tuple[str, date, int, int]
"""(rule id, UTC day, new stories, their entries): ``Storage.rule_day_counts``'s rows."""
T = TypeVar("T")


def _safe_link(link: str | None) -> str | None:
    """Only http(s) links become anchors: a ``javascript:`` link shows as nothing clickable."""
    if link and link.lower().startswith(("http://", "https://")):
        return link
    return None


class _Rules:
    """The configured rules as the web view reads them: reloaded when their files change; a
    broken rule file leaves the last good set (or none)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self._ruleset: RuleSet | None = None
        self._lock = threading.Lock()  # pages run in worker threads

    def _current(self) -> RuleSet | None:
        with self._lock:
            if self._ruleset is None or self._ruleset.changed():
                try:
                    self._ruleset = load_rules(self.paths)
                except MonitorError:
                    if self._ruleset is not None:
                        self._ruleset.mark_seen()
            return self._ruleset

    def ids(self) -> list[str]:
        ruleset = self._current()
        return [r.id for r in ruleset.rules] if ruleset else []

    def context(self) -> frozenset[str]:
        """The ``context: true`` rules (China, supply chains: background, not news alone)."""
        ruleset = self._current()
        return frozenset(r.id for r in ruleset.rules if r.context) if ruleset else frozenset()


@dataclass(frozen=True, slots=True)
class _Hooks:
    on_retry: Callable[[], None] | None
    on_rules_saved: Callable[[], None] | None


def create_app(
    storage: Storage,
    *,
    now: Callable[[], datetime] | None = None,
    token: str | None = None,
    credentials: Credentials | None = None,
    rule_paths: Sequence[Path] | None = None,
    secret: bytes | None = None,
    on_retry: Callable[[], None] | None = None,
    on_rules_saved: Callable[[], None] | None = None,
) -> Starlette:
    """The app on ``storage``.

    ``credentials`` (or ``token`` alone): every request needs ``Authorization: Bearer <token>``
    or HTTP Basic with the user and password. ``rule_paths``: the configured rules (default:
    the shipped pack); the playground edits the user's files among them. ``secret`` keys the
    CSRF tokens (default: random per start). ``on_retry`` runs after a failed delivery was put
    back to pending, ``on_rules_saved`` after a rule file was saved (the daemon sends and
    reloads at once; without them, the next pass or rule check does).
    """
    clock = now or (lambda: datetime.now(UTC))
    creds = credentials or Credentials(token=token or None)
    key = secret or secrets.token_bytes(32)
    rules = _Rules(rule_paths if rule_paths is not None else [shipped_rules_dir()])
    hooks = _Hooks(on_retry, on_rules_saved)
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["safe_link"] = _safe_link
    env.globals["chart_area"] = BAR_AREA

    async def blocking(fn: Callable[[], T]) -> T:
        return await run_in_threadpool(fn)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        asked = request.query_params.get("lang")
        lang = choose(asked, request.cookies.get("lang"), request.headers.get("accept-language"))
        other = "en" if lang == "de" else "de"
        switch = request.url.include_query_params(lang=other)
        html = env.get_template(name).render(
            t=translator(lang),
            lang=lang,
            other_lang=other,
            switch_url=str(switch),
            csrf=csrf_token(key, request.state.csrf_nonce),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if asked in LANGUAGES:  # remembered for the next pages
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True)
        return response

    async def checked_form(request: Request) -> dict[str, str] | None:
        """The POSTed form (URL-encoded: every form here is) if it carries the CSRF token of
        the browser's cookie, else None."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_FORM:
                return None
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return None
        form = dict(pairs)
        ok = csrf_ok(key, request.cookies.get(CSRF_COOKIE), form.get("csrf"))
        return form if ok else None

    def refused(request: Request) -> HTMLResponse:
        return page(request, "refused.html", status=403)

    # --- stories ---------------------------------------------------------------------------

    volume_cache: dict[tuple[datetime, datetime | None], tuple[float, list[DayCount]]] = {}
    volume_lock = threading.Lock()

    def day_counts(since: datetime, until: datetime | None) -> list[DayCount]:
        """The store's ``rule_day_counts`` over whole UTC days from ``since``'s, kept for
        ``_VOLUME_SECONDS`` (a reload of the stream does not count them again; over 50,000
        matched entries they take 70-150 ms)."""
        start = datetime.combine(since.astimezone(UTC).date(), datetime.min.time(), UTC)
        at = time.monotonic()
        with volume_lock:
            held = volume_cache.get((start, until))
            if held is not None and at - held[0] < _VOLUME_SECONDS:
                return held[1]
        counts = storage.rule_day_counts(since=start, until=until)
        with volume_lock:
            for k in [k for k, (t, _) in volume_cache.items() if at - t >= _VOLUME_SECONDS]:
                del volume_cache[k]
            volume_cache[(start, until)] = (at, counts)
        return counts

    async def stream(request: Request) -> Response:
        wanted = parse_filter(request.query_params)
        since, until = wanted.window(clock())

        def load() -> dict[str, Any]:
            found = storage.recent_stories(
                since=since,
                until=until,
                rule_id=wanted.rule or None,
                language=wanted.language or None,
                outlet=wanted.outlet or None,
                min_outlets=MIN_OUTLETS if wanted.breaking else None,
                limit=_STREAM_LIMIT * (5 if wanted.breaking else 1),
            )
            rule_ids = rules.ids()
            candidates = [s for s in found if len(s.outlets) >= MIN_OUTLETS]
            spikes = {}
            if candidates and rule_ids:
                baselines = storage.rule_story_outlets(rule_ids, since=since - BASELINE_SPAN)
                spikes = breaking_spikes(candidates, baselines)
            if wanted.breaking:
                found = [s for s in found if s.id in spikes]
            found = found[:_STREAM_LIMIT]
            if wanted.active:  # the choices of the whole window, not only of what is shown
                languages, outlets = storage.story_facets(since=since, until=until)
            else:  # the page shows the window's latest stories: their choices (no query)
                languages = sorted({g for s in found for g in s.languages})
                outlets = sorted({o for s in found for o in s.outlets})
            outlets = sorted({*outlets, wanted.outlet} - {""})
            languages = sorted({*languages, wanted.language} - {""})
            rule_options = list(rule_ids)
            if wanted.rule and wanted.rule not in rule_options:
                rule_options.append(wanted.rule)
            last_day = (until - timedelta(microseconds=1)) if until is not None else clock()
            volume = rule_volume(
                day_counts(since, until),
                since.astimezone(UTC).date(),
                last_day.astimezone(UTC).date(),
                first=wanted.rule,
                context=rules.context(),
            )
            latest = None
            if not found and not wanted.active:  # where the stored stories are, if any
                newest = storage.recent_stories(limit=1)
                latest = newest[0].last_seen if newest else None
            return {
                "stories": found,
                "spikes": spikes,
                "outlets": outlets,
                "languages": languages,
                "rules": rule_options,
                "volume": volume,
                "latest": latest,
            }

        data = await blocking(load)
        return page(request, "stream.html", f=wanted, **data)

    async def story(request: Request) -> Response:
        story_id = request.path_params["story_id"]

        def load() -> Any:
            found = storage.get_story(story_id)
            if found is None:
                return None
            views = []
            for m in found.members:
                matches = storage.matches_for(m.feed_url, m.entry_id)
                hits = [h for x in matches for h in x.hits]
                entry = storage.get_entry(m.feed_url, m.entry_id)
                summary = clipped(entry.summary) if entry is not None else ""
                views.append(
                    (
                        m,
                        marked(m.title, hits),
                        marked(summary, hits, field="summary"),
                        rule_lines(matches),
                    )
                )
            return found, views

        loaded = await blocking(load)
        if loaded is None:
            return page(request, "missing.html", what=story_id, status=404)
        return page(
            request,
            "story.html",
            story=loaded[0],
            members=loaded[1],
            timeline=story_timeline(loaded[0].members),
        )

    async def search(request: Request) -> Response:
        query = request.query_params.get("q", "")
        entries = (
            await blocking(lambda: storage.search_entries(query, limit=100))
            if query.strip()
            else []
        )
        return page(request, "search.html", query=query, entries=entries)

    async def feeds(request: Request) -> Response:
        sort = request.query_params.get("sort", "health")
        if sort not in SORTS:
            sort = "health"

        def load() -> Any:
            recent = storage.entry_counts_since(clock() - timedelta(days=_RATE_DAYS))
            return feed_health(storage.feed_states(), recent, _RATE_DAYS, sort)

        rows = await blocking(load)
        return page(request, "feeds.html", feeds=rows, sort=sort, sorts=SORTS, days=_RATE_DAYS)

    # --- archive ---------------------------------------------------------------------------

    async def archive(request: Request) -> Response:
        states, kind, state_given, kind_given = archive_query(request.query_params)

        def load() -> list[Any]:
            found = storage.deliveries(states=states, kind=kind, limit=ARCHIVE_LIMIT)
            subjects = storage.delivery_subjects(d.id for d in found if d.id is not None)
            return [(d, subjects.get(d.id or 0, "")) for d in found]

        rows = await blocking(load)
        return page(request, "archive.html", rows=rows, state=state_given, kind=kind_given)

    def delivery_id(request: Request) -> int | None:
        try:
            return int(request.path_params["delivery_id"])
        except ValueError:
            return None

    async def delivery(request: Request) -> Response:
        did = delivery_id(request)

        def load() -> Any:
            found = storage.delivery(did) if did is not None else None
            if found is None:
                return None
            return (
                found,
                message_view(storage.delivery_message(did or 0)),
                storage.delivery_items(did or 0),
            )

        loaded = await blocking(load)
        if loaded is None:
            return page(
                request, "missing.html", what=request.path_params["delivery_id"], status=404
            )
        found, message, items = loaded
        retried = request.query_params.get("retried")
        return page(
            request,
            "delivery.html",
            d=found,
            message=message,
            items=items,
            retried=retried,
        )

    async def delivery_body(request: Request) -> Response:
        did = delivery_id(request)

        def load() -> Any:
            if did is None or storage.delivery(did) is None:
                return None
            return message_view(storage.delivery_message(did))

        message = await blocking(load)
        if message is None:
            response: Response = PlainTextResponse("no such delivery\n", status_code=404)
        elif message.html:
            response = HTMLResponse(message.html)
        else:
            response = PlainTextResponse(message.text)
        response.headers.update(BODY_HEADERS)
        return response

    async def retry(request: Request) -> Response:
        did = delivery_id(request)
        if await checked_form(request) is None:
            return refused(request)
        if did is None:
            return page(
                request, "missing.html", what=request.path_params["delivery_id"], status=404
            )
        done = await blocking(lambda: storage.retry_delivery(did, clock()))
        if done and hooks.on_retry is not None:
            hooks.on_retry()
        return RedirectResponse(f"/archive/{did}?retried={1 if done else 0}", status_code=303)

    # --- rule playground -------------------------------------------------------------------

    def user_files() -> list[Path]:
        try:
            return playground.user_rule_files(rules.paths)
        except MonitorError:
            return []

    async def rule_files(request: Request) -> Response:
        def load() -> list[tuple[int, Path, tuple[str, ...]]]:
            return [
                (i, p, playground.rule_ids_in(rules.paths, p)) for i, p in enumerate(user_files())
            ]

        return page(request, "rules.html", files=await blocking(load))

    async def rule_editor(request: Request) -> Response:
        files = await blocking(user_files)
        try:
            index = int(request.path_params["index"])
            target = files[index]
        except (ValueError, IndexError):
            return page(request, "missing.html", what=request.path_params["index"], status=404)
        context: dict[str, Any] = {
            "index": index,
            "target": target,
            "days": playground.DEFAULT_DAYS,
            "trial": None,
            "report": None,
            "saved": None,
        }
        if request.method == "GET":
            context["draft"] = await blocking(lambda: target.read_text(encoding="utf-8"))
            return page(request, "playground.html", **context)
        form = await checked_form(request)
        if form is None:
            return refused(request)
        draft = str(form.get("text") or "").replace("\r\n", "\n")
        try:
            days = max(1, min(playground.MAX_DAYS, int(str(form.get("days") or ""))))
        except ValueError:
            days = playground.DEFAULT_DAYS
        action = str(form.get("action") or "try")
        context.update(draft=draft, days=days)

        def run() -> dict[str, Any]:
            trial = playground.try_draft(rules.paths, target, draft)
            out: dict[str, Any] = {"trial": trial}
            if trial.matcher is None:
                if action == "save":
                    out["saved"] = False
                return out
            before = playground.rule_ids_in(rules.paths, target)
            since = clock() - timedelta(days=days)
            shown = list(dict.fromkeys([*trial.rule_ids, *before]))
            # Only the matches on record of the rules shown (not every rule's: 5 s of 13 at
            # 50,000 entries), one rule at a time.
            on_record = (
                pair
                for rule_id in shown
                for pair in storage.iter_matches(since=since, rule_id=rule_id)
            )
            report = playground.diff(trial, storage.iter_entries(since=since), on_record, shown)
            out["report"] = report
            out["views"] = {
                r.rule_id: (playground.change_views(r.new), playground.change_views(r.gone))
                for r in report.rules
            }
            if action == "save":
                playground.save_rule_file(target, draft)
                out["saved"] = True
            return out

        context.update(await blocking(run))
        if context.get("saved") and hooks.on_rules_saved is not None:
            hooks.on_rules_saved()
        return page(request, "playground.html", **context)

    # --- every request ---------------------------------------------------------------------

    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        body = request.url.path.startswith("/archive/") and request.url.path.endswith("/body")
        fresh: str | None = None
        if not creds.allows(request.headers.get("authorization", "")):
            response: Response = Response("credential needed\n", status_code=401)
            if creds.basic:
                response.headers["www-authenticate"] = 'Basic realm="monitor", charset="UTF-8"'
        elif request.method not in ("GET", "HEAD") and not same_origin(
            request.headers.get("origin"), request.url.scheme, request.headers.get("host")
        ):
            response = Response("cross-site request refused\n", status_code=403)
        else:
            nonce = request.cookies.get(CSRF_COOKIE)
            if not nonce or len(nonce) > 64:
                nonce = fresh = new_nonce()
            request.state.csrf_nonce = nonce
            response = await call_next(request)
        response.headers.update(BODY_HEADERS if body else SECURITY_HEADERS)
        if fresh is not None:
            response.set_cookie(CSRF_COOKIE, fresh, httponly=True, samesite="strict", path="/")
        return response

    return Starlette(
        routes=[
            Route("/feeds", feeds),
            Route("/", stream),
            Route("/story/{story_id:path}", story),
            Route("/search", search),
            Route("/archive", archive),
            Route("/archive/{delivery_id}", delivery),
            Route("/archive/{delivery_id}/body", delivery_body),
            Route("/archive/{delivery_id}/retry", retry, methods=["POST"]),
            Route("/rules", rule_files),
            Route("/rules/{index}", rule_editor, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)],
    )
