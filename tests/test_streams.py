"""The side stream (tests/streams.py) holds only tests that hold however slowly they run: it
runs at nice 19 and may wait behind the main stream for seconds at a time."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests import streams

TESTS = Path(__file__).parent
# What would make a test depend on how fast it runs, or on a server or process of its own.
_TIMED = re.compile(
    r"perf_counter|monotonic|time\.time\(|sleep\(|timeout\s*=|subprocess|Popen|run_monitor"
    r"|feed_server|smtp_server|http_sink|storage_url|\bstorage\b|postgres|socket|Daemon"
    r"|chromium|playwright|threading"
)


def test_side_files_exist_and_use_no_clock_server_or_process() -> None:
    for name in sorted(streams.SIDE_FILES):
        path = TESTS / name
        assert path.exists(), f"{name} is listed in SIDE_FILES but does not exist"
        found = sorted(set(_TIMED.findall(path.read_text(encoding="utf-8"))))
        assert not found, f"{name} is in the side stream but uses {found}: move it to main"


def test_side_property_tests_have_no_deadline() -> None:
    for name in sorted(streams.SIDE_FILES):
        tree = ast.parse((TESTS / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if any(d.startswith("given(") for d in decorators):
                assert any("deadline=None" in d for d in decorators), (
                    f"{name}::{node.name}: a property test in the side stream needs "
                    "@settings(deadline=None) (it may be starved for a while at nice 19)"
                )


def test_side_tests_exist() -> None:
    for nodeid in streams.SIDE_TESTS:
        path, _, name = nodeid.partition("::")
        assert f"def {name}(" in (TESTS.parent / path).read_text(encoding="utf-8"), nodeid


def test_each_test_has_one_stream() -> None:
    assert streams.stream("tests/test_parse_golden.py::test_corpus_converts_as_before[rs]") == (
        streams.SIDE
    )
    side = next(iter(streams.SIDE_TESTS))
    assert streams.stream(side) == streams.SIDE
    assert streams.stream(f"{side}_not") == streams.MAIN
    assert streams.stream("tests/test_instances.py::test_x") == streams.MAIN
    assert streams.stream("tests/test_daemon_stop.py::test_y[sqlite]") == streams.MAIN


def test_side_tests_may_wait_longer_than_the_suites_limit(request: pytest.FixtureRequest) -> None:
    items = [i for i in request.session.items if streams.stream(i.nodeid) == streams.SIDE]
    for item in items:
        mark = item.get_closest_marker("timeout")
        assert mark is not None and float(mark.args[0]) >= streams.SIDE_TIMEOUT, item.nodeid
