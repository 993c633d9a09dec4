"""Command: ``monitor backtest``, the rules over stored entries against the matches on record.

Reads the configured store, never writes to it. Exit codes: 0 report printed, 1 no database,
2 usage or invalid rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from monitor.cli.app import cli, echo_json
from monitor.cli.matching import (
    clip,
    iso,
    load_semantic_matcher,
    no_semantic_option,
    read_store,
    rule_paths_of,
    settings_of,
)
from monitor.config.units import parse_duration
from monitor.embed.layer import BATCH, SemanticLayer
from monitor.matching.backtest import Backtest, Change, backtest
from monitor.matching.embedder import Vector
from monitor.model import Entry, Match
from monitor.store import Storage


def _with_vectors(
    storage: Storage,
    layer: SemanticLayer,
    entries: Iterable[Entry],
    vectors: dict[tuple[str, str], Vector],
) -> Iterator[Entry]:
    """``entries`` as they come, a batch at a time, each batch's vectors put in ``vectors``."""
    batch: list[Entry] = []

    def flush() -> Iterator[Entry]:
        for entry, vector in zip(batch, layer.stored_vectors(storage, batch), strict=True):
            vectors[(entry.feed_url, entry.id)] = vector
        yield from batch
        batch.clear()

    for entry in entries:
        batch.append(entry)
        if len(batch) >= 4 * BATCH:
            yield from flush()
    yield from flush()


@cli.command("backtest")
@click.option(
    "--since",
    "since_text",
    metavar="DURATION",
    help="Only entries first seen within this period, e.g. 30d or 12h (default: all stored).",
)
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    type=click.Path(),
    help="Rule file or directory to try, or 'shipped' for the shipped pack (repeatable; "
    "default: the rules in monitor.yaml).",
)
@click.option(
    "--show", "-v", "show", is_flag=True, help="List the entries that would be new or gone."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@no_semantic_option
@click.pass_context
def backtest_command(
    ctx: click.Context,
    since_text: str | None,
    rule_paths: tuple[str, ...],
    show: bool,
    fmt: str,
    no_semantic: bool,
) -> None:
    """Run the rules over stored entries and compare with the matches on record: per rule, how
    many entries match now, and which would be new or gone. Reads the store, never writes.

    Try an edited rule pack on history before deploying it: --rules edited/ --show.
    """
    since: datetime | None = None
    if since_text is not None:
        try:
            since = datetime.now(UTC) - parse_duration(since_text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    settings = settings_of(ctx)
    paths = rule_paths_of(ctx, rule_paths)
    matcher, layer = load_semantic_matcher(ctx, paths, no_semantic)
    with read_store(ctx, settings.database) as storage:
        entries: Iterable[Entry] = storage.iter_entries(since=since)
        match: Callable[[Entry], Sequence[Match]] = matcher.match
        if layer is not None:
            # The stored vectors (computed once per entry when it came in), in batches; an
            # entry without one (stored before the layer was on) is embedded now, not stored.
            vectors: dict[tuple[str, str], Vector] = {}
            entries = _with_vectors(storage, layer, entries, vectors)
            match = lambda e: matcher.match(e, vectors.pop((e.feed_url, e.id), None))  # noqa: E731
        report = backtest(entries, storage.iter_matches(since=since), match, matcher.ruleset.ids)
    if fmt == "json":
        echo_json(
            {
                "since": iso(since),
                "entries": report.entries,
                "rules_from": [str(p) for p in paths],
                "rules": [
                    {
                        "rule": d.rule_id,
                        "stored": d.stored,
                        "now": d.now,
                        "new": [_change_json(c) for c in d.new],
                        "gone": [_change_json(c) for c in d.gone],
                    }
                    for d in report.rules
                ],
            }
        )
        return
    names = {f.url: f.label for f in settings.feed_list()}
    _print_backtest(report, since, paths, show, names)


def _change_json(change: Change) -> dict[str, Any]:
    e = change.entry
    return {
        "feed": e.feed_url,
        "id": e.id,
        "title": e.title,
        "link": e.link,
        "first_seen": iso(e.first_seen),
        "score": change.match.score,
    }


def _print_backtest(
    report: Backtest,
    since: datetime | None,
    paths: Sequence[Path],
    show: bool,
    names: dict[str, str],
) -> None:
    window = f"first seen since {iso(since)}" if since else "all stored"
    click.echo(
        f"{report.entries:,} entries ({window}); rules from {', '.join(str(p) for p in paths)}"
    )
    click.echo(f"{'RULE':30} {'ON RECORD':>9} {'NOW':>7} {'NEW':>7} {'GONE':>7}")
    for d in report.rules:
        new, gone = f"+{len(d.new):,}", f"-{len(d.gone):,}"
        click.echo(f"{d.rule_id:30} {d.stored:9,} {d.now:7,} {new:>7} {gone:>7}")
    if report.unchanged:
        click.echo("No differences: the rules match what is on record.")
        return
    if not show:
        click.echo("--show lists the entries that would be new or gone.")
        return
    for d in report.rules:
        if not d.new and not d.gone:
            continue
        click.echo(f"\n{d.rule_id}: {len(d.new)} new, {len(d.gone)} gone")
        for sign, changes in (("+", d.new), ("-", d.gone)):
            for c in changes:
                e = c.entry
                title = clip((e.title or e.summary or "(no title)").replace("\n", " "), 80)
                feed = names.get(e.feed_url, e.feed_url)
                click.echo(f"  {sign} {c.match.score:3}  {title}  [{clip(feed, 40)}, id {e.id}]")
