"""Commands: ``digest preview``, ``digest send``, ``deliveries``; and how a delivery run is printed
(``monitor once`` uses that too)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.app import CliContext, cli, echo_json, pass_ctx
from monitor.errors import ConfigError
from monitor.model import UTC

if TYPE_CHECKING:
    from monitor.app.service import Service
    from monitor.config.channels import SubscriptionSettings
    from monitor.delivery.deliver import DigestOutcome, SendReport
    from monitor.model import Delivery


@contextmanager
def _service(ctx: CliContext) -> Iterator[Service]:
    from monitor import logs
    from monitor.app.service import Service

    settings = ctx.settings
    logs.setup(settings.log.format, "warning")
    svc = Service(settings)
    try:
        yield svc
    finally:
        svc.close()


def _digest_subscriptions(svc: Service, name: str | None) -> list[SubscriptionSettings]:
    subs = svc.deliverer.digest_subscriptions(name)
    if subs:
        return subs
    known = ", ".join(s.name for s in svc.deliverer.digest_subscriptions()) or "none defined"
    if name is None:
        raise ConfigError(
            "no digest subscription is configured",
            key="subscriptions",
            hint='add one with mode: digest and a schedule, e.g. schedule: "0 7 * * mon-fri"',
        )
    raise ConfigError(
        f"no digest subscription named {name!r} (digest subscriptions: {known})",
        key="subscriptions",
        hint="use one of the names above with --subscription",
    )


# --- printing ---------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _line(d: Delivery) -> str:
    return f"{d.kind.value} {d.subscription} -> {d.channel} ({d.key})"


def _echo(message: str = "", *, err: bool = False) -> None:
    click.echo(redact_text(message), err=err)


def redact_text(text: str) -> str:
    from monitor.secrets import redact

    return redact(text)


def print_delivery_run(report: SendReport, digests: Sequence[DigestOutcome] = ()) -> None:
    """What a run made and sent, one line per delivery; nothing when there was nothing."""
    for outcome in digests:
        if outcome.error:
            _echo(f"  ! digest {outcome.subscription}: {outcome.error}")
    if not (report.sent or report.retrying or report.failed or report.locked_out):
        return
    kinds: dict[str, int] = {}
    for d in report.sent:
        kinds[d.kind.value] = kinds.get(d.kind.value, 0) + 1
    what = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(kinds.items()))
    _echo(f"\nDelivered {what or 'nothing'}.")
    for d in report.sent:
        _echo(f"  - {_line(d)}")
    for d in report.retrying:
        _echo(f"  ! {_line(d)}: retry at {_when(d.next_attempt)}: {d.last_error}")
    for d in report.failed:
        _echo(f"  ! {_line(d)}: FAILED after {d.attempts} attempts: {d.last_error}")
    if report.locked_out:
        _echo("  another monitor process is sending; it sends what is due")


# --- digest -----------------------------------------------------------------------------------


@cli.group()
def digest() -> None:
    """Preview or send digests."""


@digest.command("preview")
@click.option("--subscription", "-s", "name", default=None, help="Only this subscription.")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the HTML to this file (with several subscriptions: NAME added to the name).",
)
@pass_ctx
def digest_preview(ctx: CliContext, name: str | None, out: Path | None) -> None:
    """Render what the next digest would contain now, without sending or recording anything:
    the text to the terminal, the HTML to --out."""
    with _service(ctx) as svc:
        subs = _digest_subscriptions(svc, name)
        for sub in subs:
            digest, message = svc.deliverer.preview(sub)
            click.echo(f"=== {sub.name} -> {sub.channel} ({message.template})")
            click.echo(f"Subject: {message.subject}\n")
            click.echo(message.text)
            if out is not None:
                target = out
                if len(subs) > 1:
                    target = out.with_name(f"{out.stem}-{sub.name}{out.suffix or '.html'}")
                target.write_text(message.html, encoding="utf-8")
                click.echo(f"wrote the HTML ({digest.total} matches) to {target}", err=True)


@digest.command("send")
@click.option("--subscription", "-s", "name", default=None, help="Only this subscription.")
@pass_ctx
def digest_send(ctx: CliContext, name: str | None) -> None:
    """Send now what is pending: a digest of every match not yet in one (even before its
    scheduled time), and digests waiting for a retry."""
    with _service(ctx) as svc:
        subs = {s.name for s in _digest_subscriptions(svc, name)}
        # Digests waiting for a retry go first, under their own keys; then one digest of what
        # no digest holds yet (a retry that failed again is folded into it).
        report = svc.deliverer.send_due(force=True, subscriptions=subs, wait=60)
        outcomes = svc.deliverer.make_digests(only=name, force=True)
        report.extend(svc.deliverer.send_due(force=True, subscriptions=subs, wait=60))
    for outcome in outcomes:
        if outcome.delivery is None and not outcome.error:
            click.echo(f"{outcome.subscription}: no new matches for a digest")
    print_delivery_run(report, outcomes)
    if report.retrying or report.failed or any(o.error for o in outcomes) or report.locked_out:
        sys.exit(1)


# --- deliveries -------------------------------------------------------------------------------


@cli.command()
@click.option("--failed", "only_failed", is_flag=True, help="Only deliveries given up.")
@click.option("--pending", "only_pending", is_flag=True, help="Only deliveries not sent yet.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--retry",
    "retry_ids",
    type=int,
    multiple=True,
    metavar="ID",
    help="Put a failed delivery back in the queue (repeatable); `monitor once` sends it.",
)
@pass_ctx
def deliveries(
    ctx: CliContext,
    only_failed: bool,
    only_pending: bool,
    limit: int,
    fmt: str,
    retry_ids: tuple[int, ...],
) -> None:
    """The outbox: alerts and digests with their state, attempts and last error, newest first."""
    from monitor.delivery.deliver import describe
    from monitor.model import DeliveryState
    from monitor.store import open_storage

    settings = ctx.settings
    storage = open_storage(settings.database)
    try:
        if retry_ids:
            now = datetime.now(UTC)
            for delivery_id in retry_ids:
                if storage.retry_delivery(delivery_id, now):
                    click.echo(f"delivery {delivery_id}: queued again")
                else:
                    click.echo(f"delivery {delivery_id}: not failed (or no such id); unchanged")
            return
        states: list[DeliveryState] | None = None
        if only_failed:
            states = [DeliveryState.FAILED]
        elif only_pending:
            states = [DeliveryState.PENDING, DeliveryState.SENDING]
        rows = storage.deliveries(states=states, limit=limit)
        items = {d.id: len(storage.delivery_items(d.id)) for d in rows if d.id is not None}
    finally:
        storage.close()
    if fmt == "json":
        echo_json({"deliveries": [{**r, "items": items.get(r["id"], 0)} for r in describe(rows)]})
        return
    if not rows:
        click.echo("No deliveries." if states is None else "No such deliveries.")
        return
    _print_table(rows, items)


def _print_table(rows: Sequence[Delivery], items: Mapping[int, int]) -> None:
    click.echo(
        f"{'ID':>5} {'KIND':<6} {'SUBSCRIPTION':<18} {'CHANNEL':<14} {'STATE':<10} "
        f"{'TRIES':>5} {'ITEMS':>5} {'CREATED':<20} SENT / NEXT ATTEMPT"
    )
    for d in rows:
        when = d.sent_at if d.sent_at else d.next_attempt
        click.echo(
            f"{d.id:>5} {d.kind.value:<6} {d.subscription[:18]:<18} {d.channel[:14]:<14} "
            f"{d.state.value:<10} {d.attempts:>5} {items.get(d.id or 0, 0):>5} "
            f"{_when(d.created):<20} {_when(when)}"
        )
        if d.last_error and d.state.value != "sent":
            _echo(f"      last error: {redact_text(d.last_error)[:160]}")
