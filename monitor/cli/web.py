"""``monitor web``: the web view on the configured store (monitor/web/)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import click

from monitor.cli.app import CliContext, cli


@cli.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8480, show_default=True, type=int, help="Port to listen on.")
@click.pass_context
def web_command(ctx: click.Context, host: str, port: int) -> None:
    """Serve the web view (stories, search). Loopback only unless MONITOR_WEB_TOKEN is set;
    with it, every request needs ``Authorization: Bearer <token>``."""
    import uvicorn

    from monitor.store import open_storage
    from monitor.web.app import create_app
    from monitor.web.security import check_bind

    token = os.environ.get("MONITOR_WEB_TOKEN") or None
    check_bind(host, token)
    obj = ctx.find_object(CliContext) or CliContext(config_path=None)
    storage = open_storage(obj.settings.database)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which would kill the
            # process before the store is closed: a stop signal is a clean stop here (exit 0).
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    config = uvicorn.Config(
        create_app(storage, token=token), host=host, port=port, log_level="warning"
    )
    try:
        Server(config).run()
    finally:
        storage.close()
