"""Where parsing runs: inline, or in worker processes so that feedparser uses every core.

Each ``ParseJob`` names its engine (feedparser, or the optional feedparser-rs with feedparser
as its fallback) and the body limit, so a worker parses as the daemon's settings say.

Parsing is the costliest step of a poll (feedparser is pure Python); fetching and storing are
cheap by comparison. With ``parse_workers: N`` (N > 0) bodies are parsed in N worker processes.

Each worker is a plain ``python -c`` child with two pipes of its own (jobs in, results out),
not a ``multiprocessing`` pool, for three reasons:

- Isolation: the parent knows which worker holds which feed. A worker that dies (killed, out
  of memory) fails only that feed; it is replaced and the other feeds never notice. A pool
  breaks as a whole and fails every feed in flight.
- No orphans: the job pipe is the worker's lifeline. Only the parent holds its write end, so
  when the parent exits in any way, kill -9 included, the kernel closes it and a thread in the
  worker that waits on it sees end-of-file and ends the process, even in the middle of a parse.
  There is no fork server and no resource tracker to outlive the parent, and nothing depends on
  the supervisor (cron, a shell, ``timeout``) killing the process group. (PR_SET_PDEATHSIG
  would not do: it fires when the *thread* that started the child exits, and workers are
  started from short-lived threads.)
- No fork of a process that has threads and an event loop, and no re-import of ``__main__``.

Every answer crosses the pipe pickled; an exception that cannot be pickled or unpickled turns
into that feed's ``ParseError``, never a broken pool. Workers start lazily on the first parse
request; until one is ready, bodies are parsed inline, so start-up (~0.35 s) costs no latency.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from monitor.config.units import DEFAULT_MAX_BODY
from monitor.errors import ParseError
from monitor.ingest.parse import Engine, ParsedFeed, parse_feed
from monitor.logs import event

log = logging.getLogger("monitor.workers")

_READY = b"ready"
_START_TIMEOUT = 60.0
"""Seconds a new worker may take to import the parser (a loaded machine, a cold disk)."""
_EXIT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class ParseJob:
    """One body to parse, with what ``parse_feed`` needs besides it (picklable)."""

    content: bytes
    feed_url: str
    base_url: str | None
    headers: Mapping[str, str] | None
    now: datetime
    feed_language: str | None
    engine: Engine = "feedparser"
    max_body: int = DEFAULT_MAX_BODY
    """fetch.max_body: the same limit as the fetcher's."""

    def run(self) -> ParsedFeed:
        return parse_feed(
            self.content,
            feed_url=self.feed_url,
            base_url=self.base_url,
            headers=self.headers,
            now=self.now,
            feed_language=self.feed_language,
            engine=self.engine,
            max_body=self.max_body,
        )


class FeedParser(Protocol):
    async def parse(self, job: ParseJob) -> ParsedFeed: ...


class InlineParser:
    """Parses in the calling thread: no start-up cost, one core."""

    async def parse(self, job: ParseJob) -> ParsedFeed:
        return job.run()


@dataclass
class ParserStats:
    """What the pool did since it was made (for tests, logs and benchmarks)."""

    in_workers: int = 0
    inline: int = 0
    """Parsed in the caller while no worker was ready yet (or workers could not start)."""
    deaths: int = 0
    """Workers that died while holding a feed."""
    started: int = 0
    """Worker processes started, replacements included."""
    pids: set[int] = field(default_factory=set)
    """Every worker process id ever started."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str, *, pid: int | None = None) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)
            if pid is not None:
                self.pids.add(pid)


class WorkerDied(Exception):
    """The worker process ended; ``holding`` says whether it had the job."""

    def __init__(self, message: str, holding: bool = False) -> None:
        super().__init__(message)
        self.holding = holding


class _Worker:
    """One worker process and the parent's ends of its two pipes."""

    def __init__(self) -> None:
        job_r, job_w = os.pipe()
        result_r, result_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(job_r), str(result_w)],
                pass_fds=(job_r, result_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout may be a command's JSON output
                env=_child_env(),
            )
        except BaseException:
            for fd in (job_r, job_w, result_r, result_w):
                os.close(fd)
            raise
        os.close(job_r)
        os.close(result_w)
        self.jobs = Connection(job_w, readable=False)
        self.results = Connection(result_r, writable=False)
        # stop() may come from another thread (close, a failed boot) while a thread reads the
        # results: each pipe end is closed exactly once, the results end by its reader if busy.
        self._lock = threading.Lock()
        self._stopped = False
        self._reading = False

    @contextmanager
    def _reader(self) -> Iterator[None]:
        with self._lock:
            if self._stopped:
                raise WorkerDied("was stopped", holding=False)
            self._reading = True
        try:
            yield
        finally:
            with self._lock:
                self._reading = False
                close = self._stopped
            if close:
                self.results.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = _START_TIMEOUT) -> None:
        with self._reader():
            self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        if not self.results.poll(timeout):
            raise WorkerDied(f"did not start within {timeout:g} s", holding=False)
        try:
            hello = self.results.recv_bytes()
        except (EOFError, OSError):
            raise WorkerDied(f"exited at start ({self._exit_status()})", holding=False) from None
        if hello != _READY:
            raise WorkerDied(f"said {hello[:40]!r} instead of ready", holding=False)

    def call(self, job: ParseJob) -> tuple[str, Any]:
        """Send ``job``, wait for the answer: ("ok", ParsedFeed) or ("error", exception)."""
        with self._reader():
            return self._call(job)

    def _call(self, job: ParseJob) -> tuple[str, Any]:
        data = pickle.dumps(job, pickle.HIGHEST_PROTOCOL)
        try:
            with self._lock:  # never while stop() closes the pipe (its number could be reused)
                if self._stopped:
                    raise WorkerDied("was stopped", holding=False)
                self.jobs.send_bytes(data)
        except OSError:
            raise WorkerDied(f"was gone ({self._exit_status()})", holding=False) from None
        try:
            answer = self.results.recv_bytes()
        except (EOFError, OSError):
            raise WorkerDied(self._exit_status(), holding=True) from None
        try:
            kind, value = pickle.loads(answer)
        except Exception as exc:
            message = f"the parser's answer could not be read ({type(exc).__name__}: {exc})"
            return "error", ParseError(job.feed_url, message + "; please report this bug")
        return kind, value

    def _exit_status(self) -> str:
        try:
            code = self.proc.wait(_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def stop(self) -> None:
        """Close the lifeline (the worker exits at once, even mid-parse) and reap it. Safe to
        call twice and from any thread."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            reading = self._reading
        self.jobs.close()
        try:
            self.proc.wait(_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if not reading:
            self.results.close()


class ProcessParser:
    """Parses in worker processes, started at the first request; call ``close`` when done."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("ProcessParser needs at least one worker")
        self.workers = workers
        self.stats = ParserStats()
        self._pool: _Pool | None = None
        self._unusable: str | None = None
        """Why workers cannot start here; then every body is parsed inline."""

    @property
    def started(self) -> bool:
        return self._pool is not None

    @property
    def unavailable(self) -> str | None:
        """Why workers cannot start here (then bodies parse inline); None while they can."""
        return self._unusable

    def start(self, *, wait: bool = False) -> None:
        """Start the workers (``parse`` does it on demand); ``wait``: until all are ready."""
        if self._pool is None:
            self._pool = _Pool(self)
        if wait:
            self._pool.wait_ready()

    def pids(self) -> list[int]:
        """Process ids of the workers running now."""
        return self._pool.pids() if self._pool is not None else []

    def busy(self) -> dict[str, int]:
        """Feed URL -> process id of the worker parsing it now."""
        return self._pool.busy() if self._pool is not None else {}

    async def parse(self, job: ParseJob) -> ParsedFeed:
        if self._unusable is None:
            self.start()
        pool = self._pool
        if pool is None or not pool.ready:
            # Workers are starting (or cannot start): parse here rather than wait for them.
            self.stats.count("inline")
            return job.run()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool.threads, pool.parse, job)

    def give_up(self, why: str) -> None:
        if self._unusable is None:
            self._unusable = why
            event(log, "parse.workers_unavailable", level=logging.ERROR, error=why, inline=True)

    def close(self) -> None:
        """Stop the workers; a later ``parse`` starts new ones."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


class _Pool:
    """One generation of workers, and a thread per worker that talks to it."""

    def __init__(self, owner: ProcessParser) -> None:
        self.owner = owner
        self.stats = owner.stats
        self.closed = False
        self._lock = threading.Lock()
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._alive: set[_Worker] = set()
        self._ready = 0
        self._busy: dict[str, int] = {}
        self.threads = ThreadPoolExecutor(owner.workers, thread_name_prefix="parse")
        self._boots = [self.threads.submit(self._boot) for _ in range(owner.workers)]

    @property
    def ready(self) -> bool:
        return self._ready > 0

    def wait_ready(self) -> None:
        for boot in self._boots:
            boot.result()

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(w.pid for w in self._alive)

    def busy(self) -> dict[str, int]:
        with self._lock:
            return dict(self._busy)

    def _boot(self) -> bool:
        """Start one worker and put it in the idle queue; False when workers cannot start."""
        if self.closed:
            return False
        try:
            worker = _Worker()
        except OSError as exc:
            self.owner.give_up(f"{type(exc).__name__}: {exc}")
            return False
        with self._lock:
            self._alive.add(worker)
        self.stats.count("started", pid=worker.pid)
        try:
            worker.wait_ready()
        except WorkerDied as exc:
            self._retire(worker)
            if not self.closed:
                self.owner.give_up(f"a parse worker {exc}")
            return False
        with self._lock:
            if self.closed:
                worker.stop()
                return False
            self._ready += 1
        self._idle.put(worker)
        return True

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            self._alive.discard(worker)
        worker.stop()

    def _done(self, feed_url: str) -> None:
        with self._lock:
            self._busy.pop(feed_url, None)

    def _take(self) -> _Worker | None:
        """An idle worker; None once no worker will come (closed, or none can start)."""
        while True:
            try:
                return self._idle.get(timeout=0.5)
            except queue.Empty:
                if self.closed or self.owner._unusable is not None:
                    return None

    def parse(self, job: ParseJob) -> ParsedFeed:
        # As many threads as workers, each holding at most one worker: _take never waits long.
        worker = self._take()
        if worker is None:
            self.stats.count("inline")
            return job.run()
        with self._lock:
            self._busy[job.feed_url] = worker.pid
        try:
            kind, value = worker.call(job)
        except WorkerDied as died:
            self._done(job.feed_url)
            return self._after_death(worker, died, job)
        except BaseException:
            self._done(job.feed_url)
            self._idle.put(worker)  # the job could not be sent; the worker is fine
            raise
        self._done(job.feed_url)
        self._idle.put(worker)
        self.stats.count("in_workers")
        if kind == "ok":
            assert isinstance(value, ParsedFeed)
            return value
        assert isinstance(value, BaseException)
        raise value

    def _after_death(self, worker: _Worker, died: WorkerDied, job: ParseJob) -> ParsedFeed:
        with self._lock:
            self._ready -= 1
        self._retire(worker)
        if self.closed:
            raise ParseError(job.feed_url, "parsing stopped: the monitor is shutting down")
        if not died.holding:
            # It died between two feeds: this feed is not to blame, so it gets a new worker.
            self._boot()
            return self.parse(job)
        self.stats.count("deaths")
        event(log, "parse.worker_died", level=logging.WARNING, feed=job.feed_url, how=died)
        self._boot()
        raise ParseError(
            job.feed_url, f"the parser process died on this feed ({died}); polled again later"
        )

    def close(self) -> None:
        with self._lock:
            self.closed = True
            workers, self._alive = list(self._alive), set()
        for worker in workers:
            worker.stop()  # a busy worker's caller sees it end and reports the shutdown
        self.threads.shutdown(wait=False, cancel_futures=True)


def make_parser(workers: int | None) -> InlineParser | ProcessParser:
    """``None``: one worker per core (at most 4) on a machine with several cores; 0: inline."""
    if workers is None:
        cores = os.cpu_count() or 1
        workers = min(cores, 4) if cores > 1 else 0
    return ProcessParser(workers) if workers > 0 else InlineParser()


# --- the worker process ------------------------------------------------------------------

_BOOT = f"import sys; from {__name__} import worker_main; worker_main(*map(int, sys.argv[1:]))"


def _child_env() -> dict[str, str]:
    """The parent's environment, with this package importable wherever the parent runs."""
    env = dict(os.environ)
    here = Path(__file__).resolve()
    root = next(str(p) for p in here.parents if not (p / "__init__.py").exists())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def worker_main(job_fd: int, result_fd: int) -> None:
    """A worker's life: answer jobs until the parent closes the job pipe (or dies)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    jobs = Connection(job_fd, writable=False)
    results = Connection(result_fd, readable=False)
    inbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    def lifeline() -> None:
        # Reading runs beside the parse, so the end of the pipe is seen at once.
        while True:
            try:
                inbox.put(jobs.recv_bytes())
            except (EOFError, OSError):
                os._exit(0)

    threading.Thread(target=lifeline, name="lifeline", daemon=True).start()
    results.send_bytes(_READY)
    while True:
        data = inbox.get()
        try:
            results.send_bytes(_answer(data))
        except OSError:
            os._exit(0)


def _answer(data: bytes) -> bytes:
    """One job's answer, pickled; whatever went wrong still makes a readable answer."""
    feed_url = "?"
    try:
        job = pickle.loads(data)
        feed_url = job.feed_url
        answer: tuple[str, Any] = ("ok", job.run())
    except Exception as exc:
        answer = ("error", exc)
    try:
        out = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        if answer[0] == "error":
            pickle.loads(out)  # an exception that pickles may still fail to unpickle
        return out
    except Exception as exc:
        what = answer[1] if answer[0] == "error" else exc
        message = f"unexpected {type(what).__name__}: {what}; please report this bug"
        return pickle.dumps(("error", ParseError(feed_url, message)), pickle.HIGHEST_PROTOCOL)
