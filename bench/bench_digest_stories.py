"""Digests by story against the wave-1 digest by hit, on the same input, in the same run.

Input: N (entry, rule) hits as the news gives them: each event is carried by 1-4 outlets (wire
copy), each entry matched by 1-4 rules (one headline about rare-earth export controls from China
matches `seltene-erden`, `rohstoff-exportkontrollen`, `china-rohstoffe`, `kritische-rohstoffe`).
"Before" renders the wave-1 shipped templates (taken from git at ``--before``, commit 0cc698f,
used as a user template folder: they list ``digest.groups``, one line per hit); "after" renders
today's shipped templates (one block per story, at most ``max_stories``). Reports per size: lines
a reader gets (entries shown) per story, HTML size, and render time (wall and CPU, median of
``--runs``).

    .venv/bin/python bench/bench_digest_stories.py [--hits 500 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.config.channels import SubscriptionSettings
from monitor.delivery.digest import build_digest
from monitor.delivery.render import Renderer
from monitor.model import Entry, Hit, Match, Priority, StoryMember, StoryRecord

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
RULES = ["seltene-erden", "rohstoff-exportkontrollen", "china-rohstoffe", "kritische-rohstoffe"]
OUTLETS = ["reuters.com", "ft.com", "handelsblatt.com", "dpa.de"]


def make_input(hits: int) -> tuple[list[tuple[Entry, Match]], dict[tuple[str, str], StoryRecord]]:
    pairs: list[tuple[Entry, Match]] = []
    stories: dict[tuple[str, str], StoryRecord] = {}
    event = 0
    while len(pairs) < hits:
        outlets = OUTLETS[: 1 + event % 4]
        rules = RULES[: 1 + (event * 7) % 4]
        members = []
        for k, outlet in enumerate(outlets):
            title = f"China beschränkt Export Seltener Erden, Meldung {event} ({outlet})"
            e = Entry(
                feed_url=f"https://{outlet}/feed",
                id=f"{event}-{k}",
                title=title,
                link=f"https://{outlet}/a/{event}",
                summary="Peking verschärft die Exportkontrollen für Seltene Erden und Gallium. "
                * 3,
                content="",
                published=NOW - timedelta(minutes=event * 7 + k),
                language="de",
            )
            t = title.index("Seltener Erden")
            hit = Hit("seltene-erden", "Seltene Erden", "title", t, t + 14, "Seltener Erden")
            for r in rules:
                pairs.append((e, Match(r, 60 + (event % 40), Priority.DIGEST, (hit,))))
            members.append(
                StoryMember(e.feed_url, e.id, e.title, e.link, e.published, "de", outlet, outlet)
            )
        members.sort(key=lambda m: m.published)
        record = StoryRecord(
            f"s{event}", members[0].published, members[-1].published, tuple(members)
        )
        for m in members:
            stories[(m.feed_url, m.entry_id)] = record
        event += 1
    return pairs[:hits], stories


def wave1_templates(commit: str, into: Path) -> Path:
    names = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "-r", "--name-only", commit, "templates/default"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in names:
        target = into / name.removeprefix("templates/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            subprocess.run(
                ["git", "-C", str(REPO), "show", f"{commit}:{name}"],
                capture_output=True,
                check=True,
            ).stdout
        )
    return into


def timed(fn, runs: int):  # type: ignore[no-untyped-def]
    walls, cpus, result = [], [], None
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hits", type=int, nargs="+", default=[500, 5000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", default="0cc698f")
    args = ap.parse_args()
    print(f"# {platform.node()} {platform.machine()} python {platform.python_version()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    sub = SubscriptionSettings(name="morgen", channel="c", mode="digest", schedule="0 7 * * *")
    with tempfile.TemporaryDirectory() as tmp:
        before = Renderer(user_dir=wave1_templates(args.before, Path(tmp)))
        after = Renderer()
        print(
            "hits  stories  entries | before: lines  per story  HTML KB  render ms (CPU) "
            "| after: lines  per story  HTML KB  render ms (CPU) | build ms"
        )
        for n in args.hits:
            pairs, stories = make_input(n)
            bw, bc, digest = timed(
                partial(build_digest, pairs, sub, NOW, stories=stories), args.runs
            )
            n_stories, n_entries = digest.story_count, digest.entry_count
            w0, c0, old = timed(partial(before.render_digest, digest), args.runs)
            w1, c1, new = timed(partial(after.render_digest, digest), args.runs)
            old_lines = old.html.count('class="entry"')
            new_lines = new.html.count('class="entry"')
            print(
                f"{n:5d}  {n_stories:7d}  {n_entries:7d} | "
                f"{old_lines:12d}  {old_lines / n_stories:9.2f}  {len(old.html) / 1024:7.1f}  "
                f"{w0 * 1000:6.0f} ({c0 * 1000:4.0f}) | "
                f"{new_lines:11d}  {new_lines / min(n_stories, sub.max_stories):9.2f}  "
                f"{len(new.html) / 1024:7.1f}  {w1 * 1000:6.0f} ({c1 * 1000:4.0f}) | "
                f"{bw * 1000:5.0f} ({bc * 1000:4.0f})"
            )
            kept = len(new.data["stories"])
            print(
                f"      ratio after/before: HTML {len(new.html) / len(old.html):.3f}, "
                f"render CPU {c1 / c0:.3f}; JSON keeps {kept} stories"
            )


if __name__ == "__main__":
    main()
