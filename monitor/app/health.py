"""Prometheus metrics and the optional HTTP endpoint (/healthz, /metrics), off by default.

The daemon records each poll report here; the endpoint runs in a background thread on loopback.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitor.model import InstanceRecord


class Metrics:
    """The daemon's counters, in a registry of their own (tests can make as many as they like)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.polls = Counter("monitor_polls", "Feed polls by outcome", ["status"], registry=r)
        self.poll_errors = Counter(
            "monitor_poll_errors", "Failed polls per feed", ["feed"], registry=r
        )
        self.entries = Counter(
            "monitor_entries", "Entries stored, new or changed", ["kind"], registry=r
        )
        self.matches = Counter("monitor_matches", "Matches stored", registry=r)
        self.fulltext = Counter(
            "monitor_fulltext_entries",
            "Entries of fulltext feeds stored with their article's text (ok) or without (failed)",
            ["state"],
            registry=r,
        )
        self.cycle_seconds = Histogram(
            "monitor_cycle_seconds",
            "Time of one polling cycle (monitor once) or one feed's poll (daemon)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.last_success = Gauge(
            "monitor_feed_last_success_timestamp_seconds",
            "Unix time of each feed's last successful poll",
            ["feed"],
            registry=r,
        )
        self.feeds = Gauge("monitor_feeds", "Configured feeds", registry=r)
        self.deliveries_failed = Gauge(
            "monitor_deliveries_failed", "Deliveries given up after retrying", registry=r
        )
        self.deliveries_pending = Gauge(
            "monitor_deliveries_pending", "Deliveries waiting to be sent or retried", registry=r
        )
        self.storage_failed = Gauge(
            "monitor_storage_failed",
            "Feeds (and the prune job) whose last write to the database failed",
            registry=r,
        )
        self.deliveries = Counter(
            "monitor_deliveries",
            "Delivery attempts by channel and outcome (sent, retry, failed)",
            ["channel", "outcome"],
            registry=r,
        )

        # Several instances on one PostgreSQL (feed leases): one series per known instance.
        self.instance_leases = Gauge(
            "monitor_instance_leases",
            "Feed leases each instance holds (unexpired)",
            ["instance"],
            registry=r,
        )
        self.instance_heartbeat = Gauge(
            "monitor_instance_heartbeat_timestamp_seconds",
            "Last heartbeat of each instance",
            ["instance"],
            registry=r,
        )
        self.refresh: Callable[[], None] | None = None
        """Called before each render (the instance gauges are read from the database)."""

    def set_instances(self, instances: Iterable[InstanceRecord]) -> None:
        self.instance_leases.clear()
        self.instance_heartbeat.clear()
        for i in instances:
            self.instance_leases.labels(i.id).set(i.leases)
            self.instance_heartbeat.labels(i.id).set(i.heartbeat.timestamp())

    def render(self) -> bytes:
        if self.refresh is not None:
            with contextlib.suppress(Exception):  # /metrics still answers without the database
                self.refresh()
        return generate_latest(self.registry)


HealthFn = Callable[[], dict[str, Any]]


class HealthServer:
    """Serves /healthz (JSON from ``health()``; 503 when it says not ok) and /metrics."""

    def __init__(self, host: str, port: int, metrics: Metrics, health: HealthFn) -> None:
        handler = _handler(metrics, health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(metrics: Metrics, health: HealthFn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "monitor-health"

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.render())
            elif self.path.split("?")[0] in {"/healthz", "/health"}:
                body = health()
                code = 200 if body.get("ok") else 503
                self._send(code, "application/json", json.dumps(body, default=str).encode())
            else:
                self._send(404, "text/plain", b"not found: try /healthz or /metrics\n")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would drown the event log

    return Handler
