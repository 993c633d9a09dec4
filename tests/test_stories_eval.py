"""Quality of the story clusterer on the labelled story set (tests/data/stories/).

600 real items grouped by hand into stories against tests/data/stories/GUIDELINE.md before the
clusterer was tuned. The repository keeps ids, text hashes and labels only; the text is read from
../shared/corpus (the ``corpus_dir`` fixture skips locally without it and fails under CI=true).
The clusterer runs over the items in publication order, one ``assign`` per item, beside a lexical
baseline (word-overlap Jaccard, date window, single link); the table is printed with ``pytest -s``.

Honest evaluation: the set is split by story family (the first word of the story id: "kirk",
"crans", "nordstream"; hashed) into a dev half, the only one the clusterer was tuned on, and a
held-out test half; each half is clustered as a stream of its own. Splitting by family, not by
single story, keeps the hard negatives (the killing, the arrest and the memorial of one topic)
together in one half, so the held-out half still tests the new-story decision. The baseline's
threshold is chosen on dev too. CI asserts on the held-out half and on the whole set.

The held-out half stopped being independent when a late tuning step (the principal-action rule)
was written knowing some of its merges. ``heldout2.jsonl`` (tests/data/stories/ORIGIN.md,
"heldout2") is a second set: 358 other items, labelled and committed before the clusterer was
first run on them, clustered as a stream of its own. It was held out for one run (2026-12-03);
since then it is dev data too: the stories5 step read its errors and was tuned on all 958 items
of both files (bench/RESULTS.md), so its figures no longer measure unseen data. Its floors and
the strict xfail of the issue's targets stay as regression checks.
``heldout3.jsonl`` (ORIGIN.md, "heldout3") is the third set, labelled blind to the clusterer,
run once for the final check of that step (figures in bench/RESULTS.md): its floors sit just
below that run, and the issue's targets are asserted on it as a strict xfail. It is dev data
since (ORIGIN.md). ``heldout4.jsonl`` ("heldout4"), labelled blind while the next tuning step ran,
was run once on the landed clusterer; its floors and strict xfail are set the same way. It is
dev data since 2026-12-04 (helper stories7 read its errors; ORIGIN.md). ``heldout5.jsonl``
("heldout5"), a fifth set labelled blind with more same-topic hard negatives, was run once on
main's clusterer and once on stories7's before that was merged (aggregates only, no error read).
``heldout6.jsonl`` ("heldout6"), a sixth set labelled blind with German-English candidates drawn
without shared rare words, was run once on main's clusterer (2026-12-06); floors and strict xfail
as for the others. ``heldout7.jsonl`` ("heldout7"), a seventh set labelled blind from a mix of
the earlier selection routes, was run once on main's clusterer (2026-12-07); floors and strict
xfail as for the others. Helper stories9 read the errors of heldout7 (and heldout2-6) on
2026-12-07: all seven files are dev data since. ``heldout8.jsonl`` ("heldout8"), an eighth set
labelled blind meanwhile, was run once on main's clusterer and on stories9's (merged on that
run); its integrity test is tests/test_stories_heldout8.py.

Beside the baseline, every row states two references: the B-cubed F1 of putting every item alone
(``Scores.alone_b_f1``; high on singleton-heavy sets, so a clusterer must beat it), and the gold
stories a false merge hid (``Scores.hidden``: none of their items leads a predicted story, so
under the default ``updates: none`` they would not alert on their own), capped per set by
``HIDDEN_MAX``.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

import pytest

from monitor.matching.text import fold, tokens
from monitor.stories import StoryEntry, Window, assign
from tests.test_eval import excerpt, text_hash

LABELS_FILE = Path(__file__).parent / "data" / "stories" / "labels.jsonl"
HELDOUT2_FILE = LABELS_FILE.with_name("heldout2.jsonl")
# A third fresh set (ORIGIN.md, "heldout3"), labelled blind to the clusterer for the final check
# and run once after the stories5 tuning (bench/RESULTS.md).
HELDOUT3_FILE = LABELS_FILE.with_name("heldout3.jsonl")
# A fourth fresh set (ORIGIN.md, "heldout4"), labelled blind to the clusterer while a tuning step
# ran on the first three, and run once on the landed clusterer (bench/RESULTS.md).
HELDOUT4_FILE = LABELS_FILE.with_name("heldout4.jsonl")
# A fifth fresh set (ORIGIN.md, "heldout5"), labelled blind to the clusterer, with a tranche of
# same-topic events a few days apart (hard negatives); not yet run.
HELDOUT5_FILE = LABELS_FILE.with_name("heldout5.jsonl")
# A sixth fresh set (ORIGIN.md, "heldout6"), labelled blind to the clusterer, its German-English
# candidates drawn without shared rare words; first run 2026-12-06 (bench/RESULTS.md).
HELDOUT6_FILE = LABELS_FILE.with_name("heldout6.jsonl")
# A seventh fresh set (ORIGIN.md, "heldout7"), labelled blind to the clusterer, its candidates
# drawn by a mix of the earlier routes; first run 2026-12-07 (bench/RESULTS.md).
HELDOUT7_FILE = LABELS_FILE.with_name("heldout7.jsonl")
# An eighth fresh set (ORIGIN.md, "heldout8"), labelled blind to the clusterer while stories9
# tuned on heldout7's errors; run once on main's and on stories9's clusterer (2026-12-07).
HELDOUT8_FILE = LABELS_FILE.with_name("heldout8.jsonl")
TARGET_BCUBED_F1 = 0.95
TARGET_PAIR_PRECISION = 0.97
TARGET_DE_EN_RECALL = 0.85
# Regression floors a little below what the clusterer measured when it was committed (see
# bench/RESULTS.md), on the held-out half and on the whole set; the issue's targets are asserted
# separately.
FLOORS = {
    # stories5 (2026-12-03): test 0.952 / 0.937 / 0.885, all 0.951 / 0.922 / 0.864; stories7
    # (2026-12-04): test 0.954 / 0.943 / 0.885, all 0.951 / 0.925 / 0.864.
    "test": {"b_f1": 0.945, "pair_precision": 0.94, "de_en_recall": 0.88},
    "all": {"b_f1": 0.945, "pair_precision": 0.92, "de_en_recall": 0.86},
    # First measured 2026-12-03: B3 F1 0.909, pair P 0.791, DE-EN 0.765 (26 of 34); stories5,
    # tuned with it as dev data: 0.916 / 0.806 / 0.794 (27 of 34); stories7: 0.919 / 0.814 /
    # 0.794; stories9 (2026-12-07): 0.922 / 0.832 (32 false pairs) / 0.794.
    "heldout2": {"b_f1": 0.92, "pair_precision": 0.83, "de_en_recall": 0.79},
    # The one run (2026-12-03, after the stories5 tuning was committed): B3 F1 0.916, pair P
    # 0.852, DE-EN 0.222 (main's clusterer in the same run 0.913 / 0.847 / 0.178); stories7,
    # with it as dev data: 0.924 / 0.871 / 0.356 (16 of 45); stories9: 0.925 / 0.900 (9 false
    # pairs) / 0.356.
    "heldout3": {"b_f1": 0.92, "pair_precision": 0.895, "de_en_recall": 0.35},
    # The one run of the landed clusterer (stories5's, 2026-12-03 22:20 UTC, labels committed
    # before it): B3 F1 0.906 (P 0.964, R 0.855), pair P 0.626 (37 false pairs), DE-EN 0.217
    # (15 of 69); lexical baseline 0.894 / 0.616 / 0.000. stories7, with its errors read (dev
    # data since 2026-12-04): 0.913 / 0.677 (31 false pairs) / 0.261 (18 of 69); stories9:
    # 0.913 / 0.707 (27 false pairs) / 0.261.
    "heldout4": {"b_f1": 0.91, "pair_precision": 0.70, "de_en_recall": 0.26},
    # The first run of the landed clusterer (main d6f4627, 2026-12-04 23:15 UTC, labels
    # committed before it): B3 F1 0.914 (P 0.964, R 0.870), pair P 0.658 (25 false pairs), DE-EN
    # 0.193 (11 of 57); lexical baseline 0.890 / 0.382 / 0.000. Then stories7's clusterer, before
    # it was merged (2026-12-04 00:30 UTC): 0.916 (P 0.967, R 0.870) / 0.676 (23 false pairs) /
    # 0.228 (13 of 57). stories9, with its errors read (dev data since 2026-12-07): 0.919 (P
    # 0.975) / 0.727 (18 false pairs) / 0.228.
    "heldout5": {"b_f1": 0.915, "pair_precision": 0.72, "de_en_recall": 0.22},
    # The first run of the landed clusterer (main ff91d0e, 2026-12-06 22:55 UTC, labels
    # committed before it): B3 F1 0.911 (P 0.987, R 0.845), pair P 0.763 (9 false pairs), DE-EN
    # 0.119 (12 of 101); lexical baseline 0.882 / 0.337 / 0.069. stories9, with its errors
    # read (dev data since 2026-12-07): 0.911 / 0.784 (8 false pairs) / 0.119.
    "heldout6": {"b_f1": 0.91, "pair_precision": 0.78, "de_en_recall": 0.11},
    # The first run of the landed clusterer (main a43bc4a, 2026-12-07 03:10 UTC, labels committed
    # before it): B3 F1 0.919 (P 0.961, R 0.880), pair P 0.491 (59 false pairs), DE-EN 0.229;
    # lexical baseline 0.893 / 0.387 / 0.094. stories9, with its errors read (dev data since
    # 2026-12-07): 0.923 (P 0.972, R 0.880) / 0.626 (34 false pairs) / 0.229.
    "heldout7": {"b_f1": 0.92, "pair_precision": 0.62, "de_en_recall": 0.22},
    # The one run (2026-12-07 16:51 UTC, labels committed before it, aggregates only): main
    # c0d121a's clusterer B3 F1 0.939 (P 0.971, R 0.909), pair P 0.391 (28 false pairs), DE-EN
    # 0.167; stories9's (merged on this run) 0.940 (P 0.973) / 0.439 (23) / 0.167; lexical
    # baseline 0.926 / 0.250 / 0.000; every item alone 0.938.
    "heldout8": {"b_f1": 0.935, "pair_precision": 0.43, "de_en_recall": 0.16},
}

# At most this many gold stories hidden (``Scores.hidden``: none of their items leads a predicted
# story, so under ``updates: none`` with every item qualifying none alerts on its own), one above
# what the clusterer gave after stories9's merge (2026-12-07; the lexical
# baseline hides 17-52 on the same sets). On the blind first runs it is the product's cost of
# the false merges: 1.4 % of heldout6's stories, 3.9 % of heldout7's, 2.7 % of heldout8's.
HIDDEN_MAX = {
    "test": 5,
    "all": 17,
    "heldout2": 15,
    "heldout3": 8,
    "heldout4": 12,
    "heldout5": 12,
    "heldout6": 7,
    "heldout7": 18,
    # The one run (2026-12-07 16:51 UTC): main c0d121a's clusterer 15, stories9's 14.
    "heldout8": 15,
}


@dataclass(frozen=True)
class Labelled:
    entry: StoryEntry
    story: str


def load_story_set(corpus: Path, labels: Path = LABELS_FILE) -> list[Labelled]:
    """The labelled items, text from ``corpus``, in publication order (ties by id)."""
    wanted = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    texts: dict[tuple[str, str, str], dict[str, str]] = {}
    for source in {w["source"] for w in wanted}:
        path = corpus / source.removeprefix("corpus/")
        for line in path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            title, summary = excerpt(d)
            texts.setdefault((source, d["id"], text_hash(title, summary)), d)
    out = []
    for w in wanted:
        d = texts.get((w["source"], w["id"], w["text_sha1"]))
        if d is None:
            raise LookupError(
                f"{labels}: item {w['id']} of {w['source']} is not in {corpus} with the text it "
                "was labelled on (has the corpus changed?)"
            )
        title, summary = excerpt(d)
        published = datetime.fromisoformat(w["published"].replace("Z", "+00:00")).astimezone(UTC)
        key = f"{w['id']}/{w['text_sha1']}"
        entry = StoryEntry(key, title, summary, w["language"], published, d["source"], d["link"])
        out.append(Labelled(entry, w["story"]))
    out.sort(key=lambda x: (x.entry.published, x.entry.id))
    return out


def family(story: str) -> str:
    """The topic family of a story id: its first word ("kirk-suspect-arrested" -> "kirk")."""
    return story.split("-", 1)[0]


def half(story: str) -> str:
    """Half "dev" or "test": a fixed hash of the story's family, so a family stays in one half."""
    return "dev" if hashlib.sha1(family(story).encode()).digest()[0] % 2 == 0 else "test"


def split(items: Sequence[Labelled]) -> dict[str, list[Labelled]]:
    """The dev half, the held-out test half and the whole set, each in publication order."""
    out: dict[str, list[Labelled]] = {"dev": [], "test": [], "all": list(items)}
    for x in items:
        out[half(x.story)].append(x)
    return out


@dataclass(frozen=True)
class Scores:
    name: str
    b_precision: float
    b_recall: float
    pair_precision: float
    pair_recall: float
    de_en_recall: float
    false_pairs: int
    hidden: int = 0
    """Gold stories none of whose items is the earliest member of its predicted story: with
    every item qualifying and ``updates: none`` (the default), such a story never gets an alert
    of its own; a false merge hid it."""
    stories: int = 0
    alone_b_f1: float = 0.0
    """B-cubed F1 of putting every item in a story of its own (precision 1, recall the mean of
    1 / gold story size): on singleton-heavy sets it is high (0.87-0.905 on heldout4-7), the
    reference a clusterer's B-cubed F1 must beat to mean anything."""

    @property
    def b_f1(self) -> float:
        p, r = self.b_precision, self.b_recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def pair_f1(self) -> float:
        p, r = self.pair_precision, self.pair_recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def row(self) -> str:
        return (
            f"{self.name:34} {self.b_precision:6.3f} {self.b_recall:6.3f} {self.b_f1:6.3f} "
            f"{self.pair_precision:6.3f} {self.pair_recall:6.3f} {self.pair_f1:6.3f} "
            f"{self.de_en_recall:6.3f} {self.false_pairs:5d} {self.hidden:4d}/{self.stories}"
        )


HEADER = (
    f"{'method':34} {'B3 P':>6} {'B3 R':>6} {'B3 F1':>6} {'pairP':>6} {'pairR':>6} "
    f"{'pairF1':>6} {'DE-EN':>6} {'FP':>5} hidden"
)


def score(name: str, items: Sequence[Labelled], predicted: Sequence[str]) -> Scores:
    """B-cubed and pairwise precision/recall, and recall of German-English same-story pairs."""
    gold = [x.story for x in items]
    by_gold: dict[str, set[int]] = defaultdict(set)
    by_pred: dict[str, set[int]] = defaultdict(set)
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        by_gold[g].add(i)
        by_pred[p].add(i)
    bp = br = 0.0
    for i in range(len(items)):
        same_pred, same_gold = by_pred[predicted[i]], by_gold[gold[i]]
        both = len(same_pred & same_gold)
        bp += both / len(same_pred)
        br += both / len(same_gold)
    n = len(items)
    leads: dict[str, str] = {}
    for x, p in zip(items, predicted, strict=True):  # items are in publication order
        leads.setdefault(p, x.story)
    alone_r = sum(1 / len(by_gold[g]) for g in gold) / n
    tp = fp = fn = de_en = de_en_found = 0
    for i, j in combinations(range(n), 2):
        same_g, same_p = gold[i] == gold[j], predicted[i] == predicted[j]
        tp += same_g and same_p
        fp += same_p and not same_g
        fn += same_g and not same_p
        if same_g and {items[i].entry.language[:2], items[j].entry.language[:2]} == {"de", "en"}:
            de_en += 1
            de_en_found += same_p
    return Scores(
        name,
        bp / n,
        br / n,
        tp / (tp + fp) if tp + fp else 1.0,
        tp / (tp + fn) if tp + fn else 1.0,
        de_en_found / de_en if de_en else 1.0,
        fp,
        hidden=len(set(gold) - set(leads.values())),
        stories=len(by_gold),
        alone_b_f1=2 * alone_r / (1 + alone_r),
    )


def cluster(items: Sequence[Labelled], window: Window | None = None) -> list[str]:
    window = Window() if window is None else window
    return [assign(x.entry, window).story for x in items]


def _bag(e: StoryEntry) -> frozenset[str]:
    return frozenset(t for t in tokens(fold(f"{e.title} {e.summary}")) if len(t) > 2)


def baseline(items: Sequence[Labelled], threshold: float, days: float = 3.0) -> list[str]:
    """Word-overlap Jaccard >= threshold within ``days``, single link (union-find)."""
    bags = [_bag(x.entry) for x in items]
    parent = list(range(len(items)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    span = timedelta(days=days)
    for i, j in combinations(range(len(items)), 2):
        if abs(items[i].entry.published - items[j].entry.published) > span:
            continue
        a, b = bags[i], bags[j]
        if a and b and len(a & b) / len(a | b) >= threshold:
            parent[find(i)] = find(j)
    return [str(find(i)) for i in range(len(items))]


def best_threshold(items: Sequence[Labelled]) -> float:
    """The baseline's Jaccard threshold with the best B-cubed F1 on ``items`` (the dev half)."""
    runs = [(k / 50, score("", items, baseline(items, k / 50)).b_f1) for k in range(2, 40)]
    return max(runs, key=lambda r: r[1])[0]


@pytest.fixture(scope="module")
def story_set(corpus_dir: Path) -> list[Labelled]:
    return load_story_set(corpus_dir)


@pytest.fixture(scope="module")
def halves(story_set: list[Labelled]) -> dict[str, list[Labelled]]:
    return split(story_set)


@pytest.fixture(scope="module")
def measured(halves: dict[str, list[Labelled]]) -> dict[str, tuple[Scores, Scores]]:
    """(clusterer, baseline) scores per half; the baseline's threshold chosen on dev."""
    t = best_threshold(halves["dev"])
    out = {}
    for name, items in halves.items():
        ours = score(f"stories, {name}", items, cluster(items))
        base = score(f"baseline J>={t:.2f} 3 days, {name}", items, baseline(items, t))
        out[name] = (ours, base)
    return out


@pytest.fixture(scope="module")
def heldout2(corpus_dir: Path) -> list[Labelled]:
    return load_story_set(corpus_dir, HELDOUT2_FILE)


@pytest.fixture(scope="module")
def measured2(halves: dict[str, list[Labelled]], heldout2: list[Labelled]) -> tuple[Scores, Scores]:
    """(clusterer, baseline) scores on heldout2; the baseline's threshold chosen on dev."""
    t = best_threshold(halves["dev"])
    ours = score("stories, heldout2", heldout2, cluster(heldout2))
    base = score(f"baseline J>={t:.2f} 3 days, heldout2", heldout2, baseline(heldout2, t))
    return ours, base


def test_story_set_is_big_and_bilingual(story_set: list[Labelled]) -> None:
    stories: dict[str, set[str]] = defaultdict(set)
    for x in story_set:
        stories[x.story].add(x.entry.language[:2])
    sizes: dict[str, int] = defaultdict(int)
    for x in story_set:
        sizes[x.story] += 1
    assert 300 <= len(story_set) <= 650
    assert sum(1 for langs in stories.values() if langs == {"de", "en"}) >= 25
    assert sum(1 for n in sizes.values() if n == 1) >= 100
    assert len({x.entry.id for x in story_set}) == len(story_set)


def test_split_is_fixed_balanced_and_keeps_families_together(
    halves: dict[str, list[Labelled]],
) -> None:
    dev, test = halves["dev"], halves["test"]
    assert len(dev) + len(test) == len(halves["all"])
    assert 0.4 <= len(test) / len(halves["all"]) <= 0.6
    assert not {family(x.story) for x in dev} & {family(x.story) for x in test}
    for items in (dev, test):
        langs: dict[str, set[str]] = defaultdict(set)
        for x in items:
            langs[x.story].add(x.entry.language[:2])
        assert sum(1 for v in langs.values() if v == {"de", "en"}) >= 15
    # Fixed by the story ids alone: the same ids always land in the same half.
    assert half("kirk-killed") == half("kirk-suspect-arrested")


def holds_floor(ours: Scores, base: Scores, name: str) -> None:
    """The clusterer beats the lexical baseline and putting every item alone (B-cubed F1), and
    holds the regression floor of set ``name``."""
    assert ours.b_f1 > base.b_f1 and ours.pair_precision > base.pair_precision, name
    assert ours.b_f1 > ours.alone_b_f1, (name, ours)
    assert ours.hidden < base.hidden and ours.hidden <= HIDDEN_MAX[name], (name, ours)
    assert ours.de_en_recall > base.de_en_recall, name
    floor = FLOORS[name]
    assert ours.b_f1 >= floor["b_f1"], ours
    assert ours.pair_precision >= floor["pair_precision"], ours
    assert ours.de_en_recall >= floor["de_en_recall"], ours


def reaches_targets(ours: Scores) -> None:
    """The issue's targets."""
    assert ours.b_f1 >= TARGET_BCUBED_F1, ours
    assert ours.pair_precision >= TARGET_PAIR_PRECISION, ours
    assert ours.de_en_recall >= TARGET_DE_EN_RECALL, ours


def test_clusterer_beats_the_lexical_baseline_and_holds_its_floor(
    measured: dict[str, tuple[Scores, Scores]], halves: dict[str, list[Labelled]]
) -> None:
    print(f"\n{HEADER}")
    for name in ("dev", "test", "all"):
        ours, base = measured[name]
        print(f"{ours.row()}\n{base.row()}")
    for name in ("test", "all"):
        ours, base = measured[name]
        holds_floor(ours, base, name)


@pytest.mark.xfail(
    strict=True,
    reason="issue targets not reached on the held-out half (measured B3 F1 0.952, pair P 0.937, "
    "DE-EN 0.885; dev 0.960 / 0.966 / 0.825; no longer independent); strict: when they pass, "
    "drop this mark",
)
def test_clusterer_reaches_the_issue_targets_on_held_out(
    measured: dict[str, tuple[Scores, Scores]],
) -> None:
    ours, _ = measured["test"]
    reaches_targets(ours)


def test_heldout2_is_fresh_bilingual_and_has_hard_negatives(
    story_set: list[Labelled], heldout2: list[Labelled]
) -> None:
    # No item of the first set (by corpus id), none twice; German-English stories and single
    # items (the same-topic, same-week negatives) as ORIGIN.md states.
    assert not {x.entry.id.split("/")[0] for x in story_set} & {
        x.entry.id.split("/")[0] for x in heldout2
    }
    assert len({x.entry.id for x in heldout2}) == len(heldout2) == 358
    langs: dict[str, set[str]] = defaultdict(set)
    sizes: dict[str, int] = defaultdict(int)
    for x in heldout2:
        langs[x.story].add(x.entry.language[:2])
        sizes[x.story] += 1
    assert len(sizes) == 201
    assert sum(1 for v in langs.values() if v == {"de", "en"}) >= 15
    assert sum(1 for n in sizes.values() if n == 1) >= 80


def test_heldout3_loads_is_fresh_and_bilingual(
    corpus_dir: Path, story_set: list[Labelled], heldout2: list[Labelled]
) -> None:
    # Every record loads from the corpus with the text it was labelled on; no corpus id of the
    # first two sets, none twice; at least 25 German-English stories (ORIGIN.md, "heldout3").
    heldout3 = load_story_set(corpus_dir, HELDOUT3_FILE)
    records = HELDOUT3_FILE.read_text(encoding="utf-8").splitlines()
    assert len(heldout3) == len(records) == 452
    ids = {x.entry.id.split("/")[0] for x in heldout3}
    assert len(ids) == len(heldout3)
    assert not ids & {x.entry.id.split("/")[0] for x in [*story_set, *heldout2]}
    langs: dict[str, set[str]] = defaultdict(set)
    for x in heldout3:
        langs[x.story].add(x.entry.language[:2])
    assert len(langs) == 325
    assert sum(1 for v in langs.values() if v == {"de", "en"}) >= 25


def test_heldout4_loads_is_fresh_and_bilingual(
    corpus_dir: Path,
    story_set: list[Labelled],
    heldout2: list[Labelled],
    heldout3: list[Labelled],
) -> None:
    # Every record loads from the corpus with the text it was labelled on; no corpus id of the
    # three earlier sets, none twice; at least 25 German-English stories (ORIGIN.md, "heldout4").
    heldout4 = load_story_set(corpus_dir, HELDOUT4_FILE)
    records = HELDOUT4_FILE.read_text(encoding="utf-8").splitlines()
    assert len(heldout4) == len(records) == 517
    ids = {x.entry.id.split("/")[0] for x in heldout4}
    assert len(ids) == len(heldout4)
    assert not ids & {x.entry.id.split("/")[0] for x in [*story_set, *heldout2, *heldout3]}
    langs: dict[str, set[str]] = defaultdict(set)
    for x in heldout4:
        langs[x.story].add(x.entry.language[:2])
    assert len(langs) == 397
    assert sum(1 for v in langs.values() if v == {"de", "en"}) >= 25


def test_heldout5_loads_is_fresh_and_bilingual(corpus_dir: Path) -> None:
    # Every record loads from the corpus with the text it was labelled on; no corpus id of the
    # four earlier sets, none twice; at least 25 German-English stories (ORIGIN.md, "heldout5").
    heldout5 = load_story_set(corpus_dir, HELDOUT5_FILE)
    records = HELDOUT5_FILE.read_text(encoding="utf-8").splitlines()
    assert len(heldout5) == len(records) == 614
    ids = {x.entry.id.split("/")[0] for x in heldout5}
    assert len(ids) == len(heldout5)
    earlier = (LABELS_FILE, HELDOUT2_FILE, HELDOUT3_FILE, HELDOUT4_FILE)
    for path in earlier:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert not ids & {json.loads(line)["id"] for line in lines}, path.name
    langs: dict[str, set[str]] = defaultdict(set)
    for x in heldout5:
        langs[x.story].add(x.entry.language[:2])
    assert len(langs) == 493
    assert sum(1 for v in langs.values() if v == {"de", "en"}) >= 25


def test_heldout6_loads_is_fresh_and_bilingual(corpus_dir: Path) -> None:
    # Every record loads from the corpus with the text it was labelled on; no corpus id and no
    # text hash of the five earlier sets, no id twice; the counts ORIGIN.md ("heldout6") states.
    heldout6 = load_story_set(corpus_dir, HELDOUT6_FILE)
    records = [json.loads(line) for line in HELDOUT6_FILE.read_text(encoding="utf-8").splitlines()]
    assert len(heldout6) == len(records) == 600
    ids = {x.entry.id.split("/")[0] for x in heldout6}
    hashes = {x.entry.id.split("/")[1] for x in heldout6}
    assert len(ids) == len(hashes) == len(heldout6)
    earlier = (LABELS_FILE, HELDOUT2_FILE, HELDOUT3_FILE, HELDOUT4_FILE, HELDOUT5_FILE)
    for path in earlier:
        others = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert not ids & {w["id"] for w in others}, path.name
        assert not hashes & {w["text_sha1"] for w in others}, path.name
    langs: dict[str, list[str]] = defaultdict(list)
    for x in heldout6:
        langs[x.story].append(x.entry.language[:2])
    assert len(langs) == 491
    assert sum(1 for v in langs.values() if len(v) > 1) == 63
    both = [v for v in langs.values() if set(v) == {"de", "en"}]
    assert len(both) == 49
    assert sum(v.count("de") * v.count("en") for v in both) == 101


def test_heldout7_loads_is_fresh_and_bilingual(corpus_dir: Path) -> None:
    # Every record loads from the corpus with the text it was labelled on; no corpus id and no
    # text hash of the six earlier sets, no id twice; the counts ORIGIN.md ("heldout7") states.
    heldout7 = load_story_set(corpus_dir, HELDOUT7_FILE)
    records = [json.loads(line) for line in HELDOUT7_FILE.read_text(encoding="utf-8").splitlines()]
    assert len(heldout7) == len(records) == 705
    ids = {x.entry.id.split("/")[0] for x in heldout7}
    hashes = {x.entry.id.split("/")[1] for x in heldout7}
    assert len(ids) == len(hashes) == len(heldout7)
    earlier = (
        LABELS_FILE,
        HELDOUT2_FILE,
        HELDOUT3_FILE,
        HELDOUT4_FILE,
        HELDOUT5_FILE,
        HELDOUT6_FILE,
    )
    for path in earlier:
        others = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert not ids & {w["id"] for w in others}, path.name
        assert not hashes & {w["text_sha1"] for w in others}, path.name
    langs: dict[str, list[str]] = defaultdict(list)
    for x in heldout7:
        langs[x.story].append(x.entry.language[:2])
    assert len(langs) == 583
    assert sum(1 for v in langs.values() if len(v) > 1) == 80
    both = [v for v in langs.values() if set(v) == {"de", "en"}]
    assert len(both) == 40
    assert sum(v.count("de") * v.count("en") for v in both) == 96


def test_clusterer_beats_the_baseline_and_holds_its_floor_on_heldout2(
    measured2: tuple[Scores, Scores],
) -> None:
    ours, base = measured2
    print(f"\n{HEADER}\n{ours.row()}\n{base.row()}")
    holds_floor(ours, base, "heldout2")


@pytest.mark.xfail(
    strict=True,
    reason="issue targets not reached on heldout2 (first run 2026-12-03: B3 F1 0.909, pair P "
    "0.791, DE-EN 0.765; stories5, tuned with it as dev data: 0.916 (P 0.932, R 0.901), pair P "
    "0.806 (R 0.728), DE-EN 0.794; lexical baseline 0.837 / 0.561 / 0.029); strict: when they "
    "pass, drop this mark",
)
def test_clusterer_reaches_the_issue_targets_on_heldout2(
    measured2: tuple[Scores, Scores],
) -> None:
    ours, _ = measured2
    reaches_targets(ours)


def test_assignment_is_deterministic_and_incremental(story_set: list[Labelled]) -> None:
    first = cluster(story_set)
    assert cluster(story_set) == first
    # Feeding the set in two halves through one window gives the same stories as one pass.
    window = Window()
    half = len(story_set) // 2
    assert cluster(story_set[:half], window) + cluster(story_set[half:], window) == first


def test_the_measured_configuration_is_the_daemons_default() -> None:
    # The figures above are for ``Window()``; the daemon builds its window from monitor.yaml's
    # ``stories:`` section (monitor/app/service.py), whose defaults must be the same settings
    # (the clusterer is lexical: there are no sentence vectors to configure).
    from monitor.config.stories import StorySettings
    from monitor.stories import Settings

    defaults = StorySettings()
    assert Settings(span=defaults.span, join=defaults.join) == Settings() == Window().settings


@pytest.fixture(scope="module")
def heldout3(corpus_dir: Path) -> list[Labelled]:
    return load_story_set(corpus_dir, HELDOUT3_FILE)


# The fresh sets after their first run: each was labelled blind to the clusterer, and its first run
# is recorded in bench/RESULTS.md; the floors are in FLOORS, the targets a strict xfail per set.
FRESH_SETS = {
    "heldout3": HELDOUT3_FILE,
    "heldout4": HELDOUT4_FILE,
    "heldout5": HELDOUT5_FILE,
    "heldout6": HELDOUT6_FILE,
    "heldout7": HELDOUT7_FILE,
    "heldout8": HELDOUT8_FILE,
}
TARGETS_NOT_REACHED = {
    "heldout3": "the one run, 2026-12-03, after the stories5 tuning: B3 F1 0.916 (P 0.978, "
    "R 0.862), pair P 0.852 (R 0.478), DE-EN 0.222; main's clusterer 0.913 / 0.847 / 0.178; "
    "lexical baseline 0.897 / 0.702 / 0.000; as dev data (stories9) 0.925 / 0.900 / 0.356",
    "heldout4": "the one run, 2026-12-03, of the landed clusterer: B3 F1 0.906 (P 0.964, "
    "R 0.855), pair P 0.626 (R 0.367), DE-EN 0.217; lexical baseline 0.894 / 0.616 / 0.000; "
    "as dev data (stories9) 0.913 / 0.707 / 0.261",
    "heldout5": "the first run, 2026-12-04 23:15 UTC, of main d6f4627's clusterer: B3 F1 0.914, "
    "pair P 0.658, DE-EN 0.193; stories7's before its merge: 0.916 (P 0.967, R 0.870), pair P "
    "0.676 (R 0.286), DE-EN 0.228; lexical baseline 0.890 / 0.382 / 0.000; as dev data "
    "(stories9) 0.919 / 0.727 / 0.228",
    "heldout6": "the first run, 2026-12-06 22:55 UTC, of main ff91d0e's clusterer: B3 F1 0.911 "
    "(P 0.987, R 0.845), pair P 0.763 (R 0.138), DE-EN 0.119 (12 of 101 pairs, 97 of which share "
    "no rare word); lexical baseline 0.882 / 0.337 / 0.069; as dev data (stories9) 0.911 / "
    "0.784 / 0.119",
    "heldout7": "the first run, 2026-12-07 03:10 UTC, of main a43bc4a's clusterer: B3 F1 0.919 "
    "(P 0.961, R 0.880), pair P 0.491 (R 0.259, 59 false pairs), DE-EN 0.229; lexical baseline "
    "0.893 / 0.387 / 0.094; as dev data (stories9) 0.923 / 0.626 (34 false pairs) / 0.229",
    "heldout8": "the one run, 2026-12-07 16:51 UTC: main c0d121a's clusterer B3 F1 0.939, pair P "
    "0.391 (R 0.202, 28 false pairs), DE-EN 0.167; stories9's 0.940 / 0.439 (23) / 0.167; "
    "lexical baseline 0.926 / 0.250 / 0.000; every item alone 0.938",
}


@pytest.fixture(scope="module")
def measured_fresh(
    halves: dict[str, list[Labelled]], corpus_dir: Path
) -> Callable[[str], tuple[Scores, Scores]]:
    """(clusterer, baseline) scores on a fresh set, each computed once; the baseline's
    threshold chosen on dev."""
    done: dict[str, tuple[Scores, Scores]] = {}

    def measure(name: str) -> tuple[Scores, Scores]:
        if name not in done:
            items = load_story_set(corpus_dir, FRESH_SETS[name])
            t = best_threshold(halves["dev"])
            done[name] = (
                score(f"stories, {name}", items, cluster(items)),
                score(f"baseline J>={t:.2f} 3 days, {name}", items, baseline(items, t)),
            )
        return done[name]

    return measure


@pytest.mark.parametrize("name", list(FRESH_SETS))
def test_clusterer_beats_the_baseline_and_holds_its_floor_on_a_fresh_set(
    name: str, measured_fresh: Callable[[str], tuple[Scores, Scores]]
) -> None:
    ours, base = measured_fresh(name)
    print(f"\n{HEADER}\n{ours.row()}\n{base.row()}")
    holds_floor(ours, base, name)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"issue targets not reached on {name} ({why}); strict: when they pass, "
                "drop it from TARGETS_NOT_REACHED",
            ),
        )
        if (why := TARGETS_NOT_REACHED.get(name))
        else name
        for name in FRESH_SETS
    ],
)
def test_clusterer_reaches_the_issue_targets_on_a_fresh_set(
    name: str, measured_fresh: Callable[[str], tuple[Scores, Scores]]
) -> None:
    ours, _ = measured_fresh(name)
    reaches_targets(ours)
