"""Commands: run (daemon), once (one cycle, for cron), status, feeds (list/import/export)."""

from __future__ import annotations

import asyncio
import heapq
import signal
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor import logs
from monitor.cli.app import CliContext, cli, echo_json, pass_ctx
from monitor.config.settings import Settings, require_feeds
from monitor.model import UTC, Entry, Match

if TYPE_CHECKING:
    from monitor.store import Storage


def _echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` with secrets (tokens in feed URLs, passwords) replaced by ***."""
    from monitor.secrets import redact

    click.echo(redact(message), err=err, nl=nl)


def _setup_logs(settings: Settings, verbose: bool = False) -> None:
    logs.setup(settings.log.format, "debug" if verbose else settings.log.level)


_NO_SEMANTIC = (
    "Match by the rules' words only, without their `semantic:` blocks (as "
    "`semantic: {enabled: false}`); no model is loaded."
)


def _semantic_off(settings: Settings) -> Settings:
    semantic = settings.semantic.model_copy(update={"enabled": False})
    return settings.model_copy(update={"semantic": semantic})


@cli.command()
@click.option("--verbose", "-v", is_flag=True, help="Log debug events.")
@click.option(
    "--role",
    type=click.Choice(["all", "poll", "send"]),
    default="all",
    show_default=True,
    help="Poll feeds, send deliveries, or both (several instances on one PostgreSQL).",
)
@click.option("--no-semantic", "no_semantic", is_flag=True, help=_NO_SEMANTIC)
@pass_ctx
def run(ctx: CliContext, verbose: bool, role: str, no_semantic: bool) -> None:
    """Run as a daemon: poll every feed on its own schedule until SIGTERM/SIGINT."""
    # A stop that arrives while the daemon is still starting is remembered and honoured as soon
    # as it runs (a clean exit 0), instead of killing it half-way through start-up.
    early: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early.append(signal.Signals(signum)))
    from monitor.app.daemon import run_daemon
    from monitor.app.instance import instance_lock
    from monitor.app.service import Service

    settings = _semantic_off(ctx.settings) if no_semantic else ctx.settings
    _setup_logs(settings, verbose)
    web_credentials = None
    if settings.web.enabled:
        import os

        from monitor.app.webview import web_credentials as credentials_of

        web_credentials = credentials_of(settings, os.environ)
    # A second daemon on one SQLite file is refused here (exit 2, naming the first), before it
    # opens the database; the lock is held until this process ends.
    with instance_lock(settings.database, "run"):
        if not settings.feeds and not settings.opml:
            # Not fatal: the daemon still sends digests and reloads rules; but say so at once.
            click.echo(f"warning: {_no_feeds(settings)}", err=True)
        service = Service(settings, background_model=True)
        sys.exit(
            asyncio.run(
                run_daemon(service, stopped_early=early, role=role, web_credentials=web_credentials)
            )
        )


def _no_feeds(settings: Settings) -> str:
    from monitor.errors import ConfigError

    try:
        require_feeds(settings)
    except ConfigError as exc:
        return str(exc)
    return ""


@cli.command()
@click.option("--all", "poll_all", is_flag=True, help="Poll every feed, not only those due.")
@click.option("--strict", is_flag=True, help="Exit 1 when any feed failed (default: only all).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--verbose", "-v", is_flag=True, help="Log debug events.")
@click.option("--no-semantic", "no_semantic", is_flag=True, help=_NO_SEMANTIC)
@pass_ctx
def once(
    ctx: CliContext, poll_all: bool, strict: bool, quiet: bool, verbose: bool, no_semantic: bool
) -> None:
    """Run one cycle (for cron): poll the feeds that are due, store and match new entries,
    send immediate alerts, then every digest whose time has come."""
    from monitor.app.instance import instance_lock
    from monitor.app.service import Service
    from monitor.cli.delivery import print_delivery_run

    settings = _semantic_off(ctx.settings) if no_semantic else ctx.settings
    require_feeds(settings)
    _setup_logs(settings, verbose)
    if quiet:
        logs.setup(settings.log.format, "error")

    async def go() -> Any:
        async with Service(settings) as svc:
            feeds = svc.feeds if poll_all else None
            started = svc.clock()
            report = await svc.cycle(feeds)
            # With --quiet nothing is printed, so nothing is read back.
            matched = (
                None
                if quiet
                else matched_summary(
                    svc.storage, report, started, context=svc.rules.catalog().context
                )
            )
            # Blocking sends are fine here: nothing else runs in this loop any more.
            sent, digests = svc.deliverer.run(wait=30.0)
            states = {} if quiet else svc.storage.feed_states()
            return report, matched, states, sent, digests

    # Not beside a daemon (nor an overlapping cron run) on one SQLite file: see app/instance.py.
    with instance_lock(settings.database, "once"):
        report, matched, states, sent, digests = asyncio.run(go())
    if not quiet:
        _print_cycle(settings, report, matched, states)
        print_delivery_run(sent, digests)
    else:
        _print_errors(report, sent, digests)
    failed = report.count("error")
    unstored = sum(1 for p in report.polls if p.storage_failed)
    # A feed that fails to fetch or parse is the feed's problem; a poll the database refused is
    # the monitor's (everything else was still stored and delivered): exit 1 for an operator.
    if report.polls and (failed == len(report.polls) or unstored or (strict and failed)):
        sys.exit(1)


def _print_errors(report: Any, sent: Any, digests: Any) -> None:
    """With --quiet: still every failure, on stderr (cron mails what a job prints there)."""
    for poll in report.polls:
        if poll.status == "error":
            _echo(f"error: {poll.error}", err=True)
    for outcome in digests:
        if outcome.error:
            _echo(f"error: digest {outcome.subscription}: {outcome.error}", err=True)
    for d in sent.retrying:
        _echo(f"error: delivery {d.id} to {d.channel}: {d.last_error} (will retry)", err=True)
    for d in sent.failed:
        _echo(f"error: delivery {d.id} to {d.channel} FAILED: {d.last_error}", err=True)


SHOWN_MATCHED = 25
"""The summary after a cycle lists this many matched entries (the best), then a count."""


@dataclass
class MatchedSummary:
    total: int
    """Entries of this cycle with at least one match."""
    best: list[tuple[Entry, list[Match]]]
    """The ``SHOWN_MATCHED`` best of them: entries that matched a rule of their own before those
    that matched only ``context: true`` rules (such as ``china``), then by best score, earlier
    first on a tie."""
    context_only: int = 0
    """How many of ``total`` matched only context rules."""
    context: frozenset[str] = frozenset()
    """The context rules' ids, to mark them in the listing."""


def matched_summary(
    storage: Storage,
    report: Any,
    since: datetime,
    limit: int = SHOWN_MATCHED,
    context: frozenset[str] = frozenset(),
) -> MatchedSummary:
    """The cycle's matched entries, read as one stream from the store (one query, paged): the
    memory is ``limit`` entries whatever the cycle ingested. Matches are made when their entry
    is stored, so those of the cycle's polled feeds at or after ``since`` are the cycle's.

    Rules in ``context`` (``context: true``, such as ``china``) give background, not news of
    their own: an entry that matched only those is listed after every entry that matched
    another rule, and counted apart."""
    feeds = {p.feed for p in report.polls if p.new or p.changed}
    # a min-heap on (own rule?, best score, -order)
    best: list[tuple[bool, int, int, Entry, list[Match]]] = []
    total = context_only = 0
    entry: Entry | None = None
    matches: list[Match] = []

    def flush() -> None:
        nonlocal total, context_only
        if entry is None:
            return
        total += 1
        own = [m.score for m in matches if m.rule_id not in context]
        if not own:
            context_only += 1
        score = max(own) if own else max(m.score for m in matches)
        item = (bool(own), score, -total, entry, matches)
        if len(best) < limit:
            heapq.heappush(best, item)
        elif item[:3] > best[0][:3]:
            heapq.heapreplace(best, item)

    if feeds:
        for e, m in storage.iter_matches(since=since):
            if e.feed_url not in feeds:
                continue
            if entry is None or (e.feed_url, e.id) != (entry.feed_url, entry.id):
                flush()
                entry, matches = e, []
            matches.append(m)
        flush()
    ranked = sorted(best, key=lambda item: item[:3], reverse=True)
    return MatchedSummary(
        total, [(e, ms) for *_, e, ms in ranked], context_only=context_only, context=context
    )


def _print_cycle(
    settings: Settings, report: Any, matched: MatchedSummary | None, states: dict[str, Any]
) -> None:
    names = {f.url: f.label for f in settings.feed_list()}
    if not names:
        where = settings.source or "monitor.yaml"
        click.echo(f"No feeds configured: add them under `feeds:` in {where}.")
        return
    if not report.polls:
        upcoming = [s.next_poll for s in states.values() if s.next_poll]
        nxt = min(upcoming).astimezone(UTC).isoformat(timespec="seconds") if upcoming else "-"
        _echo(f"No feed is due; the next poll is at {nxt}. Use --all to poll every feed now.")
        return
    _echo(
        f"Polled {len(report.polls)} feeds in {report.seconds:.2f}s: "
        f"{report.new} new, {report.changed} changed entries, {report.matches} matches, "
        f"{report.count('error')} failed."
    )
    for poll in report.polls:
        title = (states.get(poll.feed) and states[poll.feed].title) or names.get(
            poll.feed, poll.feed
        )
        what = (
            f"error: {poll.error}"
            if poll.status == "error"
            else f"{poll.new} new, {poll.changed} changed of {poll.entries}"
            + (f", {poll.dropped} oldest new dropped (max_new_entries)" if poll.dropped else "")
            + _fulltext_note(poll)
            if poll.status == "ok"
            else poll.status.replace("_", " ")
        )
        _echo(f"  {'!' if poll.status == 'error' else '-'} {_clip(title, 50)}: {what}")
    if matched and matched.total:
        only = (
            f"; {matched.context_only} of them only by context rules, listed last"
            if matched.context_only
            else ""
        )
        _echo(f"\nMatched entries ({matched.total}{only}):")
        for entry, matches in matched.best:
            rules = ", ".join(
                f"{m.rule_id} {m.score}" + (" (context)" if m.rule_id in matched.context else "")
                for m in sorted(matches, key=lambda m: (m.rule_id in matched.context, -m.score))
            )
            _echo(f"  * {_clip(entry.title or entry.id, 80)}\n      [{rules}]")
        if matched.total > len(matched.best):
            _echo(
                f"  ... and {matched.total - len(matched.best)} more "
                f"(the {len(matched.best)} best are listed; all are stored)"
            )


def _fulltext_note(poll: Any) -> str:
    if not (poll.fulltext_ok or poll.fulltext_failed):
        return ""
    failed = f", {poll.fulltext_failed} failed (`monitor status`)" if poll.fulltext_failed else ""
    return f"; full text {poll.fulltext_ok} ok{failed}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_ctx
def status(ctx: CliContext, fmt: str) -> None:
    """Every feed: last success, last error, error count, next poll, stored entries; and the
    outbox: pending and failed deliveries."""
    from monitor.model import DeliveryState
    from monitor.secrets import redact
    from monitor.store import open_storage

    settings = ctx.settings
    storage = open_storage(settings.database)
    try:
        states = storage.feed_states()
        counts = storage.entry_counts()
        outbox = storage.delivery_counts()
        failed = storage.deliveries(states=[DeliveryState.FAILED], limit=10)
        fulltext = _fulltext_status(storage, settings.feed_list())
        leased = settings.database.startswith(("postgresql://", "postgres://"))
        instances = storage.instances(datetime.now(UTC)) if leased else []
    finally:
        storage.close()
    deliveries = {
        "pending": outbox[DeliveryState.PENDING] + outbox[DeliveryState.SENDING],
        "failed": outbox[DeliveryState.FAILED],
        "sent": outbox[DeliveryState.SENT],
        "failed_recent": [
            {"id": d.id, "key": d.key, "channel": d.channel, "last_error": d.last_error}
            for d in failed
        ],
    }
    rows: list[dict[str, Any]] = []
    for feed in settings.feed_list():
        s = states.get(feed.url)
        rows.append(
            {
                "feed": redact(feed.url),
                "name": feed.name or (s.title if s else None),
                "fetch_url": redact(s.fetch_url) if s and s.fetch_url else None,
                "last_success": _iso(s.last_success if s else None),
                "last_error": redact(s.last_error) if s and s.last_error else None,
                "error_count": s.error_count if s else 0,
                "next_poll": _iso(s.next_poll if s else None),
                "entries": counts.get(feed.url, 0),
                **({"fulltext": fulltext[feed.url]} if feed.url in fulltext else {}),
            }
        )
    from monitor.app.service import instance_json

    if fmt == "json":
        extra = {"instances": [instance_json(i) for i in instances]} if leased else {}
        echo_json({"feeds": rows, "deliveries": deliveries, **extra})
        return
    if instances:
        click.echo("Instances (id, role, last heartbeat, leases held):")
        for i in instances:
            click.echo(f"  {i.id}  {i.role}  {i.heartbeat.isoformat()}  {i.leases}")
        click.echo()
    if not rows:
        where = f" in {settings.source}" if settings.source else ""
        click.echo(f"No feeds configured{where}: add a `feeds:` list of feed URLs or files.")
    else:
        _print_feeds(rows)
    if settings.subscriptions or deliveries["sent"] or deliveries["pending"]:
        click.echo(
            f"\nDeliveries: {deliveries['pending']} pending, {deliveries['failed']} failed, "
            f"{deliveries['sent']} sent."
        )
    for d in failed:
        click.echo(f"  ! {d.kind.value} {d.key} -> {d.channel} (id {d.id}): {d.last_error}")
    if failed:
        click.echo("  `monitor deliveries --failed` lists them; `--retry ID` queues one again.")


def _print_feeds(rows: list[dict[str, Any]]) -> None:
    _echo(f"{'FEED':<44} {'ENTRIES':>7} {'LAST SUCCESS':<20} {'NEXT POLL':<20} ERRORS")
    for r in rows:
        label = _clip(r["name"] or r["feed"], 44)
        _echo(
            f"{label:<44} {r['entries']:>7} {(r['last_success'] or 'never'):<20} "
            f"{(r['next_poll'] or 'due'):<20} {r['error_count']}"
        )
        if r["last_error"]:
            _echo(f"    last error: {_clip(r['last_error'], 120)}")
        ft = r.get("fulltext")
        if ft is not None:
            _echo(f"    full text (article pages): {ft['ok']} ok, {ft['failed']} failed")
            for f in ft["recent_failures"][:3]:
                _echo(f"      ! {_clip(f['url'], 70)}: {_clip(f['error'] or '', 100)}")


def _fulltext_status(storage: Storage, feeds: list[Any]) -> dict[str, dict[str, Any]]:
    """Per ``fulltext: true`` feed (or feed with cached pages): pages ok and failed, and the
    latest failures with their reasons."""
    from monitor.model import FullTextState

    counts = storage.fulltext_counts()
    out: dict[str, dict[str, Any]] = {}
    for feed in feeds:
        if not (feed.fulltext or feed.url in counts):
            continue
        c = counts.get(feed.url, {})
        failed = storage.fulltext_failures(feed_url=feed.url, limit=5) if c else []
        out[feed.url] = {
            "enabled": feed.fulltext,
            "ok": c.get(FullTextState.OK, 0),
            "failed": c.get(FullTextState.FAILED, 0),
            "recent_failures": [
                {"url": f.url, "error": f.error, "status": f.status, "at": _iso(f.fetched_at)}
                for f in failed
            ],
        }
    return out


def _iso(value: datetime | None) -> str | None:
    return (
        value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if value
        else None
    )


@cli.group()
def feeds() -> None:
    """List configured feeds; import and export OPML."""


@feeds.command("list")
@pass_ctx
def feeds_list(ctx: CliContext) -> None:
    """The configured feeds (inline and from OPML) with their effective settings."""
    from monitor.config.units import format_duration
    from monitor.secrets import redact

    for feed in ctx.settings.feed_list():
        extra = [f"every {format_duration(feed.interval)}"]
        if feed.language:
            extra.append(feed.language)
        if feed.tags:
            extra.append("tags " + ",".join(feed.tags))
        if feed.fulltext:
            extra.append("fulltext")
        click.echo(redact(f"{feed.url}  ({feed.name or '-'}; {'; '.join(extra)})"))


@feeds.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@pass_ctx
def feeds_export(ctx: CliContext, output: Path | None) -> None:
    """Write the configured feeds as OPML (stdout, or --output FILE)."""
    from monitor.config.opml import write_opml

    text = write_opml(ctx.settings.feed_list())
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(ctx.settings.feed_list())} feeds to {output}", err=True)


@feeds.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--into",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="OPML file to merge into (default: the config's first `opml:` file, else feeds.opml "
    "beside the config).",
)
@pass_ctx
def feeds_import(ctx: CliContext, source: Path, into: Path | None) -> None:
    """Merge the feeds of an OPML file into the config's OPML feed list (duplicates skipped)."""
    from monitor.config.feeds import FeedSettings
    from monitor.config.opml import read_opml, write_opml
    from monitor.config.units import parse_duration

    settings = ctx.settings
    if into is None:
        into = settings.base_dir / (settings.opml[0] if settings.opml else Path("feeds.opml"))
    existing = read_opml(into) if into.exists() else []
    configured = {settings.resolve_feed_url(f.url) for f in settings.feeds} | {
        settings.resolve_feed_url(f.url) for f in existing
    }
    added = [f for f in read_opml(source) if settings.resolve_feed_url(f.url) not in configured]
    merged: list[FeedSettings] = [*existing, *added]
    d = settings.defaults
    from monitor.model import Feed

    into.write_text(
        write_opml(
            Feed(
                url=f.url,
                name=f.name,
                interval=f.interval or parse_duration(d.interval),
                tags=f.tags,
                language=f.language,
            )
            for f in merged
        ),
        encoding="utf-8",
    )
    click.echo(f"added {len(added)} feeds to {into} ({len(merged)} in all)")
    rel = into.name if into.parent == settings.base_dir else str(into)
    if settings.source and not any(settings._read_path(p) == into for p in settings.opml):
        click.echo(f"add `opml: {rel}` to {settings.source} to poll them", err=True)
