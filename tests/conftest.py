"""Shared test setup.

Every module in tests/fixtures/ is a pytest plugin: one fixture module per real local server
(HTTP feeds, SMTP, Slack endpoint, PostgreSQL) or shared resource.

Tests that need ``../shared`` or the PostgreSQL server skip with a stated reason on a user's
machine that lacks them; under ``CI=true`` they fail instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

# The semantic layer (extra `semantic`, pulled by the dev install) loads a 2-3 s model in every
# process whose rules have `semantic:` blocks, as the shipped pack's do. A user's plain install
# has no such layer, so the suite runs without it (the settings read this when loaded), except
# the semantic tests, which turn it back on (tests/test_semantic*.py).
os.environ.setdefault("MONITOR_SEMANTIC", "off")

_FIXTURES = Path(__file__).parent / "fixtures"
pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in _FIXTURES.glob("*.py") if p.stem != "__init__"
)
