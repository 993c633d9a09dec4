"""`monitor once` as cron runs it, over 300 / 1,500 / 5,000 generated feeds: peak RSS, wall and
CPU of the real process, for this checkout and for a baseline revision in the same run; and
PostgreSQL against SQLite on the same cycle (first poll, then an all-304 re-poll).

    .venv/bin/python bench/bench_once.py [--feeds 300,1500,5000] [--baseline REV]
        [--parser feedparser-rs] [--postgres URL | --no-postgres] [--pg-feeds 2000]

The feeds are bench/gen_feeds.py's 500 files, each served many times under its own URL
(``?copy=i``) by bench/feedserver.py in a child process on 127.0.0.1. The baseline is
``git archive REV`` unpacked into a temporary folder and put first on PYTHONPATH (default: the
merge base with ``main``). Peak RSS and CPU come from ``wait4`` on the ``monitor`` process: the
largest RSS of it and its parse workers; CPU summed over them. PostgreSQL's server CPU is the
change in CPU of every ``postgres`` process over the run (other clients of the server add to it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_ingest import ServerProcess, feed_files  # noqa: E402


def write_config(path: Path, urls: list[str], database: str, parser: str | None) -> None:
    lines = [f"database: {database}"]
    if parser:
        lines.append(f"parser: {parser}")
    lines += ["feeds:", *(f"  - {u}" for u in urls)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def postgres_cpu() -> float:
    """CPU seconds of every ``postgres`` process on this machine, those of backends that ended
    included (the postmaster's reaped children), read from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            name, rest = text.split("(", 1)[1].rsplit(")", 1)
            if name.startswith("postgres"):
                fields = rest.split()
                # utime, stime, and of children reaped (the postmaster's: ended backends)
                total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


class BackendCPU:
    """CPU of the PostgreSQL backends serving one database (their process title names it),
    sampled every ``step`` seconds from /proc while a run lasts: unlike ``postgres_cpu``,
    other clients of the server (other databases) are not counted. A backend's last
    ``step`` before it exits is lost (a ``once`` process uses one or two connections)."""

    def __init__(self, database: str, step: float = 0.02) -> None:
        self.tag = f" {database} "
        self.step = step
        self.seen: dict[int, float] = {}
        self.before: dict[int, float] = {}
        """Backends already there at the start: only their CPU from then on counts."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for proc in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if not title.startswith("postgres: ") or self.tag not in title:
                    continue
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                self.seen[int(proc.name)] = (int(fields[11]) + int(fields[12])) / tick

    def _run(self) -> None:
        while not self._stop.wait(self.step):
            self._sample()

    def __enter__(self) -> BackendCPU:
        self._sample()
        self.before = dict(self.seen)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.seen.items())


def run_once(config: Path, src: Path | None, *args: str) -> dict[str, Any]:
    """One ``monitor once --all`` process; ``src``: a checkout to run instead of this one."""
    env = {**os.environ, "NO_PROXY": "*"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(config), "once", "--all", *args],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    first = out.splitlines()[0] if out else ""
    return {
        "rss_mb": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "wall": wall,
        "rc": proc.returncode,
        "summary": first,
        "lines": len(out.splitlines()),
    }


def baseline_tree(rev: str, into: Path) -> Path:
    blob = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "monitor", "templates", "rules"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", default="300,1500,5000")
    ap.add_argument("--baseline", default=None, help="git revision (default: merge base, main)")
    ap.add_argument("--parser", default="feedparser-rs", help="'' for the default engine")
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--pg-feeds", type=int, default=2000)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--pg-codes", default="before,after", help="which code the comparison runs")
    args = ap.parse_args()
    if not args.feeds_dir.exists():
        gen = [sys.executable, str(HERE / "gen_feeds.py"), str(args.feeds_dir)]
        subprocess.run(gen, check=True)
    files = feed_files(args.feeds_dir)
    rev = args.baseline or subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    load = os.getloadavg()
    print(f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"parser {args.parser or 'feedparser'}; baseline {rev[:10]}")  # fmt: skip

    with (
        tempfile.TemporaryDirectory(prefix="bench-once-") as tmp,
        ServerProcess(files[0].parent, validators=True) as server,
    ):
        work = Path(tmp)
        base_src = baseline_tree(rev, work / "baseline")

        def urls(n: int) -> list[str]:
            return [f"{server.base}{files[i % len(files)].name}?copy={i}" for i in range(n)]

        if not args.skip_rss:
            print("\npeak RSS of `monitor once --all` (SQLite, first poll), before -> after")
            print(f"{'feeds':>6}{'entries':>9}{'before MB':>11}{'after MB':>10}"
                  f"{'before wall/CPU s':>19}{'after wall/CPU s':>18}"
                  f"{'out lines':>11}")  # fmt: skip
            first: dict[str, float] = {}
            for n in [int(x) for x in args.feeds.split(",")]:
                row: dict[str, dict[str, Any]] = {}
                for label, src in (("before", base_src), ("after", None)):
                    folder = work / f"{label}-{n}"
                    folder.mkdir()
                    cfg = folder / "monitor.yaml"
                    write_config(cfg, urls(n), f"sqlite:///{folder / 'm.db'}", args.parser)
                    row[label] = run_once(cfg, src)
                b, a = row["before"], row["after"]
                entries = a["summary"].split(": ", 1)[-1].split(" new", 1)[0]
                print(f"{n:>6}{entries:>9}{b['rss_mb']:>11.0f}{a['rss_mb']:>10.0f}"
                      f"{b['wall']:>10.1f}/{b['cpu']:<8.1f}{a['wall']:>9.1f}/{a['cpu']:<8.1f}"
                      f"{a['lines']:>11}")  # fmt: skip
                for label in ("before", "after"):
                    first.setdefault(label, row[label]["rss_mb"])
                    row[label]["growth"] = row[label]["rss_mb"] - first[label]
                print(
                    f"{'':>6}{'':>9}{'+' + format(b['growth'], '.0f'):>11}"
                    f"{'+' + format(a['growth'], '.0f'):>10}   (growth from the first row)"
                )

        if args.no_postgres:
            return
        import psycopg

        print(f"\nthe same cycle (`once --all -q`) on both backends, {args.pg_feeds} feeds; "
              "ratio: wall against SQLite with the same code")  # fmt: skip
        print(
            "client CPU: the `monitor once` process; backend CPU: the PostgreSQL backends of "
            "its database; server CPU: every postgres process (other clients included); "
            "ratios against SQLite with the same code: wall, and client + backend CPU"
        )
        print(f"{'code':<8}{'backend':<12}{'poll':<16}{'wall s':>8}{'client CPU':>12}"
              f"{'backend':>10}{'server':>10}{'wall':>8}{'CPU':>8}")  # fmt: skip
        codes = (("before", base_src), ("after", None))
        for label, src in [c for c in codes if c[0] in args.pg_codes.split(",")]:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'CREATE SCHEMA "{schema}"')
            try:
                sep = "&" if "?" in args.postgres else "?"
                pg_url = f"{args.postgres}{sep}options=-csearch_path%3D{schema}"
                base: dict[str, float] = {}
                base_cpu: dict[str, float] = {}
                database = args.postgres.rsplit("/", 1)[1].split("?", 1)[0]
                for backend, url in (
                    ("sqlite", f"sqlite:///{work / f'cmp-{label}.db'}"),
                    ("postgresql", pg_url),
                ):
                    folder = work / f"cmp-{label}-{backend}"
                    folder.mkdir()
                    cfg = folder / "monitor.yaml"
                    write_config(cfg, urls(args.pg_feeds), url, args.parser)
                    for poll in ("first", "re-poll (304s)"):
                        srv = postgres_cpu() if backend == "postgresql" else 0.0
                        with BackendCPU(database) as backends:
                            r = run_once(cfg, src, "-q")
                        assert r["rc"] == 0, r
                        server_cpu = postgres_cpu() - srv if backend == "postgresql" else 0.0
                        mine = backends.seconds if backend == "postgresql" else 0.0
                        base.setdefault(poll, r["wall"])
                        cpu = r["cpu"] + mine
                        base_cpu.setdefault(poll, cpu)
                        print(f"{label:<8}{backend:<12}{poll:<16}{r['wall']:>8.2f}"
                              f"{r['cpu']:>12.2f}{mine:>10.2f}{server_cpu:>10.2f}"
                              f"{r['wall'] / base[poll]:>7.2f}x"
                              f"{cpu / base_cpu[poll]:>7.2f}x   load "
                              f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as admin:
                    admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
