"""Side-by-side table of soak runs (``bench_soak.py --json``): RSS per 10 minutes and slopes.

    python bench/soak_compare.py NAME=run1.json NAME=run2.json [--every 10] [--from 30]

For each run: the daemon's RSS plus its workers' unique memory at every ``--every`` minutes,
then the least-squares growth in MB/h from ``--from`` minutes to the end, and over the last
half of that stretch (does it still fall?).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_soak import growth_per_hour


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="NAME=PATH")
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--from", dest="start", type=float, default=30.0)
    args = ap.parse_args()
    runs = {}
    for spec in args.runs:
        name, path = spec.split("=", 1)
        runs[name] = json.loads(Path(path).read_text())["samples"]
    names = list(runs)
    print(f"{'min':>5} " + " ".join(f"{n + ' MB':>14}" for n in names))
    last = max(s[-1][0] for s in runs.values())
    m = 0.0
    while m * 60 <= last + 1:
        row = []
        for n in names:
            near = [s for s in runs[n] if abs(s[0] - m * 60) < 15]
            row.append(f"{near[0][1] + near[0][2]:14.1f}" if near else f"{'':>14}")
        print(f"{m:5.0f} " + " ".join(row))
        m += args.every
    for n in names:
        s = runs[n]
        end = s[-1][0] / 60
        mid = (args.start + end) / 2
        whole = [(t, r + u) for t, r, u in s if t >= args.start * 60]
        late = [(t, r + u) for t, r, u in s if t >= mid * 60]
        print(
            f"{n}: {growth_per_hour(whole):+.1f} MB/h over {args.start:.0f}-{end:.0f} min, "
            f"{growth_per_hour(late):+.1f} MB/h over {mid:.0f}-{end:.0f} min; "
            f"last {s[-1][1] + s[-1][2]:.1f} MB (daemon {s[-1][1]:.1f})"
        )


if __name__ == "__main__":
    main()
