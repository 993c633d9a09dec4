"""Time from `monitor run` to the first poll, before/after in one run.

Starts real `monitor run` processes against a local feed server and measures, per start:

- ``started``: until the daemon logs ``daemon.started`` (imports, settings, rules, store);
- ``request``: until the feed server sees the first request (the first poll began);
- ``stored``: until the first ``poll`` event with ``status=ok`` (fetched, parsed, stored);
- CPU of all the daemon's processes (itself, the forkserver, parse workers) until ``stored``
  (``cpu``) and until ``started`` (``cpu_started``);
- ``stop``: from the SIGTERM sent right after ``stored`` to the exit of the main process.

The baseline is another commit of this repository, exported with ``git archive`` into a temporary
folder and run with the same interpreter (``PYTHONPATH`` points at it), so both variants run
alternately on the same machine under the same load. ``--load N`` keeps N busy processes running
during the measurement (the "start-up under load" case).

    .venv/bin/python bench/bench_startup.py                     # baseline 16dc952 vs this tree
    .venv/bin/python bench/bench_startup.py --load 2 --runs 5
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedserver import FeedServer

REPO = Path(__file__).resolve().parents[1]
BASELINE = "16dc952"


def write_feeds(folder: Path, count: int, items: int = 20) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    now = format_datetime(datetime.now(UTC), usegmt=True)
    for n in range(count):
        entries = "".join(
            f"<item><title>Feed {n}: Lithium und Kobalt, Meldung {i}</title>"
            f"<link>https://example.org/{n}/{i}</link><guid>f{n}-{i}</guid>"
            f"<pubDate>{now}</pubDate><description>Seltene Erden, Gallium, Germanium und "
            f"Exportkontrollen, Nummer {i}.</description></item>"
            for i in range(items)
        )
        (folder / f"feed{n}.xml").write_text(
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {n}</title><link>https://example.org/{n}</link>{entries}"
            f"</channel></rss>",
            encoding="utf-8",
        )


def write_config(folder: Path, server_url: str, feeds: int) -> Path:
    cfg = folder / "monitor.yaml"
    urls = "\n".join(f"  - {server_url}/feed{n}.xml" for n in range(feeds))
    cfg.write_text(
        f"""
database: sqlite:///{folder / "m.db"}
defaults: {{interval: 1h}}
feeds:
{urls}
channels:
  files: {{type: file, path: {folder / "out"}}}
subscriptions:
  - {{name: eil, channel: files, mode: alert}}
  - {{name: morgen, channel: files, mode: digest, schedule: "0 7 * * *"}}
""",
        encoding="utf-8",
    )
    return cfg


@dataclass
class Start:
    started: float = float("nan")
    request: float = float("nan")
    stored: float = float("nan")
    cpu: float = float("nan")
    cpu_started: float = float("nan")
    stop: float = float("nan")
    """SIGTERM to exit of the main process."""
    lines: list[str] = field(default_factory=list)


class TreeCpu:
    """CPU seconds of a process and all its descendants, sampled (the dead keep their last)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> float:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                t = p.cpu_times()
                self.seen[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        return sum(self.seen.values())

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def one_start(src: Path, server: FeedServer, feeds: int, work: Path) -> Start:
    work.mkdir(parents=True)
    cfg = write_config(work, server.url("").rstrip("/"), feeds)
    first_request: list[float] = []
    server.on_request = lambda: (
        first_request.append(time.monotonic()) if not first_request else None
    )
    env = {**os.environ, "PYTHONPATH": str(src), "NO_PROXY": "*"}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(cfg), "run"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    cpu = TreeCpu(proc.pid)
    result = Start()
    stored = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            result.lines.append(line)
            now = time.monotonic() - t0
            if "daemon.started" in line and result.started != result.started:
                result.started = now
                result.cpu_started = cpu.sample()
            if re.search(r"\bpoll\b.*status=ok", line) and not stored.is_set():
                result.stored = now
                result.cpu = cpu.sample()
                stored.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not stored.wait(120):
            raise RuntimeError("no poll within 120 s:\n" + "".join(result.lines[-20:]))
    finally:
        # Wait for the whole tree (forkserver, workers) to be gone: a straggler of this start
        # must not eat the CPU of the next one.
        try:
            tree = [cpu.root, *cpu.root.children(recursive=True)]
        except psutil.Error:
            tree = []
        stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        result.stop = time.monotonic() - stop
        _gone, alive = psutil.wait_procs(tree, timeout=15)
        for p in alive:
            p.kill()
        cpu.stop()
        reader.join(5)
    result.request = first_request[0] - t0 if first_request else float("nan")
    return result


def export(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def burn() -> None:  # pragma: no cover - runs in the load processes
    while True:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default=BASELINE, help="commit to compare with (git archive)")
    ap.add_argument("--runs", type=int, default=5, help="starts per variant (alternating)")
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--load", type=int, default=0, help="busy processes during the runs")
    ap.add_argument(
        "--no-pyc",
        action="store_true",
        help="do not byte-compile the two trees first (every start then compiles its modules)",
    )
    args = ap.parse_args()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        root = Path(tmp)
        write_feeds(root / "feeds", args.feeds)
        server = FeedServer(root / "feeds").__enter__()
        variants = {
            f"baseline {args.baseline}": export(args.baseline, root / "baseline"),
            "this tree": REPO,
        }
        if not args.no_pyc:  # as an installed package has them
            for src in variants.values():
                subprocess.run(
                    [sys.executable, "-m", "compileall", "-q", str(src / "monitor")], check=True
                )
        load = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)
        ]
        results: dict[str, list[Start]] = {name: [] for name in variants}
        try:
            for run in range(args.runs):
                for name, src in variants.items():
                    work = root / "runs" / f"{run}-{name.split()[0]}"
                    results[name].append(one_start(src, server, args.feeds, work))
        finally:
            for p in load:
                p.kill()
                p.wait()
            server.__exit__()

    print(
        f"machine: {os.cpu_count()} cores, load average before: "
        f"{' '.join(f'{x:.2f}' for x in load_before)}, after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, busy processes added: {args.load}"
    )
    pyc = "without .pyc files" if args.no_pyc else "byte-compiled"
    print(f"{args.feeds} feeds, {args.runs} starts per variant ({pyc}), medians (min-max):")
    medians: dict[str, dict[str, float]] = {}
    for name, starts in results.items():
        row: dict[str, float] = {}
        parts = []
        for key in ("started", "cpu_started", "request", "stored", "cpu", "stop"):
            values = [getattr(s, key) for s in starts]
            row[key] = statistics.median(values)
            unit = "s CPU" if key.startswith("cpu") else "s"
            parts.append(f"{key} {row[key]:.2f}{unit} ({min(values):.2f}-{max(values):.2f})")
        medians[name] = row
        print(f"  {name:<18} " + ", ".join(parts))
    base, ours = medians.values()
    print(
        "  ratio this/baseline: " + ", ".join(f"{key} {ours[key] / base[key]:.2f}x" for key in base)
    )


if __name__ == "__main__":
    main()
