"""Alert messages per story, before (a baseline revision, default ``main``) and after (this
checkout), on the same re-dated input: the offline example's feeds and 32 real corpus feeds.

    .venv/bin/python bench/bench_story_alerts.py [--baseline REV] [--shared ../shared]

Both revisions run ``monitor once`` as a real process over the same bytes (dates moved into the
last 40 hours, one original moment one new moment, so that alerts fire and stories line up) with
the same subscriptions: the example's ``eilmeldungen`` (``rules: "*"``: the ``priority: alert``
rules) and ``analyst`` (six named rules of both priorities), to the file channel. Messages per
story are read from each store: a message carries a story when one of its items is a member.
The baseline is ``git archive REV`` unpacked into a temporary folder, first on PYTHONPATH.
Wall time and CPU (user + system of the ``monitor`` process and its children, from ``wait4``)
are printed beside each other, the least of ``--repeat`` runs (alternating revisions); ratios
are after / before in the same run. The message counts are those of each revision's first run.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.story_feeds import CORPUS_FEEDS, alert_messages, redate  # noqa: E402
from tests.test_story_alerts_corpus import SUBSCRIPTIONS  # noqa: E402

ONE_BY_ONE = "\nfetch: {concurrency: 1}\nparse_workers: 0\n"
"""Feeds polled one after the other, parsed in the process: the stories come out the same in
every run (with concurrent polls their assignment follows the order the polls finish in)."""


def checkout(rev: str, into: Path) -> Path:
    data = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def inputs(shared: Path, into: Path) -> dict[str, Path]:
    """The two cases as folders with feeds/ and monitor.yaml, re-dated once for both runs."""
    now = datetime.now(UTC)
    span = timedelta(hours=40)
    cases: dict[str, Path] = {}
    example = into / "example"
    shutil.copytree(REPO / "examples" / "feeds", example / "feeds")
    feeds = {p.name: p.read_bytes() for p in (example / "feeds").glob("*.xml")}
    for name, body in redate(feeds, now, span).items():
        (example / "feeds" / name).write_bytes(body)
    text = (REPO / "examples" / "monitor.yaml").read_text(encoding="utf-8")
    (example / "monitor.yaml").write_text(
        text[: text.index("\nchannels:")] + ONE_BY_ONE + SUBSCRIPTIONS, encoding="utf-8"
    )
    cases["offline example (5 feeds)"] = example
    corpus = into / "corpus"
    (corpus / "feeds").mkdir(parents=True)
    real = {n: (shared / "corpus" / "feeds" / n).read_bytes() for n in CORPUS_FEEDS}
    for name, body in redate(real, now, span).items():
        (corpus / "feeds" / name).write_bytes(body)
    listed = "\n".join(f"  - url: feeds/{n}" for n in CORPUS_FEEDS)
    (corpus / "monitor.yaml").write_text(
        f"database: sqlite:///monitor.db\nfeeds:\n{listed}\n" + ONE_BY_ONE + SUBSCRIPTIONS,
        encoding="utf-8",
    )
    cases[f"{len(CORPUS_FEEDS)} corpus feeds"] = corpus
    return cases


def run(case: Path, code: Path | None, work: Path) -> tuple[float, float, Path]:
    """``monitor once`` over a copy of ``case`` with the code at ``code`` (None: this checkout)."""
    shutil.copytree(case, work)
    env = {**os.environ, "NO_PROXY": "*", "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPATH"] = str(code or REPO)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(work / "monitor.yaml"), "once"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"monitor once failed in {work}:\n{err.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, work / "monitor.db"


def summary(db: Path) -> dict[str, tuple[int, int, int, int]]:
    """Per subscription: stories alerted, messages, most messages for one story, stories with
    more than one message."""
    out = {}
    for sub, stories in sorted(alert_messages(db).items()):
        counts = Counter({s: len(k) for s, k in stories.items()})
        messages = len({k for keys in stories.values() for k in keys})
        out[sub] = (
            len(stories),
            messages,
            max(counts.values()),
            sum(1 for c in counts.values() if c > 1),
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="main")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--repeat", type=int, default=2, help="runs per revision; times: the least")
    args = ap.parse_args()
    print(f"# {platform.node()} {platform.python_version()} load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-story-alerts-") as tmp:
        root = Path(tmp)
        base = checkout(args.baseline, root / "baseline")
        cases = inputs(args.shared, root / "in")
        for label, case in cases.items():
            print(f"\n## {label}")
            results: dict[str, tuple[float, float, dict[str, tuple[int, int, int, int]]]] = {}
            for n in range(args.repeat):
                for name, code in (("before", base), ("after", None)):
                    wall, cpu, db = run(case, code, root / f"{name}-{case.name}-{n}")
                    got = summary(db)
                    if name in results:  # the story sets agree run to run only roughly
                        wall = min(wall, results[name][0])
                        cpu = min(cpu, results[name][1])
                        got = results[name][2]
                    results[name] = (wall, cpu, got)
            print("| subscription | | stories alerted | messages | messages per story | "
                  "most for one story | stories sent more than once |")  # fmt: skip
            print("|---|---|---|---|---|---|---|")
            for sub in sorted(set(results["before"][2]) | set(results["after"][2])):
                for name in ("before", "after"):
                    s, m, most, more = results[name][2].get(sub, (0, 0, 0, 0))
                    per = m / s if s else 0.0
                    print(f"| {sub} | {name} | {s} | {m} | {per:.2f} | {most} | {more} |")
            (wb, cb, _), (wa, ca, _) = results["before"], results["after"]
            print(
                f"\n`once`: before {wb:.2f} s wall, {cb:.2f} s CPU; after {wa:.2f} s wall, "
                f"{ca:.2f} s CPU; ratio after/before {wa / wb:.2f}x wall, {ca / cb:.2f}x CPU"
            )


if __name__ == "__main__":
    main()
