"""Digest delivery: build, render and send a 500-entry digest to local SMTP and Slack servers.

Real parts on loopback: aiosmtpd on 127.0.0.1 (two recipients, one SMTP transaction each) and a
ThreadingHTTPServer standing in for the Slack webhook (answers 200); both servers run in this
process, so their work (parsing 1 MB of mail) is in the send times. Reports the median of
``--runs`` for each phase, then, in a separate pass, the peak of Python allocations
(tracemalloc, servers included) and the process's peak RSS. Last, the same digest through the
outbox (SQLite file): matches stored, the digest made (plan + build + render + stored with its
message) and sent (claim, load, send, record), to show what the outbox adds.

    .venv/bin/python bench/bench_digest.py [--entries 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.config.channels import EmailChannelSettings, SlackChannelSettings, SubscriptionSettings
from monitor.config.settings import Settings
from monitor.delivery.deliver import Deliverer
from monitor.delivery.digest import build_digest
from monitor.delivery.render import Renderer
from monitor.model import Entry, FeedState, Hit, Match, RenderedMessage
from monitor.notify.email import EmailChannel
from monitor.notify.slack import SlackChannel
from monitor.store import open_storage
from tests.fixtures.http_sink import HttpSink
from tests.fixtures.smtp_server import SmtpServer, start

T = TypeVar("T")
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
RULES = ["gallium", "germanium", "lithium", "cobalt", "rare-earths", "graphite", "export-controls"]
SENTENCE = (
    "Peking hat neue Exportkontrollen für {word} angekündigt; Händler in Europa erwarten "
    "steigende Preise und Engpässe in der Lieferkette der Batterie- und Halbleiterindustrie. "
)


def pairs(n: int) -> list[tuple[Entry, Match]]:
    out = []
    for i in range(n):
        rule = RULES[i % len(RULES)]
        word = rule.replace("-", " ").title()
        summary = (SENTENCE * 3).format(word=word) + f" Meldung {i}."
        content = "Hintergrund. " * 200 + summary
        entry = Entry(
            feed_url=f"https://feed{i % 40}.example.org/rss",
            id=f"urn:entry:{i}",
            title=f"{word}: Neue Regeln aus China treffen europäische Käufer ({i})",
            link=f"https://feed{i % 40}.example.org/artikel/{i}?src=rss&lang=de",
            summary=summary,
            content=content,
            published=NOW - timedelta(minutes=7 * i),
        )
        s = summary.index(word)
        t = entry.title.index(word)
        hits = (
            Hit(rule, word, "title", t, t + len(word), word),
            Hit(rule, word, "summary", s, s + len(word), word, 96.0),
        )
        out.append((entry, Match(rule, 40 + (i * 37) % 60, hits=hits)))
    return out


def timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    smtp = start(SmtpServer())
    sink = HttpSink()
    sources = {f"https://feed{i}.example.org/rss": f"Quelle {i}" for i in range(40)}
    titles = {r: r.replace("-", " ").title() for r in RULES}
    sub = SubscriptionSettings(
        name="morgen", channel="mail", mode="digest", schedule="0 7 * * mon-fri"
    )
    email = EmailChannel(
        "mail",
        EmailChannelSettings.model_validate(
            {
                "type": "email",
                "host": smtp.host,
                "port": smtp.port,
                "security": "none",
                "from": "monitor@example.org",
                "to": ["a@example.org", "b@example.org"],
            }
        ),
    )
    slack = SlackChannel(
        "slack", SlackChannelSettings(type="slack", webhook_url=sink.url + "/services/x")
    )
    renderer = Renderer()
    data = pairs(args.entries)
    try:
        t_build, digest = timed(
            lambda: build_digest(data, sub, NOW, sources=sources, rule_titles=titles), args.runs
        )
        t_render, message = timed(lambda: renderer.render_digest(digest), args.runs)
        counter = iter(range(10**6))
        t_email, _ = timed(lambda: email.send(message, key=f"bench-{next(counter)}"), args.runs)
        t_slack, _ = timed(lambda: slack.send(message, key=f"bench-{next(counter)}"), args.runs)
        # Memory in a separate pass: tracemalloc slows everything down 2-5x.
        del digest, message
        tracemalloc.start()
        digest = build_digest(data, sub, NOW, sources=sources, rule_titles=titles)
        message = renderer.render_digest(digest)
        email.send(message, key="bench-mem-1")
        slack.send(message, key="bench-mem-2")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        t_make, t_outbox_send, t_store = outbox_round(data, smtp, titles, args.runs)
    finally:
        smtp.stop()
        sink.close()

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    eml = len(email_bytes(message))
    print(f"{args.entries} entries, median of {args.runs} runs; Python {platform.python_version()}")
    print(f"  build digest            {t_build * 1000:8.1f} ms")
    print(f"  render (3 formats+css)  {t_render * 1000:8.1f} ms")
    print(f"  send email (2 rcpt)     {t_email * 1000:8.1f} ms   message {eml / 1024:.0f} KiB")
    print(
        f"  send slack              {t_slack * 1000:8.1f} ms   "
        f"{len(message.slack_payloads)} messages"
    )
    print(f"  total                   {(t_build + t_render + t_email + t_slack) * 1000:8.1f} ms")
    print(f"  html {len(message.html) / 1024:.0f} KiB, text {len(message.text) / 1024:.0f} KiB")
    print(f"  peak traced memory {peak / 2**20:.1f} MiB; peak RSS {rss_mb:.0f} MiB")
    print(f"  received: {len(smtp.received)} emails, {len(sink.accepted())} Slack posts")
    print("  through the outbox (SQLite file):")
    print(
        f"    store {args.entries} matches     {t_store * 1000:8.1f} ms   (record_poll, 40 feeds)"
    )
    print(f"    make digest           {t_make * 1000:8.1f} ms   (plan, build, render, store)")
    print(f"    send digest           {t_outbox_send * 1000:8.1f} ms   (claim, load, send, record)")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def outbox_round(
    data: list[tuple[Entry, Match]], smtp: SmtpServer, titles: dict[str, str], runs: int
) -> tuple[float, float, float]:
    """Medians of: storing the matches, making the digest, sending it; a fresh database each run."""
    makes, sends, stores = [], [], []
    by_feed: dict[str, list[tuple[Entry, Match]]] = {}
    for entry, match in data:
        by_feed.setdefault(entry.feed_url, []).append((entry, match))
    for run in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings.model_validate(
                {
                    "database": f"sqlite:///{folder}/bench.db",
                    "channels": {
                        "mail": {
                            "type": "email",
                            "host": smtp.host,
                            "port": smtp.port,
                            "security": "none",
                            "from": "monitor@example.org",
                            "to": ["a@example.org", "b@example.org"],
                        }
                    },
                    "subscriptions": [
                        {"name": "morgen", "channel": "mail", "mode": "digest",
                         "schedule": "0 7 * * mon-fri", "lookback": "3650d"}
                    ],
                }
            )  # fmt: skip
            clock = Clock(NOW - timedelta(minutes=1))
            with open_storage(settings.database) as store:
                deliverer = Deliverer(settings, store, clock=clock, rule_titles=lambda: titles)
                clock.now = NOW
                start = time.perf_counter()
                for feed, items in by_feed.items():
                    store.record_poll(
                        FeedState(feed), [e for e, _ in items], {e.id: [m] for e, m in items}, NOW
                    )
                stores.append(time.perf_counter() - start)
                clock.now = NOW + timedelta(minutes=1, seconds=run + 1)
                start = time.perf_counter()
                [outcome] = deliverer.make_digests(force=True)
                makes.append(time.perf_counter() - start)
                assert outcome.delivery is not None and outcome.items == len(data)
                start = time.perf_counter()
                report = deliverer.send_due()
                sends.append(time.perf_counter() - start)
                assert len(report.sent) == 1, report
    return statistics.median(makes), statistics.median(sends), statistics.median(stores)


def email_bytes(message: RenderedMessage) -> bytes:
    from monitor.notify.email import build_email

    return build_email(message, key="x", from_addr="m@example.org", to=["a@example.org"]).as_bytes()


if __name__ == "__main__":
    main()
