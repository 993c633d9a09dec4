"""Two test streams (pytest-xdist ``-n 2``, ``StreamScheduling``): most of the suite waits on
real processes, servers and timeouts and uses ~0.4 of a core, so the pure CPU-bound tests (property
tests, corpus sweeps, quality evaluations: no server, no subprocess, no wall-clock bound) run in a
second worker beside it, at the lowest CPU priority (``nice 19``). That worker gets only the CPU
the main stream leaves idle, so the timing-sensitive tests, which stay in the main stream in the
order they always ran, see the machine as in a serial run.

A test belongs to the side stream only if it holds however slowly it runs: nothing in it waits
on a timeout or measures wall time. When in doubt, leave it in the main stream.
"""

from __future__ import annotations

import os

import pytest
from xdist.scheduler import LoadScopeScheduling

MAIN, SIDE = "main", "side"

SIDE_FILES = frozenset(
    {
        "test_conversion_fastpaths.py",
        "test_digest.py",
        "test_digest_stories.py",
        "test_eval.py",
        "test_hits_json.py",
        "test_match_near.py",
        "test_parse_corpus.py",
        "test_parse_engines.py",
        "test_parse_golden.py",
        "test_render.py",
        "test_scan.py",
        "test_search_text_fastpath.py",
        "test_semantic_eval.py",
        "test_stories_eval.py",
        "test_story_features_fastpaths.py",
        "test_story_window_fastpaths.py",
    }
)
SIDE_TESTS = frozenset(
    {
        # reads 350 stored pages and scores the extraction; no server, no time bound
        "tests/test_fulltext.py::test_extraction_quality_on_the_german_and_english_pages",
    }
)


def stream(nodeid: str) -> str:
    """The stream of the test ``nodeid`` (``tests/test_x.py::test_y[param]``)."""
    path, _, name = nodeid.partition("::")
    if path.rpartition("/")[2] in SIDE_FILES or f"{path}::{name.split('[')[0]}" in SIDE_TESTS:
        return SIDE
    return MAIN


class StreamScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist: untyped
    """xdist's scope scheduling with two scopes, the streams: one worker each, and each runs
    its tests in collection order (the main stream as in a serial run). A scheduler rather than
    ``--dist loadgroup``, whose groups pytest 9 no longer sees (xdist 3.8 sets a node id field
    that pytest 9 does not read)."""

    def _split_scope(self, nodeid: str) -> str:
        return stream(nodeid)


SIDE_TIMEOUT = 600
"""pytest-timeout's limit for a side test (the suite's is 120 s): at nice 19 a test may wait
behind other work for minutes on a loaded machine (up to ~106 s seen at load 6-8 for tests of
~15 s); the limit is there to catch a hang, not to time the test."""


def allow_waiting(items: list[pytest.Item]) -> None:
    """Side tests get ``SIDE_TIMEOUT`` unless they set a longer limit of their own."""
    for item in items:
        if stream(item.nodeid) != SIDE:
            continue
        own = item.get_closest_marker("timeout")
        if own is None or (own.args and float(own.args[0]) < SIDE_TIMEOUT):
            item.add_marker(pytest.mark.timeout(SIDE_TIMEOUT))


def lower_priority_for(item: pytest.Item) -> None:
    """The worker that runs the side stream gives way to the main stream (once, for good)."""
    global _niced
    if _niced or not os.environ.get("PYTEST_XDIST_WORKER") or stream(item.nodeid) != SIDE:
        return
    _niced = True
    if hasattr(os, "nice"):
        os.nice(19 - os.nice(0))


_niced = False
