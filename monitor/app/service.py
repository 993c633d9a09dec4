"""Settings wired into working parts: store, fetcher, compiled rules, pipeline, metrics.

``monitor once`` runs one ``cycle``; the daemon drives the same object from its scheduler.
The clock is read here (``system_clock``) and nowhere deeper.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from monitor.app.health import Metrics
from monitor.app.pipeline import EntryMatcher, Pipeline, PollReport, StateBatch
from monitor.app.stories import StoryTracker
from monitor.config.settings import Settings
from monitor.errors import ConfigError, MonitorError, StorageError
from monitor.ingest.fetch import Fetcher, FetchLimits
from monitor.ingest.fulltext import FullTextFetcher
from monitor.ingest.workers import FeedParser, ProcessParser, make_parser
from monitor.logs import event
from monitor.matching.embedder import Vector
from monitor.matching.rules import RuleSet
from monitor.model import (
    Delivery,
    DeliveryState,
    Entry,
    Feed,
    FeedState,
    InstanceRecord,
    Match,
    RuleCatalog,
)
from monitor.resources import check_template_dir, describe_rule_paths
from monitor.store import Storage, open_storage

if TYPE_CHECKING:
    from monitor.config.channels import FileChannelSettings
    from monitor.delivery.deliver import Deliverer
    from monitor.embed.layer import SemanticLayer
    from monitor.store.host_slots import PgHostSlots

log = logging.getLogger("monitor.service")

MODEL_WAIT_STEP = 0.05
"""How often a poll waiting for the model loading in the background looks again (seconds)."""

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def fetch_limits(settings: Settings) -> FetchLimits:
    f = settings.fetch
    kwargs: dict[str, Any] = {
        "connect_timeout": f.connect_timeout.total_seconds(),
        "read_timeout": f.read_timeout.total_seconds(),
        "total_timeout": f.total_timeout.total_seconds(),
        "max_body_bytes": f.max_body,
        "max_redirects": f.max_redirects,
        "concurrency": f.concurrency,
        "per_host": f.per_host,
    }
    if f.user_agent:
        kwargs["user_agent"] = f.user_agent
    return FetchLimits(**kwargs)


@dataclass
class CycleReport:
    polls: list[PollReport] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for p in self.polls if p.status == status)

    @property
    def new(self) -> int:
        return sum(p.new for p in self.polls)

    @property
    def changed(self) -> int:
        return sum(p.changed for p in self.polls)

    @property
    def matches(self) -> int:
        return sum(p.matches for p in self.polls)


class Service:
    """Owns the open resources; use as ``async with Service(settings) as svc``."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        storage: Storage | None = None,
        rng: random.Random | None = None,
        background_model: bool = False,
    ) -> None:
        """``background_model`` (the daemon): the semantic layer's model loads in a thread."""
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        self.feeds: list[Feed] = settings.feed_list()
        self.metrics = Metrics()
        self.metrics.feeds.set(len(self.feeds))
        self.rules = RuleBook(
            settings.rule_paths(),
            check=lambda ids: check_subscription_rules(settings, ids),
            semantic=settings.semantic.enabled,
            model=settings.semantic.model,
            background=background_model,
        )
        check_subscription_rules(settings, self.rules.rule_ids)
        check_channel_folders(settings)
        check_fulltext(self.feeds, settings)
        self.storage = storage or open_storage(settings.database)
        self.storage.sync_feeds(f.url for f in self.feeds)
        self.leased = settings.database.startswith(("postgresql://", "postgres://"))
        if self.leased:
            self.metrics.refresh = lambda: self.metrics.set_instances(
                self.storage.instances(self.clock())
            )
        if settings.subscriptions:
            # What must happen at start: alerts of a new subscription start now (not at its
            # first delivery), and a missing template folder stops the start. The deliverer
            # itself (Jinja2, channels) is built at the first delivery, after the first poll.
            check_template_dir(settings.template_dir())
            self.storage.register_subscriptions([s.name for s in settings.subscriptions], clock())
        self._deliverer: Deliverer | None = None
        self._deliverer_lock = threading.Lock()
        self.parser = make_parser(settings.parse_workers)
        self.storage_failures: dict[str, str] = {}
        """Feed URL (or "prune") -> the error of its last write, while the last one failed."""
        self._fetcher: Fetcher | None = None
        self._host_slots: PgHostSlots | None = None
        self._fulltext: FullTextFetcher | None = None
        self._pipeline: Pipeline | None = None
        self.stories: StoryTracker | None = None
        if settings.stories.enabled:
            from monitor.stories import Settings as StoryWindowSettings

            self.stories = StoryTracker(
                self.storage,
                StoryWindowSettings(span=settings.stories.span, join=settings.stories.join),
            )

    async def __aenter__(self) -> Service:
        # Several instances on one PostgreSQL: the per-host limit is the database's, not each
        # process's (``monitor.store.host_slots``).
        self._host_slots = self.storage.host_slots(self.settings.fetch.per_host)
        self._fetcher = Fetcher(fetch_limits(self.settings), host_slots=self._host_slots)
        await self._fetcher.__aenter__()
        if any(f.fulltext for f in self.feeds):
            self._fulltext = FullTextFetcher(self._fetcher)
        self._pipeline = Pipeline(
            self.storage,
            self._fetcher,
            self.rules,
            clock=self.clock,
            rng=self.rng,
            parser=self.parser,
            engine=self.settings.parser,
            max_active=2 * self.settings.fetch.concurrency,
            stories=self.stories,
            fulltext=self._fulltext,
            embedder=self.rules,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fulltext is not None:
            self._fulltext.close()
            self._fulltext = None
        if self._fetcher is not None:
            await self._fetcher.__aexit__(exc_type, exc, tb)
        if self._host_slots is not None:
            await self._host_slots.aclose()
            self._host_slots = None
        if isinstance(self.parser, ProcessParser):
            self.parser.close()
        self.storage.close()

    def close(self) -> None:
        """For commands that never polled (no ``async with``): release the store and workers."""
        if isinstance(self.parser, ProcessParser):
            self.parser.close()
        self.storage.close()

    @property
    def deliverer(self) -> Deliverer:
        """Built on first use (thread-safe): start-up does not import the rendering stack."""
        with self._deliverer_lock:
            if self._deliverer is None:
                from monitor.delivery.deliver import Deliverer

                self._deliverer = Deliverer(
                    self.settings,
                    self.storage,
                    clock=self.clock,
                    rule_titles=self.rules.titles,
                    catalog=self.rules.catalog,
                    rng=self.rng,
                    on_result=self._delivery_result,
                )
            return self._deliverer

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise RuntimeError("use `async with Service(...)` before polling")
        return self._pipeline

    def due_feeds(self, now: datetime) -> list[Feed]:
        states = self.storage.feed_states()
        due = []
        for feed in self.feeds:
            state = states.get(feed.url)
            if state is None or state.next_poll is None or state.next_poll <= now:
                due.append(feed)
        return due

    async def poll(
        self,
        feed: Feed,
        *,
        parser: FeedParser | None = None,
        lease: str | None = None,
        state: FeedState | None = None,
        batch: StateBatch | None = None,
    ) -> PollReport:
        """``parser``: instead of the configured one (the daemon parses inline at first).
        ``lease``: the instance holding the feed's lease (completed by the poll's write).
        ``state``: the feed's stored state, if the caller knows it (else it is read).
        ``batch``: where a 304's state waits to be written (``Pipeline.write_states``)."""
        report = await self.pipeline.poll(
            feed, parser=parser, lease=lease, state=state, batch=batch
        )
        self.record(report)
        return report

    async def cycle(self, feeds: Sequence[Feed] | None = None) -> CycleReport:
        """Poll ``feeds`` (default: those due now) concurrently, then prune old entries."""
        started = time.perf_counter()
        todo = list(feeds) if feeds is not None else self.due_feeds(self.clock())
        polls = await self.pipeline.poll_many(todo)
        for poll in polls:
            self.record(poll)
        try:
            self.prune()
        except StorageError as exc:
            # Retried at the next cycle; the polls are stored and the deliveries still go out.
            self.storage_failures["prune"] = str(exc)
            event(log, "prune.failed", level=logging.ERROR, error=str(exc))
        else:
            self.storage_failures.pop("prune", None)
        report = CycleReport(polls, time.perf_counter() - started)
        self.metrics.cycle_seconds.observe(report.seconds)
        event(
            log,
            "cycle",
            feeds=len(todo),
            ok=report.count("ok"),
            not_modified=report.count("not_modified") + report.count("unchanged"),
            errors=report.count("error"),
            storage_errors=sum(1 for p in polls if p.storage_failed) or None,
            dropped=sum(p.dropped for p in polls) or None,
            new=report.new,
            changed=report.changed,
            matches=report.matches,
            seconds=report.seconds,
        )
        return report

    def record(self, report: PollReport) -> None:
        m = self.metrics
        m.polls.labels(report.status).inc()
        if report.storage_failed:
            self.storage_failures[report.feed] = report.error or "storage failed"
        else:
            self.storage_failures.pop(report.feed, None)
        m.storage_failed.set(len(self.storage_failures))
        if report.status == "error":
            m.poll_errors.labels(report.feed).inc()
        else:
            m.last_success.labels(report.feed).set(self.clock().timestamp())
        m.entries.labels("new").inc(report.new)
        m.entries.labels("changed").inc(report.changed)
        m.matches.inc(report.matches)
        if report.fulltext_ok or report.fulltext_failed:
            m.fulltext.labels("ok").inc(report.fulltext_ok)
            m.fulltext.labels("failed").inc(report.fulltext_failed)

    def prune(self) -> int:
        now = self.clock()
        removed = self.storage.prune(now - self.settings.retention, now)
        deliveries = self.storage.prune_deliveries(now - self.settings.retention)
        pages = self.storage.prune_fulltexts(now - self.settings.retention)
        if removed:
            self.storage.prune_stories()
        forgotten = self.storage.forget_tombstones(now - self.settings.tombstone_horizon)
        if removed or deliveries or forgotten or pages:
            event(
                log,
                "prune",
                removed=removed,
                deliveries=deliveries or None,
                fulltext=pages or None,
                tombstones=forgotten or None,
                retention=str(self.settings.retention),
            )
        return removed

    def _delivery_result(self, delivery: Delivery, outcome: str) -> None:
        self.metrics.deliveries.labels(delivery.channel, outcome).inc()

    def health(self) -> dict[str, Any]:
        """For /healthz (503 unless ``ok``). Not ok while a delivery is in state failed (an
        alert or digest someone waits for did not arrive: ``monitor deliveries --failed``) or
        the last write of some feed's poll failed, or the database cannot be read. A feed that
        fails to fetch or parse is counted in ``feeds_failing`` but does not make it not ok:
        feeds break all the time, and that is the feed's problem, not the monitor's."""
        now = self.clock()
        body: dict[str, Any] = {
            "ok": True,
            "time": now.isoformat(),
            "feeds": len(self.feeds),
            "rules": len(self.rules.rule_ids),
        }
        try:
            states = self.storage.feed_states()
            counts = self.storage.delivery_counts()
        except StorageError as exc:
            return {**body, "ok": False, "storage_error": str(exc)}
        failing = [
            url for url in (f.url for f in self.feeds) if (s := states.get(url)) and s.error_count
        ]
        self.metrics.deliveries_failed.set(counts[DeliveryState.FAILED])
        self.metrics.deliveries_pending.set(
            counts[DeliveryState.PENDING] + counts[DeliveryState.SENDING]
        )
        if self.leased:
            try:
                instances = self.storage.instances(now)
            except StorageError as exc:
                return {**body, "ok": False, "storage_error": str(exc)}
            self.metrics.set_instances(instances)
            body["instances"] = [instance_json(i) for i in instances]
        storage_failures = dict(self.storage_failures)
        self.metrics.storage_failed.set(len(storage_failures))
        problems = []
        if counts[DeliveryState.FAILED]:
            problems.append(f"{counts[DeliveryState.FAILED]} deliveries failed")
        if storage_failures:
            problems.append(f"storing failed for {len(storage_failures)} feeds or jobs")
        return {
            **body,
            "ok": not problems,
            "problems": problems,
            "feeds_failing": len(failing),
            "storage_failed": sorted(storage_failures),
            "deliveries_pending": counts[DeliveryState.PENDING] + counts[DeliveryState.SENDING],
            "deliveries_failed": counts[DeliveryState.FAILED],
        }


def instance_json(i: InstanceRecord) -> dict[str, Any]:
    """One instance for /healthz and ``monitor status --format json``."""
    return {
        "id": i.id,
        "host": i.host,
        "pid": i.pid,
        "role": i.role,
        "started": i.started.isoformat(),
        "heartbeat": i.heartbeat.isoformat(),
        "leases": i.leases,
    }


def check_channel_folders(settings: Settings) -> None:
    """Every file channel's folder takes files (checked at start, not at the first send)."""
    # Here, not in notify.file: that module loads the email and rendering stack.
    from monitor.config.channels import FileChannelSettings

    for name, channel in settings.channels.items():
        if isinstance(channel, FileChannelSettings):
            _check_folder(
                name,
                channel,
                file=str(settings.source) if settings.source else None,
                line=settings.line_of("channels", name, "path"),
            )


def _check_folder(
    name: str, settings: FileChannelSettings, *, file: str | None = None, line: int | None = None
) -> None:
    """At start: the channel's folder exists (or is created) and takes a file, else a
    ``ConfigError`` naming the channel and the folder, instead of failing at the first send."""
    folder = settings.path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".monitor-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"channel {name!r}: cannot write to the folder {folder.absolute()}: "
            f"{exc.strerror or exc}",
            file=file,
            line=line,
            key=f"channels.{name}.path",
            hint="create the folder and make it writable for the user running the monitor, "
            "or change `path:` (a relative path is taken from the working directory)",
        ) from None


def check_fulltext(feeds: Sequence[Feed], settings: Settings) -> None:
    """A ``fulltext: true`` feed needs the extractor (the optional extra ``fulltext``)."""
    wanting = [f for f in feeds if f.fulltext]
    if not wanting:
        return
    import importlib.util

    if importlib.util.find_spec("trafilatura") is None:
        raise ConfigError(
            f"{len(wanting)} feed(s) have fulltext: true (first: {wanting[0].label}), but the "
            "extractor trafilatura is not installed",
            file=str(settings.source) if settings.source else None,
            key="fulltext",
            hint="pip install 'raw-materials-monitor[fulltext]', or set fulltext: false",
        )


def check_subscription_rules(settings: Settings, rule_ids: Sequence[str]) -> None:
    """Every rule id a subscription names exists (once the rules are loaded)."""
    known = set(rule_ids)
    for n, sub in enumerate(settings.subscriptions):
        if sub.rules == "*":
            continue
        for i, rule_id in enumerate(sub.rules):
            if rule_id in known:
                continue
            close = _closest(rule_id, known)
            hint = f"did you mean {close!r}? " if close else ""
            hint += "rule ids: " + (", ".join(sorted(known)) or "none (no rule is enabled)")
            raise ConfigError(
                f"subscription {sub.name!r} names rule {rule_id!r}, which no rule file defines",
                file=str(settings.source) if settings.source else None,
                line=settings.line_of("subscriptions", n, "rules", i),
                key=f"subscriptions[{n}].rules[{i}]",
                hint=hint,
            )


class RuleBook:
    """The compiled rules, recompiled when their files change; a bad edit keeps the old ones."""

    def __init__(
        self,
        paths: Sequence[Any],
        check: Callable[[Sequence[str]], None] | None = None,
        *,
        semantic: bool = True,
        model: str = "use-v3",
        background: bool = False,
    ) -> None:
        """``check`` vets the rule ids of a new rule set (subscriptions must still find theirs);
        a ``MonitorError`` from it rejects the reload like an invalid rule file does.

        ``semantic``: use the rules' ``semantic:`` blocks (with the extra installed), embedding
        each new entry once with ``model``; False: their words only. ``background`` (the daemon):
        the model loads in a thread (logged: ``semantic.loading``), so a start (health, web
        view, signals, deliveries) is not held up by it; a poll with new entries waits for it
        (``model_ready``) before matching them, so no entry is judged by the words only
        because it came while the model was loading."""
        from monitor.embed.layer import semantic_matcher
        from monitor.matching.loader import load_rules

        self._load = load_rules
        self._check = check
        self._semantic = semantic
        self._model = model
        self._background = background
        self._notice: str | None = None
        self.layer: SemanticLayer | None = None
        self.paths = list(paths)
        self.ruleset = load_rules(self.paths)  # invalid rules at start: refuse to start
        self._setup = semantic_matcher
        self._lock = threading.Lock()
        self._uses_vectors = False
        self.loading: threading.Thread | None = None
        if background and semantic and self.ruleset.semantic_rules:
            self.matcher: EntryMatcher = semantic_matcher(self.ruleset, enabled=False).matcher
            event(log, "semantic.loading", model=model, rules=len(self.ruleset.semantic_rules))
            self.loading = threading.Thread(
                target=self._load_layer, name="semantic-load", daemon=True
            )
            self.loading.start()
        else:
            self.matcher = self._compile(self.ruleset)
        event(
            log,
            "rules.loaded",
            rules=len(self.ruleset.rules),
            files=len(self.ruleset.sources),
            packs=describe_rule_paths(self.paths),
        )

    @property
    def rule_ids(self) -> list[str]:
        return [r.id for r in self.ruleset.rules]

    def titles(self) -> dict[str, str]:
        return {r.id: r.title for r in self.ruleset.rules}

    def catalog(self) -> RuleCatalog:
        return self.ruleset.catalog()

    def _compile(self, ruleset: RuleSet) -> EntryMatcher:
        """Compile with the semantic layer when it is on; its notice is logged once (not per
        entry, not again at a reload that changes nothing about it)."""
        setup = self._setup(ruleset, enabled=self._semantic, model=self._model, layer=self.layer)
        if setup.notice is not None and setup.notice != self._notice:
            # Said where it matters: at a daemon's start (and a reload that changes it) and by
            # `monitor rules check`; not on every `monitor once` of a cron job (debug there).
            level = logging.WARNING if self._background else logging.DEBUG
            event(log, "semantic.off", level=level, notice=setup.notice)
        self._notice = setup.notice
        self.layer = setup.layer
        if setup.matcher.uses_vectors:
            event(
                log,
                "semantic.on",
                model=setup.layer.model if setup.layer else None,
                rules=len(ruleset.semantic_rules),
            )
        self._uses_vectors = setup.matcher.uses_vectors
        return setup.matcher

    def _load_layer(self) -> None:
        try:
            with self._lock:
                self.matcher = self._compile(self.ruleset)
        except Exception as exc:  # the model's library, not ours: the words keep matching
            event(
                log,
                "semantic.failed",
                level=logging.ERROR,
                error=f"{type(exc).__name__}: {exc}",
                hint="the rules match by their words only; --no-semantic silences this",
            )

    def match(self, entry: Entry, vector: Vector | None = None) -> list[Match]:
        return self.matcher.match(entry, vector)

    # --- the semantic layer, for the pipeline (``EntryEmbedder``) -----------------------------
    async def model_ready(self) -> None:
        """Return once the background load (if any) has ended, without blocking the loop (a
        thread each for many waiting polls would take the executor's few workers)."""
        loading = self.loading
        while loading is not None and loading.is_alive():
            await asyncio.sleep(MODEL_WAIT_STEP)

    def wants_vectors(self) -> bool:
        return self._uses_vectors and self.layer is not None

    def embed_entries(self, entries: Sequence[Entry]) -> list[Vector]:
        assert self.layer is not None
        return self.layer.vectors(entries)

    def save_vectors(
        self, storage: Storage, entries: Sequence[Entry], vectors: Sequence[Vector], now: datetime
    ) -> int:
        assert self.layer is not None
        return self.layer.save(storage, entries, vectors, now)

    def reload_if_changed(self, *, force: bool = False) -> bool:
        if not force and not self.ruleset.changed():
            return False
        try:
            ruleset = self._load(self.paths)
            if self._check is not None:
                self._check([r.id for r in ruleset.rules])
            with self._lock:
                matcher = self._compile(ruleset)
        except MonitorError as exc:
            event(log, "rules.reload_failed", level=logging.ERROR, error=str(exc))
            # Remember the failed files' mtimes so the error is logged once per edit.
            self.ruleset.mark_seen()
            return False
        self.ruleset, self.matcher = ruleset, matcher
        event(log, "rules.reloaded", rules=len(ruleset.rules))
        return True


def _closest(name: str, known: set[str]) -> str | None:
    """The known id most like ``name``, also by its parts ("galium" -> "gallium-germanium")."""

    def likeness(candidate: str) -> float:
        parts = [candidate, *candidate.split("-")]
        return max(difflib.SequenceMatcher(None, name, p).ratio() for p in parts)

    best = max(sorted(known), key=likeness, default=None)
    return best if best is not None and likeness(best) >= 0.75 else None
