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

``ablation`` and ``cv`` (helper stories5, 2026-12-03) use all 958 labelled items: both halves of
``labels.jsonl`` and ``heldout2.jsonl`` (a dev set since its first run): ``ablation`` switches
each change of that step off alone (and the opt-in next-day gate on) and prints B-cubed F1 /
pair precision / German-English recall / false pairs on the dev half, the old held-out half,
heldout2, the 958 items as one stream and five folds by story family (each its own stream,
pooled); ``cv`` chooses ``Settings.same_day_action_overlap`` on four folds and scores it on the
fifth, for each fold. ``heldout3.jsonl`` is never read here.

Needs ``../shared/corpus`` (``MONITOR_SHARED`` or ``--corpus``). Nothing is written.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import monitor.stories.features as F  # noqa: E402
import monitor.stories.window as W  # noqa: E402
from monitor.stories import Decision, Features, StoryEntry, Window, extract  # noqa: E402
from tests.test_stories_eval import (  # noqa: E402
    HELDOUT2_FILE,
    Labelled,
    Scores,
    family,
    load_story_set,
    score,
    split,
)

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


def _cluster(items: Sequence[Labelled], settings: W.Settings) -> list[str]:
    window = Window(settings)
    return [W.assign(x.entry, window).story for x in items]


def cv_fold(x: Labelled) -> int:
    """One of five folds by story family (a family stays in one fold)."""
    return hashlib.sha1(("cv5" + family(x.story)).encode()).digest()[0] % 5


def _pooled(folds: Sequence[Sequence[Labelled]], settings: Sequence[W.Settings]) -> Scores:
    items: list[Labelled] = []
    predicted: list[str] = []
    for k, (fold_items, s) in enumerate(zip(folds, settings, strict=True)):
        items += fold_items
        predicted += [f"{k}:{p}" for p in _cluster(fold_items, s)]
    return score("cv5", items, predicted)


def _row(label: str, sets: Mapping[str, Sequence[Labelled]], s: W.Settings) -> str:
    folds = [[x for x in sets["958"] if cv_fold(x) == k] for k in range(5)]
    got = [score(n, items, _cluster(items, s)) for n, items in sets.items()]
    got.append(_pooled(folds, [s] * 5))
    cells = "  ".join(
        f"{g.name} {g.b_f1:.3f}/{g.pair_precision:.3f}/{g.de_en_recall:.3f} fp{g.false_pairs}"
        for g in got
    )
    return f"{label:34} {cells}"


def ablation(sets: Mapping[str, Sequence[Labelled]]) -> None:
    from dataclasses import replace

    base = W.Settings()
    spelt, genitives = dict(F._NUMBER_WORDS), F.genitives
    print("B3 F1 / pair P / DE-EN recall, false pairs")
    print(_row("stories5 (default)", sets, base))
    print(_row("- same-day action overlap", sets, replace(base, same_day_action_overlap=2.0)))
    F._NUMBER_WORDS.clear()
    print(_row("- numbers spelt out", sets, base))
    F._NUMBER_WORDS.update(spelt)
    F.genitives = lambda names: set()
    print(_row("- German genitive names", sets, base))
    F._NUMBER_WORDS.clear()
    print(_row("- all three (main's rules)", sets, replace(base, same_day_action_overlap=2.0)))
    F._NUMBER_WORDS.update(spelt)
    F.genitives = genitives
    print(_row("+ next-day gate (opt-in)", sets, replace(base, min_specific_cross_later=3)))


def cv(sets: Mapping[str, Sequence[Labelled]]) -> None:
    """``same_day_action_overlap`` chosen on four folds (fewest false pairs, then B3 F1)."""
    from dataclasses import replace

    grid = [0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 2.0]  # 2.0: the rule off (main)
    folds = [[x for x in sets["958"] if cv_fold(x) == k] for k in range(5)]
    chosen: list[W.Settings] = []
    for k in range(5):
        train = sorted(
            (x for j, f in enumerate(folds) if j != k for x in f),
            key=lambda x: (x.entry.published, x.entry.id),
        )

        def key(t: float, train: list[Labelled] = train) -> tuple[int, float]:
            # Precision first: fewest false pairs on the four folds, then the best B3 F1.
            got = score(
                "", train, _cluster(train, replace(W.Settings(), same_day_action_overlap=t))
            )
            return (-got.false_pairs, got.b_f1)

        best = max(grid, key=key)
        print(f"fold {k}: {len(folds[k])} items, chosen on the other four: {best}")
        chosen.append(replace(W.Settings(), same_day_action_overlap=best))
    for label, settings in (
        ("main (rule off)", [replace(W.Settings(), same_day_action_overlap=2.0)] * 5),
        ("chosen per fold", chosen),
        ("default 0.5", [W.Settings()] * 5),
    ):
        g = _pooled(folds, settings)
        print(
            f"{label:18} B3 F1 {g.b_f1:.3f} pair P {g.pair_precision:.3f} "
            f"R {g.pair_recall:.3f} DE-EN {g.de_en_recall:.3f} FP {g.false_pairs}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=("logistic", "embeddings", "ablation", "cv"))
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path(os.environ.get("MONITOR_SHARED", ROOT.parent / "shared")) / "corpus",
    )
    args = parser.parse_args()
    labelled = load_story_set(args.corpus)
    halves = split(labelled)
    if args.experiment in ("ablation", "cv"):
        heldout2 = load_story_set(args.corpus, HELDOUT2_FILE)
        every = sorted(labelled + heldout2, key=lambda x: (x.entry.published, x.entry.id))
        sets = {"dev": halves["dev"], "test": halves["test"], "H2": heldout2, "958": every}
        ablation(sets) if args.experiment == "ablation" else cv(sets)
    elif args.experiment == "logistic":
        logistic(halves["dev"])
    else:
        embeddings(halves["dev"])


if __name__ == "__main__":
    main()
