"""Shared test setup.

Every module in tests/fixtures/ is a pytest plugin: one fixture module per real local server
(HTTP feeds, SMTP, Slack endpoint, PostgreSQL) or shared resource.

Tests that need ``../shared`` or the PostgreSQL server skip with a stated reason on a user's
machine that lacks them; under ``CI=true`` they fail instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests import streams

# The semantic layer (extra `semantic`, pulled by the dev install) loads a 2-3 s model in every
# process whose rules have `semantic:` blocks, as the shipped pack's do. A user's plain install
# has no such layer, so the suite runs without it (the settings read this when loaded), except
# the semantic tests, which turn it back on (tests/test_semantic*.py).
os.environ.setdefault("MONITOR_SEMANTIC", "off")
# The commands under test see no terminal width, as under cron (pytest-xdist's workers get
# COLUMNS=80, which clipped `monitor stories` titles there and not in a serial run).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

_FIXTURES = Path(__file__).parent / "fixtures"
pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in _FIXTURES.glob("*.py") if p.stem != "__init__"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    streams.allow_waiting(items)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> streams.StreamScheduling:
    return streams.StreamScheduling(config, log)


def pytest_runtest_setup(item: pytest.Item) -> None:
    streams.lower_priority_for(item)
