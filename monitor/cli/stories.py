"""Command: ``monitor stories``: group JSONL entries into stories, one JSON line per entry.

Inputs are read like ``monitor match`` reads JSONL (files or ``-`` for stdin; keys ``id``,
``title``, ``summary``, ``language``, ``published``, ``source``, ``link``), clustered together in
publication order (entries without a date count as published when the command started), and
printed in input order. Exit codes: 0 every input was read, 1 an input or line failed (reported
on stderr; the other entries are still grouped).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import click

from monitor.cli.app import cli, echo_json
from monitor.model import as_utc
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
        texts["language"],
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


@cli.command("stories")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option(
    "--span-hours",
    type=click.FloatRange(min=1.0),
    default=_DEFAULTS.span.total_seconds() / 3600,
    show_default=True,
    help="How long after its first entry a story can be joined.",
)
@click.option(
    "--join",
    "join_score",
    type=click.FloatRange(0.0, 1.0),
    default=_DEFAULTS.join,
    show_default=True,
    help="Overlap needed to join a story (higher: fewer merges).",
)
@click.argument("inputs", nargs=-1, required=True)
@click.pass_context
def stories_command(
    ctx: click.Context, fmt: str, span_hours: float, join_score: float, inputs: tuple[str, ...]
) -> None:
    """Group entries into stories: one JSON line per entry (id, story, new, score, reason).

    INPUT is a .jsonl file of entries (keys id, title, summary, language, published, source,
    link; all but id optional) or - for JSONL on stdin. Entries of all inputs are clustered
    together in publication order; the output keeps input order.
    """
    del fmt  # one format so far; the option keeps the command line stable
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
