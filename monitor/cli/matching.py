"""Commands: ``monitor match``, ``monitor explain`` and ``monitor rules check``.

``match`` reads feed files, URLs or JSONL entries and prints one JSON object per entry, in input
order. Exit codes: 0 every input was read, 1 an input failed (reported on stderr), 2 usage or
invalid rules. ``explain --entry`` reads the configured store (never writes to it): 1 when the
database or the entry is not there.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from monitor.cli.app import CliContext, cli, echo_json
from monitor.errors import MonitorError, RuleError
from monitor.ingest.fulltext import article_url
from monitor.matching.lint import Lint, lint_rules
from monitor.matching.loader import check_rules, load_rules
from monitor.matching.match import Matcher, compile_rules
from monitor.model import FIELDS, Entry, FullText
from monitor.resources import SHIPPED_RULES, describe_rule_paths, rule_path, shipped_rules_dir
from monitor.store import Storage, open_storage

if TYPE_CHECKING:
    from monitor.config.settings import Settings
    from monitor.embed.layer import SemanticLayer
from monitor.ingest.inputs import InputError, read_input
from monitor.matching.explain import explanation_json, explanation_text, match_json, table_row

MATCH_BATCH = 64
_RULES_HELP = (
    f"Rule file or directory, or {SHIPPED_RULES!r} for the shipped pack (repeatable; default: "
    "the rules in monitor.yaml)."
)


def rule_paths_of(ctx: click.Context, given: Sequence[str]) -> list[Path]:
    """``--rules``/PATH as given (``shipped``: the shipped pack), else the rules monitor.yaml
    names (without a monitor.yaml: the bundled example's, the shipped pack)."""
    if given:
        return [rule_path(p) for p in given]
    return settings_of(ctx).rule_paths()


def load_matcher(ctx: click.Context, paths: Sequence[Path]) -> Matcher:
    try:
        return compile_rules(load_rules(list(paths)))
    except RuleError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
        raise AssertionError("unreachable") from exc  # ctx.exit raises


NO_SEMANTIC_HELP = (
    "Match by the rules' words only: leave out their `semantic:` blocks (no model is loaded)."
)
no_semantic_option = click.option(
    "--no-semantic", "no_semantic", is_flag=True, help=NO_SEMANTIC_HELP
)


def load_semantic_matcher(
    ctx: click.Context, paths: Sequence[Path], no_semantic: bool
) -> tuple[Matcher, SemanticLayer | None]:
    """The rules compiled with the semantic layer when a rule has ``semantic:``, neither
    --no-semantic nor ``semantic: {enabled: false}`` turn it off and the extra is installed;
    else without it, with a note on stderr (once) when rules ask for it and it cannot be on."""
    try:
        ruleset = load_rules(list(paths))
    except RuleError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
        raise AssertionError("unreachable") from exc
    from monitor.embed.layer import semantic_matcher

    enabled, model = not no_semantic, "use-v3"
    if enabled and ruleset.semantic_rules:
        try:
            wanted = settings_of(ctx).semantic
        except MonitorError:
            # An unreadable monitor.yaml: the defaults (commands given --rules work), and what
            # the environment says, as loaded settings would have it.
            import os

            from monitor.config.settings import semantic_off_in

            enabled = not semantic_off_in(os.environ)
        else:
            enabled, model = wanted.enabled, wanted.model
    setup = semantic_matcher(ruleset, enabled=enabled, model=model)
    if setup.notice is not None:
        click.echo(f"note: {setup.notice}", err=True)
    return setup.matcher, setup.layer if setup.matcher.uses_vectors else None


# --- reading entries ---------------------------------------------------------------------------


# --- output ------------------------------------------------------------------------------------


@cli.command("match")
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(), help=_RULES_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "table"]),
    default=None,
    help="Default: jsonl when stdout is not a terminal, else table.",
)
@no_semantic_option
@click.argument("inputs", nargs=-1, required=True)
@click.pass_context
def match_command(
    ctx: click.Context,
    rule_paths: tuple[str, ...],
    fmt: str | None,
    no_semantic: bool,
    inputs: tuple[str, ...],
) -> None:
    """Match entries against the watch rules: one JSON line per entry, in input order.

    INPUT is a feed file, a feed URL, a .jsonl file of entries (keys id, title, summary, content,
    link, published, language; all but id optional) or - for JSONL on stdin.

    Rules with `semantic:` also match entries close in meaning to their example sentences
    (with the `semantic` extra; --no-semantic turns that off). Such a match says
    "kind": "semantic" and names the example and the cosine.
    """
    matcher, layer = load_semantic_matcher(ctx, rule_paths_of(ctx, rule_paths), no_semantic)
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    now = datetime.now(UTC)  # only for entries without a date; matching ignores it
    failed = False
    if fmt == "table":
        click.echo(f"{'ENTRY':16}  {'RULES (score)':44}  TITLE")

    def show(batch: list[Entry]) -> None:
        vectors = layer.vectors(batch) if layer is not None else [None] * len(batch)
        for entry, vector in zip(batch, vectors, strict=True):
            matches = matcher.match(entry, vector)
            if fmt == "jsonl":
                echo_json(match_json(entry, matches))
            else:
                click.echo(table_row(entry, matches))

    # With the semantic layer, entries are embedded a batch at a time (the model's per-call
    # cost); without it each is printed as soon as it is read.
    size = MATCH_BATCH if layer is not None else 1
    for source in inputs:
        errors: list[str] = []
        try:
            batch: list[Entry] = []
            for entry in read_input(source, now, errors):
                batch.append(entry)
                if len(batch) >= size:
                    show(batch)
                    batch = []
            show(batch)
        except InputError as exc:
            errors.append(str(exc))
        for message in errors:
            click.echo(f"error: {message}", err=True)
        failed = failed or bool(errors)
    ctx.exit(1 if failed else 0)


# --- explain -----------------------------------------------------------------------------------


def _check_rule(matcher: Matcher, rule_id: str) -> None:
    if rule_id not in matcher.ruleset.ids:
        try:
            matcher.ruleset.rule(rule_id)
        except RuleError as exc:
            raise click.BadParameter(str(exc), param_hint="--rule") from None


@cli.command("explain")
@click.option("--rule", "rule_id", required=True, help="Rule id to explain.")
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    type=click.Path(),
    help=_RULES_HELP,
)
@click.option(
    "--entry",
    "entry_id",
    metavar="ID",
    help="Explain the stored entry with this id instead of TEXT (every feed's, unless --feed).",
)
@click.option("--feed", "feed_url", metavar="URL", help="With --entry: the entry of this feed.")
@click.option(
    "--field",
    "field_name",
    type=click.Choice(list(FIELDS)),
    default="title",
    show_default=True,
    help="Which entry field TEXT stands for.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@no_semantic_option
@click.argument("text", required=False)
@click.pass_context
def explain_command(
    ctx: click.Context,
    rule_id: str,
    rule_paths: tuple[str, ...],
    entry_id: str | None,
    feed_url: str | None,
    field_name: str,
    as_json: bool,
    no_semantic: bool,
    text: str | None,
) -> None:
    """Why TEXT (or a stored entry) matches a rule or not: score, concepts, hits (highlighted)
    and exclusions."""
    if (text is None) == (entry_id is None):
        raise click.UsageError("give either TEXT or --entry ID")
    if entry_id is None and feed_url is not None:
        raise click.UsageError("--feed goes with --entry")
    if entry_id is not None:
        if ctx.get_parameter_source("field_name") is not ParameterSource.DEFAULT:
            raise click.UsageError("--field goes with TEXT; a stored entry has its own fields")
        _explain_stored(ctx, rule_id, rule_paths, entry_id, feed_url, as_json, no_semantic)
        return
    assert text is not None
    matcher, layer = load_semantic_matcher(ctx, rule_paths_of(ctx, rule_paths), no_semantic)
    _check_rule(matcher, rule_id)
    fields = dict.fromkeys(FIELDS, "")
    fields[field_name] = text
    entry = Entry(
        "cli",
        "text",
        fields["title"],
        None,
        fields["summary"],
        fields["content"],
        datetime.now(UTC),
    )
    vector = layer.vectors([entry])[0] if layer is not None else None
    exp = matcher.explain(entry, rule_id, vector)
    if as_json:
        echo_json(explanation_json(exp))
    else:
        for line in explanation_text(exp, entry):
            click.echo(line)


def _explain_stored(
    ctx: click.Context,
    rule_id: str,
    rule_paths: tuple[str, ...],
    entry_id: str,
    feed_url: str | None,
    as_json: bool,
    no_semantic: bool,
) -> None:
    settings = settings_of(ctx)
    matcher, layer = load_semantic_matcher(ctx, rule_paths_of(ctx, rule_paths), no_semantic)
    _check_rule(matcher, rule_id)
    with read_store(ctx, settings.database) as storage:
        if feed_url is None:
            entries = storage.find_entries(entry_id)
        else:
            found = storage.get_entry(feed_url, entry_id)
            entries = [found] if found is not None else []
        on_record = {
            (e.feed_url, e.id): {m.rule_id: m for m in storage.matches_for(e.feed_url, e.id)}
            for e in entries
        }
        pages = storage.fulltexts(u for e in entries if (u := article_url(e.link)))
        vectors = (
            layer.stored_vectors(storage, entries) if layer is not None else [None] * len(entries)
        )
    fulltext_feeds = {f.url for f in settings.feed_list() if f.fulltext}
    if not entries:
        where = f" in feed {feed_url}" if feed_url else ""
        click.echo(f"error: no stored entry with id {entry_id!r}{where}", err=True)
        click.echo(
            "  hint: entry ids are the feeds' guids (or links); `monitor backtest --show` and "
            "`monitor match` print them",
            err=True,
        )
        ctx.exit(1)
    for i, entry in enumerate(entries):
        exp = matcher.explain(entry, rule_id, vectors[i])
        stored = on_record[(entry.feed_url, entry.id)].get(rule_id)
        if as_json:
            echo_json(
                {
                    "feed": entry.feed_url,
                    "entry": entry.id,
                    **explanation_json(exp),
                    "on_record": None if stored is None else {"score": stored.score},
                    "fulltext": fulltext_json(entry, pages, fulltext_feeds),
                }
            )
            continue
        if i:
            click.echo()
        seen = iso(entry.first_seen) or "?"
        click.echo(f"entry {entry.id} in {entry.feed_url} (first seen {seen})")
        verdict = "no match" if stored is None else f"matched, score {stored.score}"
        click.echo(f"  on record: {verdict}")
        ft = fulltext_json(entry, pages, fulltext_feeds)
        if ft is not None:
            click.echo(
                f"  full text: {ft['state']}" + (f" ({ft['detail']})" if ft["detail"] else "")
            )
        for line in explanation_text(exp, entry):
            click.echo(line)


def fulltext_json(
    entry: Entry, pages: dict[str, FullText], fulltext_feeds: set[str]
) -> dict[str, Any] | None:
    """The entry's full-text state: None for a feed without ``fulltext`` and no cached page."""
    url = article_url(entry.link)
    page = pages.get(url) if url else None
    if page is None:
        if entry.feed_url not in fulltext_feeds:
            return None
        why = "the entry has no http(s) link" if url is None else "not fetched (yet)"
        return {"state": "none", "detail": why, "url": url}
    if page.ok:
        detail = f"{len(page.text):,} characters from {page.url}, matched as content"
    else:
        detail = f"{page.error}"
    return {
        "state": page.state.value,
        "detail": detail,
        "url": page.url,
        "status": page.status,
        "error": page.error,
        "chars": len(page.text),
        "fetched_at": iso(page.fetched_at),
    }


# --- the store, read only ---------------------------------------------------------------------
def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.find_object(CliContext)
    assert obj is not None  # the root group sets it
    return obj.settings


@contextmanager
def read_store(ctx: click.Context, url: str) -> Iterator[Storage]:
    """The configured store, read only: a missing SQLite file is an error, not a new database."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) != ":memory:" and not path.exists():
            click.echo(f"error: no database at {path} (database: {url})", err=True)
            click.echo(
                "  hint: nothing is stored yet: run `monitor once`, or give -c monitor.yaml",
                err=True,
            )
            ctx.exit(1)
    storage = open_storage(url)
    try:
        yield storage
    finally:
        storage.close()


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- rules -------------------------------------------------------------------------------------
@cli.group("rules")
def rules_group() -> None:
    """Inspect and validate watch-rule files."""


@rules_group.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--corpus",
    "corpus",
    multiple=True,
    metavar="FILE",
    help="Also run the rules over these entries (JSONL like `monitor match` reads, or a feed "
    "file): per variant its hits and top matched words, and warnings on likely false friends.",
)
@click.option(
    "--store",
    "use_store",
    is_flag=True,
    help="The same over the entries in the configured database (first seen within --days).",
)
@click.option(
    "--days", type=click.IntRange(min=1), default=30, show_default=True, help="With --store."
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Matched words shown per variant.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
def rules_check(
    ctx: click.Context,
    paths: tuple[str, ...],
    corpus: tuple[str, ...],
    use_store: bool,
    days: int,
    top: int,
    fmt: str,
) -> None:
    """Validate rule files (default: the rules in monitor.yaml; `shipped` is the shipped pack);
    list every problem. Exit 1 if any.

    With --corpus or --store, also show what each variant hits there and warn on likely false
    friends (fuzzy variants that become another common word, names such as "Wolfram Weimer").
    Warnings keep exit code 0.
    """
    if ctx.get_parameter_source("days") is not ParameterSource.DEFAULT and not use_store:
        raise click.UsageError("--days goes with --store")
    rule_paths = rule_paths_of(ctx, paths)
    ruleset, errors = check_rules(rule_paths)
    if errors:
        for exc in errors:
            click.echo(f"error: {exc}", err=True)
        click.echo(f"{len(errors)} problem(s) found", err=True)
        ctx.exit(1)
    assert ruleset is not None
    lint = (
        _lint(ctx, compile_rules(ruleset), corpus, use_store, days) if corpus or use_store else None
    )
    if fmt == "json":
        echo_json(
            {
                "ok": True,
                "rules": len(ruleset.rules),
                "concepts": len(ruleset.concepts),
                "files": [str(s.path) for s in ruleset.sources],
                **({} if lint is None else lint_json(lint, top)),
            }
        )
        return
    click.echo(
        f"ok: {len(ruleset.rules)} rules, {len(ruleset.concepts)} concepts "
        f"in {len(ruleset.sources)} file(s)"
    )
    click.echo(f"from: {describe_rule_paths(rule_paths)}")
    if shipped_rules_dir() in rule_paths:
        click.echo(f"shipped pack: {shipped_rules_dir()}")
    for rule in ruleset.rules:
        click.echo(
            f"  {rule.id:28} {rule.priority.value:6} threshold {rule.threshold:3}  {rule.title}"
        )
        sem = rule.semantic
        if sem is not None:
            gate = " and ".join("(" + " | ".join(g) + ")" if len(g) > 1 else g[0] for g in sem.gate)
            click.echo(
                f"  {'':28} semantic: {len(sem.examples)} examples, {len(sem.unlike)} near "
                f"misses, cosine >= {sem.threshold:g}"
                + (f" (>= {sem.ungated:g} without the gate)" if sem.ungated is not None else "")
                + f", gate {gate}"
            )
    if ruleset.semantic_rules:
        from monitor.embed import semantic_available

        if not semantic_available():
            click.echo(
                "note: the rules with `semantic:` match by their words only here: the semantic "
                "layer needs the 'semantic' extra (pip install 'raw-materials-monitor[semantic]')"
            )
    if lint is not None:
        for line in lint_text(lint, top):
            click.echo(line)


def _lint(
    ctx: click.Context, matcher: Matcher, corpus: Sequence[str], use_store: bool, days: int
) -> Lint:
    """The lint over the corpus files, then the store; read as a stream. Bad lines are reported
    and skipped; a corpus file that cannot be read at all is a usage error (exit 2)."""
    now = datetime.now(UTC)
    for source in corpus:
        if not source.startswith(("http://", "https://", "-")) and not Path(source).is_file():
            raise click.BadParameter(f"{source}: no such file", param_hint="--corpus")
    errors: list[str] = []

    def from_files() -> Iterator[Entry]:
        for source in corpus:
            try:
                yield from read_input(source, now, errors)
            except InputError as exc:
                errors.append(str(exc))

    try:
        if use_store:
            with read_store(ctx, settings_of(ctx).database) as storage:
                stored = storage.iter_entries(since=now - timedelta(days=days))
                return lint_rules(matcher, itertools.chain(from_files(), stored))
        return lint_rules(matcher, from_files())
    finally:
        for message in errors:
            click.echo(f"error: {message}", err=True)


def lint_json(lint: Lint, top: int) -> dict[str, Any]:
    return {
        "entries": lint.entries,
        "variants": [
            {
                "rule": v.rule_id,
                "concept": v.concept,
                "variant": v.variant,
                "hits": v.hits,
                "entries": v.entries,
                "top": [{"text": w, "hits": n} for w, n in v.top(top)],
            }
            for v in lint.variants
        ],
        "warnings": [
            {
                "kind": w.kind,
                "rule": w.rule_id,
                "concept": w.concept,
                "variant": w.variant,
                "word": w.word,
                "count": w.count,
                "of": w.of,
                "corpus_count": w.corpus_count,
                "message": w.message,
                "hint": w.hint,
            }
            for w in lint.warnings
        ],
    }


def lint_text(lint: Lint, top: int) -> list[str]:
    out = [f"\nhits in {lint.entries:,} entries (per rule and variant: hits, entries, top words)"]
    rule = None
    for v in lint.variants:
        if v.rule_id != rule:
            rule = v.rule_id
            out.append(f"  {rule}")
        words = ", ".join(f"{w} ({n})" for w, n in v.top(top))
        out.append(f"    {v.concept}/{v.variant}: {v.hits} hits in {v.entries} entries: {words}")
    if not lint.variants:
        out.append("  no variant hits")
    for w in lint.warnings:
        out.append(f"warning: {w.message}")
        out.append(f"  hint: {w.hint}")
    out.append(f"{len(lint.warnings)} warning(s)")
    return out
