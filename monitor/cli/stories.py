"""Command: ``monitor stories``: the stored stories, or JSONL entries grouped into stories.

Without INPUT: the stories of the store (``--since``, ``--limit``; a table, ``--format json``
or ``jsonl``). With INPUT: inputs are read like ``monitor match`` reads JSONL (files or ``-``
for stdin; keys ``id``, ``title``, ``summary``, ``language``, ``published``, ``source``,
``link``), clustered together in publication order (entries without a date count as published
when the command started), and printed in input order, one JSON line per entry. Exit codes: 0
every input was read, 1 an input or line failed (reported on stderr; the other entries are
still grouped). ``monitor stories backfill`` assigns stories to entries stored before stories
existed.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import click

from monitor.cli.app import CliContext, accept_config, cli, echo_json
from monitor.ingest.language import guess_language
from monitor.model import StoryMember, StoryRecord, as_utc
from monitor.stories import Decision, Settings, StoryEntry, Window, assign

_DEFAULTS = Settings()


class _LineError(Exception):
    pass


def _entry(obj: Any, where: str, now: datetime) -> StoryEntry:
    if not isinstance(obj, dict):
        raise _LineError(f"{where}: expected a JSON object, found {type(obj).__name__}")
    entry_id = obj.get("id")
    if not isinstance(entry_id, str | int) or isinstance(entry_id, bool) or entry_id == "":
        raise _LineError(f"{where}: key 'id' is missing or not a string")
    texts: dict[str, str] = {}
    for key in ("title", "summary", "language", "source", "link", "published"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise _LineError(f"{where}: key {key!r} must be a string, found {type(value).__name__}")
        texts[key] = value or ""
    published = now
    if texts["published"]:
        try:
            published = as_utc(datetime.fromisoformat(texts["published"].replace("Z", "+00:00")))
        except ValueError:
            raise _LineError(
                f"{where}: key 'published' is not an ISO 8601 date: {texts['published']!r}"
            ) from None
    return StoryEntry(
        str(entry_id),
        texts["title"],
        texts["summary"],
        texts["language"][:2].lower() or guess_language(texts["title"], texts["summary"]) or "",
        published,
        texts["source"],
        texts["link"],
    )


def _read(
    stream: IO[str], name: str, now: datetime, out: list[StoryEntry], errors: list[str]
) -> None:
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            out.append(_entry(json.loads(line), where, now))
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
        except _LineError as exc:
            errors.append(str(exc))


def _decision_json(entry: StoryEntry, d: Decision) -> dict[str, Any]:
    return {
        "id": entry.id,
        "story": d.story,
        "new": d.new,
        "score": d.score,
        "reason": d.reason,
        "best": d.best,
        "signals": d.signals,
    }


def _settings(ctx: click.Context) -> Any:
    obj = ctx.find_object(CliContext)
    if obj is None:  # invoked without the root group (tests calling the command alone)
        obj = CliContext(config_path=None)
    return obj.settings


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    from monitor.config.units import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


class _StoriesCommand(click.Command):
    """``monitor stories [OPTIONS] [INPUT]...`` and ``monitor stories backfill [OPTIONS]``: a
    command with one subcommand, so that INPUT files keep working as before."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `backfill` first, or after a --config (which then goes to backfill).
        lead: list[str] = []
        i = 0
        while i < len(args) and (args[i] in ("-c", "--config") or args[i].startswith("--config=")):
            step = 1 if "=" in args[i] else 2
            lead += args[i : i + step]
            i += step
        if i < len(args) and args[i] == "backfill":
            ctx.meta["stories.backfill"] = lead + args[i + 1 :]
            return []
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        rest = ctx.meta.pop("stories.backfill", None)
        if rest is None:
            return super().invoke(ctx)
        # Parented by the root, named "stories backfill": messages and help show the command
        # as typed (the stories command's own arguments are not part of it).
        name = f"{ctx.info_name} backfill"
        with backfill_command.make_context(name, rest, parent=ctx.parent) as sub:
            return backfill_command.invoke(sub)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(
                [("backfill", "Assign stories to stored entries that have none (see --help).")]
            )


@cli.command("stories", cls=_StoriesCommand)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl"]),
    default=None,
    help="Stored stories: table (default) or json; INPUT files: jsonl (the only one).",
)
@click.option(
    "--since",
    default="2d",
    show_default=True,
    callback=_duration,
    help="Stored stories whose last entry was published this recently (30m, 2d, 1w).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="At most this many stored stories, latest first.",
)
@click.option(
    "--span-hours",
    type=click.FloatRange(min=1.0),
    default=_DEFAULTS.span.total_seconds() / 3600,
    show_default=True,
    help="INPUT files: how long after its first entry a story can be joined.",
)
@click.option(
    "--join",
    "join_score",
    type=click.FloatRange(0.0, 1.0),
    default=_DEFAULTS.join,
    show_default=True,
    help="INPUT files: overlap needed to join a story (higher: fewer merges).",
)
@click.argument("inputs", nargs=-1)
@click.pass_context
def stories_command(
    ctx: click.Context,
    fmt: str | None,
    since: timedelta,
    limit: int,
    span_hours: float,
    join_score: float,
    inputs: tuple[str, ...],
) -> None:
    """The stories of the store, latest first: their members, outlets and languages.

    With INPUT (.jsonl files of entries, keys id, title, summary, language, published, source,
    link; all but id optional; - for stdin): group those entries instead, one JSON line per
    entry (id, story, new, score, reason), in input order. The stored stories come from the
    daemon and `monitor once`, which assign every new entry as they store it.
    """
    if not inputs:
        _stored(ctx, fmt or "table", since, limit)
        return
    if fmt not in (None, "jsonl"):
        raise click.UsageError(f"--format {fmt} is for stored stories; INPUT files give jsonl")
    _files(ctx, span_hours, join_score, inputs)


def _files(
    ctx: click.Context, span_hours: float, join_score: float, inputs: tuple[str, ...]
) -> None:
    now = datetime.now(UTC)
    entries: list[StoryEntry] = []
    errors: list[str] = []
    for source in inputs:
        if source == "-":
            _read(sys.stdin, "<stdin>", now, entries, errors)
            continue
        try:
            with Path(source).open(encoding="utf-8") as fh:
                _read(fh, source, now, entries, errors)
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{source}: cannot read: {exc}")
    settings = Settings(span=timedelta(hours=span_hours), join=join_score)
    window = Window(settings)
    order = sorted(range(len(entries)), key=lambda i: (entries[i].published, i))
    decisions: dict[int, Decision] = {i: assign(entries[i], window) for i in order}
    for i, entry in enumerate(entries):
        echo_json(_decision_json(entry, decisions[i]))
    for message in errors:
        click.echo(f"error: {message}", err=True)
    ctx.exit(1 if errors else 0)


# --- stored stories ----------------------------------------------------------------------------


def _stored(ctx: click.Context, fmt: str, since: timedelta, limit: int) -> None:
    from monitor.store import open_storage
    from monitor.stories.outlets import representative

    settings = _settings(ctx)
    preferred = settings.stories.preferred_sources
    storage = open_storage(settings.database)
    try:
        stories = storage.recent_stories(since=datetime.now(UTC) - since, limit=limit)
    finally:
        storage.close()
    if fmt == "table":
        _table(stories, preferred, since)
        return
    docs = [_story_json(s, representative(s, preferred)) for s in stories]
    if fmt == "json":
        click.echo(json.dumps({"stories": docs}, ensure_ascii=False, indent=2))
    else:
        for doc in docs:
            echo_json(doc)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _member_json(m: StoryMember) -> dict[str, Any]:
    return {
        "feed": m.feed_url,
        "id": m.entry_id,
        "title": m.title,
        "link": m.link,
        "published": _iso(m.published),
        "language": m.language,
        "outlet": m.outlet,
        "masthead": m.masthead,
        "new": m.new,
        "score": m.score,
        "reason": m.reason,
    }


def _story_json(s: StoryRecord, rep: StoryMember) -> dict[str, Any]:
    return {
        "id": s.id,
        "first_seen": _iso(s.first_seen),
        "last_seen": _iso(s.last_seen),
        "size": len(s.members),
        "outlets": list(s.outlets),
        "languages": list(s.languages),
        "representative": {"feed": rep.feed_url, "id": rep.entry_id, "title": rep.title},
        "members": [_member_json(m) for m in s.members],
    }


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(stories: list[StoryRecord], preferred: tuple[str, ...], since: timedelta) -> None:
    from monitor.config.units import format_duration
    from monitor.stories.outlets import representative

    if not stories:
        click.echo(
            f"No story in the last {format_duration(since)}. Stories are assigned as `monitor "
            "once` or `monitor run` store new entries; `monitor stories backfill` assigns "
            "entries stored before."
        )
        return
    width = max(40, shutil.get_terminal_size((120, 24)).columns - 46)
    for s in stories:
        rep = representative(s, preferred)
        outlets = ", ".join(s.outlets)
        languages = "/".join(s.languages) or "-"
        n = len(s.members)
        first, last = s.first_seen.astimezone(UTC), s.last_seen.astimezone(UTC)
        click.echo(
            f"{first:%Y-%m-%d %H:%M} .. {last:%m-%d %H:%M}"
            f"  {n} {'entry' if n == 1 else 'entries'}, {len(s.outlets)} "
            f"{'outlet' if len(s.outlets) == 1 else 'outlets'} ({_clip(outlets, 60)}), {languages}"
            f"  [{s.id}]"
        )
        click.echo(click.style(f"  {_clip(rep.title or rep.entry_id, 96)}", bold=True))
        for m in s.members:
            mark = "*" if m is rep else "-"
            click.echo(
                f"    {mark} {m.published.astimezone(UTC):%m-%d %H:%M} {m.language or '--':2} "
                f"{_clip(m.outlet, 22):22} {_clip(m.title or m.entry_id, width)}"
            )
        click.echo()


# --- backfill ----------------------------------------------------------------------------------


@click.command("backfill")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    callback=_duration,
    help="Entries published this recently (30d, 12w).",
)
@click.pass_context
def backfill_command(ctx: click.Context, since: timedelta) -> None:
    """Assign stories to stored entries that have none (stored before stories existed).

    In publication order, idempotent (entries that have a story are skipped: run it again,
    nothing changes). A progress bar on a terminal; silent otherwise (cron), but for errors.
    """
    from monitor.app.stories import backfill
    from monitor.store import open_storage
    from monitor.stories import Settings as WindowSettings

    settings = _settings(ctx)
    window = WindowSettings(span=settings.stories.span, join=settings.stories.join)
    now = datetime.now(UTC)
    storage = open_storage(settings.database)
    tty = sys.stderr.isatty()
    try:
        names = {url: st.title or "" for url, st in storage.feed_states().items()}
        names.update({f.url: f.name for f in settings.feed_list() if f.name})
        todo = len(storage.entries_without_story(since=now - since)) if tty else 0
        if tty:
            with click.progressbar(
                length=todo, label="Assigning stories", file=sys.stderr, show_pos=True
            ) as bar:
                written, started = backfill(
                    storage, window, since=now - since, now=now, mastheads=names,
                    progress=bar.update,
                )  # fmt: skip
        else:
            written, started = backfill(
                storage, window, since=now - since, now=now, mastheads=names
            )
    finally:
        storage.close()
    if tty:
        click.echo(
            f"Assigned {written:,} entries without a story: {started:,} started a story, "
            f"{written - started:,} joined one.",
            err=True,
        )


accept_config(backfill_command)  # `monitor stories backfill -c FILE` like every command
