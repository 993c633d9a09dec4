"""The conversion layer's work per entry, for instruction counts that do not move with the load.

    .venv/bin/python bench/count_convert.py prepare /tmp/convert.pickle [FEEDS_DIR]
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/count_convert.py run /tmp/convert.pickle STAGE

``prepare`` parses the real corpus (FEEDS_DIR, default ``$MONITOR_SHARED/corpus/feeds``) with
both engines and pickles the inputs of each stage. ``run`` does one stage once: ``load`` (only
loads the pickle: subtract it), ``feedparser`` (``_convert_feed`` on feedparser's results),
``rs`` (``_convert_feed`` on the shim's results), ``rs-bare`` (``feedparser_rs.parse`` of the
usable bodies) and ``rs-shim`` (``fastparse.parse`` of the same bodies: minus ``rs-bare``, the
shim). It prints the entry count of the stage; callgrind's "Collected" line is the count.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_convert  # noqa: E402
import bench_parse  # noqa: E402

from monitor.ingest import fastparse  # noqa: E402

SHARED = Path(os.environ.get("MONITOR_SHARED", HERE.parent.parent / "shared"))
STAGES = ("load", "feedparser", "rs", "rs-bare", "rs-shim")


def prepare(out: Path, feeds_dir: Path) -> None:
    blobs = [b for f in sorted(feeds_dir.glob("*.xml")) if (b := f.read_bytes()).strip()]
    kept = [(bench_parse.feedparser_raw(b), b) for b in blobs]
    kept = [(_picklable(r), b) for r, b in kept if bench_convert.converts(r, b)]
    usable, rs_raws = bench_convert.rs_parsed([b for _, b in kept])
    data: dict[str, Any] = {
        "fp": ([r for r, _ in kept], [b for _, b in kept]),
        "rs": (rs_raws, usable),
    }
    out.write_bytes(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    n = sum(len(r.entries) for r, _ in kept)
    m = sum(len(r.entries) for r in rs_raws)
    print(f"{len(kept)} feeds, {n} entries after feedparser; {len(usable)} feeds, {m} after rs")


def _picklable(raw: fastparse.RawFeed) -> fastparse.RawFeed:
    """``raw`` with a SAX error (it holds a closed file) as a plain exception of its message."""
    exc = raw.bozo_exception
    try:
        pickle.dumps(exc)
    except (TypeError, ValueError):
        return dataclasses.replace(raw, bozo_exception=RuntimeError(str(exc)))
    return raw


def run(path: Path, stage: str) -> None:
    data = pickle.loads(path.read_bytes())
    fp_raws, fp_blobs = data["fp"]
    rs_raws, rs_blobs = data["rs"]
    if stage == "feedparser":
        bench_convert.convert(fp_raws, fp_blobs)
    elif stage == "rs":
        bench_convert.convert(rs_raws, rs_blobs)
    elif stage == "rs-bare":
        for blob in rs_blobs:
            bench_parse.rs_bare(blob)
    elif stage == "rs-shim":
        for blob in rs_blobs:
            fastparse.parse(blob, {})
    raws = fp_raws if stage == "feedparser" else rs_raws
    print(f"{stage}: {sum(len(r.entries) for r in raws)} entries")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("out", type=Path)
    p.add_argument("feeds_dir", nargs="?", type=Path, default=SHARED / "corpus" / "feeds")
    r = sub.add_parser("run")
    r.add_argument("pickle", type=Path)
    r.add_argument("stage", choices=STAGES)
    args = ap.parse_args()
    if args.command == "prepare":
        prepare(args.out, args.feeds_dir)
    else:
        run(args.pickle, args.stage)


if __name__ == "__main__":
    main()
