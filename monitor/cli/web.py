"""``monitor web``: the web view on the configured store alone (monitor/web/); ``monitor run``
serves the same view itself with ``web.enabled: true``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import click

from monitor.cli.app import CliContext, cli


@cli.command("web")
@click.option("--host", default=None, help="Address to listen on (default: web.host, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default: web.port, 8480).")
@click.pass_context
def web_command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web view (stories, search, feeds, archive, rule playground). Loopback only
    unless a credential is set: MONITOR_WEB_TOKEN (``Authorization: Bearer <token>``), or
    MONITOR_WEB_USER and MONITOR_WEB_PASSWORD (HTTP Basic, what a browser asks for).

    A retried delivery is sent by the running daemon on its next pass; a saved rule file is
    picked up by its rule check (within 30 s)."""
    import uvicorn

    from monitor.app.webview import web_credentials
    from monitor.store import open_storage
    from monitor.web.app import create_app

    obj = ctx.find_object(CliContext) or CliContext(config_path=None)
    settings = obj.settings
    host = host or settings.web.host
    port = settings.web.port if port is None else port
    credentials = web_credentials(settings, os.environ, host)
    storage = open_storage(settings.database)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which would kill the
            # process before the store is closed: a stop signal is a clean stop here (exit 0).
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    app = create_app(storage, credentials=credentials, rule_paths=settings.rule_paths())
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    try:
        Server(config).run()
    finally:
        storage.close()
