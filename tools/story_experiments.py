"""Two story-layer ideas measured on the DEV half of the labelled story set only (the held-out
half is never read here), kept so the figures in bench/RESULTS.md can be reproduced:

    python tools/story_experiments.py logistic     # learned join/new decision vs the hand rule
    python tools/story_experiments.py embeddings   # sentence-vector cosine as a gated signal

``logistic``: a logistic model over the pair features of an entry and its best candidate story
(overlap, shared specific terms, shared title terms, numbers, concepts, cross-language, hours
since the story began, another calendar day, story size), fitted on the dev entries with a
teacher-forced window (each entry added to its labelled story); the hard rules (near-duplicate,
new action, other principal action) stay in front of it. Measured by 2-fold cross-validation
within dev (folds by story family), beside the hand rule (``Settings.join`` and the shared-term
gate) on the same folds. ``embeddings``: multilingual USE v3 vectors (the ``semantic`` extra) of
title and summary; an entry the core starts a new story with joins its best candidate instead
when the cosine with one of that story's members reaches a threshold and they share at least
one name or number and two names, concepts or numbers; a grid of thresholds.

Needs ``../shared/corpus`` (``MONITOR_SHARED`` or ``--corpus``). Nothing is written.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import monitor.stories.window as W  # noqa: E402
from monitor.stories import Decision, Features, StoryEntry, Window, extract  # noqa: E402
from tests.test_stories_eval import Labelled, family, load_story_set, score, split  # noqa: E402

Best = tuple[float, int, dict[str, float]]


def best_candidate(entry: StoryEntry, f: Features, window: Window) -> tuple[W.Story | None, Best]:
    """The story ``decide`` would compare the entry with, and the score (as in ``decide``)."""
    mass = W._mass(f)
    best_story: W.Story | None = None
    best: Best = (0.0, 0, {})
    for story in window.candidates(f):
        got = W._score(entry, f, mass, story, window.settings)
        if got[0] > best[0] or (got[0] == best[0] and best_story is None and got[0] > 0):
            best_story, best = story, got
    return best_story, best


def hard_rule(entry: StoryEntry, f: Features, story: W.Story, best: Best, s: W.Settings) -> str:
    """ "join"/"new" when a rule in front of the join decision decides, else ""."""
    score_, specific, signals = best
    if score_ >= s.near_duplicate and specific >= 1 and "cross_language" not in signals:
        return "join"
    if score_ < s.near_duplicate and (W.new_actions(f, story) or W.other_action(entry, f, story)):
        return "new"
    return ""


def pair_features(entry: StoryEntry, story: W.Story, best: Best) -> list[float]:
    score_, specific, signals = best
    cross = 1.0 if "cross_language" in signals else 0.0
    hours = abs((entry.published - story.first_seen).total_seconds()) / 3600
    return [
        score_,
        min(specific, 6) / 6,
        min(signals.get("title", 0.0), 6) / 6,
        min(signals.get("numbers", 0.0), 3) / 3,
        min(signals.get("concepts", 0.0), 6) / 6,
        cross,
        cross * score_,
        hours / 30,
        float(entry.published.date() != story.first_seen.date()),
        math.log1p(story.size),
    ]


def examples(items: Sequence[Labelled]) -> list[tuple[list[float], float]]:
    """(features, joined-the-right-story) for each entry the hard rules leave to the model."""
    window = Window()
    out = []
    for x in items:
        f = extract(x.entry)
        story, best = best_candidate(x.entry, f, window)
        if (
            story is not None
            and best[0] > 0
            and not hard_rule(x.entry, f, story, best, window.settings)
        ):
            out.append((pair_features(x.entry, story, best), 1.0 if story.id == x.story else 0.0))
        window.add(x.entry, f, Decision(x.story, False, 0.0, "teacher-forced"))
    return out


def fit(
    data: list[tuple[list[float], float]], l2: float, iters: int = 800
) -> tuple[list[float], float]:
    """L2-regularised logistic regression by batch gradient descent (deterministic)."""
    n = len(data[0][0])
    w, b = [0.0] * n, 0.0
    for _ in range(iters):
        gw, gb = [0.0] * n, 0.0
        for x, y in data:
            z = b + sum(a * c for a, c in zip(w, x, strict=True))
            d = 1 / (1 + math.exp(-z)) - y
            gb += d
            for i in range(n):
                gw[i] += d * x[i]
        b -= 0.5 * gb / len(data)
        w = [wi - 0.5 * (g / len(data) + l2 * wi) for wi, g in zip(w, gw, strict=True)]
    return w, b


def cluster_logistic(
    items: Sequence[Labelled], model: tuple[list[float], float], threshold: float
) -> list[str]:
    window = Window()
    out = []
    for x in items:
        f = extract(x.entry)
        story, best = best_candidate(x.entry, f, window)
        join = False
        if story is not None and best[0] > 0:
            rule = hard_rule(x.entry, f, story, best, window.settings)
            if rule:
                join = rule == "join"
            else:
                z = model[1] + sum(
                    a * c
                    for a, c in zip(model[0], pair_features(x.entry, story, best), strict=True)
                )
                join = 1 / (1 + math.exp(-z)) >= threshold
        sid = story.id if join and story is not None else window.new_story_id(x.entry)
        window.add(x.entry, f, Decision(sid, not join, best[0], ""))
        out.append(sid)
    return out


def cluster_hand(items: Sequence[Labelled]) -> list[str]:
    window = Window()
    return [W.assign(x.entry, window).story for x in items]


def logistic(dev: list[Labelled]) -> None:
    def fold(x: Labelled) -> int:
        return hashlib.sha1(("fold" + family(x.story)).encode()).digest()[0] % 2

    folds = [[x for x in dev if fold(x) == k] for k in (0, 1)]
    print(f"dev folds: {len(folds[0])} and {len(folds[1])} items (B3 F1 / pair P / DE-EN per fold)")
    hand = [score("hand", te, cluster_hand(te)) for te in folds]
    print(
        "hand rule          "
        + "  ".join(f"{s.b_f1:.3f}/{s.pair_precision:.3f}/{s.de_en_recall:.3f}" for s in hand)
    )
    for l2 in (0.001, 0.01, 0.1):
        models = [fit(examples(folds[1 - k]), l2) for k in (0, 1)]
        for threshold in (0.4, 0.5, 0.6, 0.7):
            got = [
                score("lr", folds[k], cluster_logistic(folds[k], models[k], threshold))
                for k in (0, 1)
            ]
            row = "  ".join(
                f"{s.b_f1:.3f}/{s.pair_precision:.3f}/{s.de_en_recall:.3f}" for s in got
            )
            print(f"l2={l2:<5} p>={threshold}  {row}")


def embeddings(dev: list[Labelled]) -> None:
    from monitor.embed import load_embedder

    vectors = load_embedder().embed([f"{x.entry.title}. {x.entry.summary}" for x in dev])
    by_id = {x.entry.id: v for x, v in zip(dev, vectors, strict=True)}
    print(score("lexical (the core)", dev, cluster_hand(dev)).row())
    for threshold in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        window = Window()
        members: dict[str, list[tuple[float, ...]]] = defaultdict(list)
        out = []
        for x in dev:
            f = extract(x.entry)
            d = W.decide(x.entry, f, window)
            vector = by_id[x.entry.id]
            if d.new and d.best is not None and d.score < window.settings.near_duplicate:
                story = window.stories[d.best]
                _, specific, signals = best_candidate(x.entry, f, window)[1]
                shared = (
                    signals.get("words", 0) + signals.get("numbers", 0) + signals.get("concepts", 0)
                )
                ruled = hard_rule(x.entry, f, story, (d.score, specific, signals), window.settings)
                cos = max(
                    sum(a * b for a, b in zip(vector, m, strict=True)) for m in members[d.best]
                )
                if not ruled and specific >= 1 and shared >= 2 and cos >= threshold:
                    d = Decision(d.best, False, d.score, f"cosine {cos:.2f}")
            window.add(x.entry, f, d)
            members[d.story].append(vector)
            out.append(d.story)
        print(score(f"+ cosine >= {threshold}", dev, out).row())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=("logistic", "embeddings"))
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path(os.environ.get("MONITOR_SHARED", ROOT.parent / "shared")) / "corpus",
    )
    args = parser.parse_args()
    dev = split(load_story_set(args.corpus))["dev"]
    logistic(dev) if args.experiment == "logistic" else embeddings(dev)


if __name__ == "__main__":
    main()
