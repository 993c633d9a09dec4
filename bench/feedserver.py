"""A static feed server for the benchmarks: serves a folder on 127.0.0.1 with or without
validators (ETag/Last-Modified, 304), over HTTP or HTTPS (``tls``), counting full bodies and
304s sent and connections accepted."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class FeedServer:
    def __init__(
        self, root: Path, *, validators: bool = True, tls: ssl.SSLContext | None = None
    ) -> None:
        self.root = root
        self.validators = validators
        self.tls = tls
        self.bodies = 0
        self.not_modified = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[bytes, str]] = {}
        self.on_request: Callable[[], object] | None = None
        """Called at the start of every request (``bench_startup`` times the first one)."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if server.on_request is not None:
                    server.on_request()
                name = self.path.lstrip("/").split("?")[0]
                item = server._load(name)
                if item is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, etag = item
                if server.validators and self.headers.get("If-None-Match") == etag:
                    with server._lock:
                        server.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                with server._lock:
                    server.bodies += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                if server.validators:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", "Mon, 23 Nov 2026 10:00:00 GMT")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512

            def get_request(self) -> tuple[socket.socket, Any]:
                sock, addr = super().get_request()
                with server._lock:
                    server.connections += 1
                if server.tls is not None:  # handshake on the first read, in the handler thread
                    sock = server.tls.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                return sock, addr

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _load(self, name: str) -> tuple[bytes, str] | None:
        if name not in self._cache:
            path = self.root / name
            if not path.is_file():
                return None
            body = path.read_bytes()
            self._cache[name] = (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')
        return self._cache[name]

    def url(self, name: str) -> str:
        host, port = self.httpd.server_address[:2]
        if self.tls is not None:
            return f"https://localhost:{port}/{name}"  # the name the certificate is for
        return f"http://{host!s}:{port}/{name}"

    def reset_counts(self) -> None:
        self.bodies = self.not_modified = self.connections = 0

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
