"""The web view at the edge: its credential from the environment (checked once, at start) and
uvicorn serving it on an event loop that is not its own (the daemon's, ``web.enabled``).

The daemon owns the signals: the embedded server installs no handlers; a stop asks it to exit
and waits for it. The socket is bound before the server starts, so an address in use is a
clear error at start, not a log line from a task that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator, Mapping
from typing import Any

from monitor.config.settings import Settings
from monitor.errors import ConfigError, MonitorError
from monitor.web.security import Credentials, WebBindError, check_bind

__all__ = ["EmbeddedWeb", "WebStartError", "web_credentials"]


class WebStartError(MonitorError):
    """The web view could not listen on its address."""

    exit_code = 2


def web_credentials(
    settings: Settings, env: Mapping[str, str], host: str | None = None
) -> Credentials:
    """The web view's credential from ``env``; refused (naming ``web.host`` in monitor.yaml)
    when ``host`` (default: ``web.host``) is beyond loopback and none is set, or when only
    half of user/password is."""
    host = host or settings.web.host
    try:
        credentials = Credentials.from_env(env)
        check_bind(host, credentials)
    except WebBindError as exc:
        raise ConfigError(
            str(exc).removeprefix("web: "),
            file=str(settings.source) if settings.source else None,
            line=settings.line_of("web", "host"),
            key="web.host",
            hint="keep web.host at 127.0.0.1 (behind a reverse proxy), or set the credential "
            "in the environment of `monitor run`",
        ) from None
    return credentials


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise WebStartError(
            f"web: cannot listen on {host}:{port}: {exc.strerror or exc}; hint: choose another "
            "web.port (or stop what uses it)"
        ) from None
    return sock


class EmbeddedWeb:
    """An ASGI app served by uvicorn as a task of the running event loop."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # the daemon handles SIGTERM/SIGINT/SIGHUP

        self._host = host
        self._port = port
        self._server = Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        )
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self._socket is not None
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        self._socket = bind(self._host, self._port)
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[self._socket]), name="web"
        )
        while not self._server.started:
            if self._task.done():
                self._task.result()  # its error, if any
                raise WebStartError(f"web: the server on {self._host}:{self._port} stopped")
            await asyncio.sleep(0.02)

    async def stop(self, timeout: float = 5.0) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._socket is not None:
            self._socket.close()
