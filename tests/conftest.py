"""Shared test setup.

Every module in tests/fixtures/ is a pytest plugin: one fixture module per real local server
(HTTP feeds, SMTP, Slack endpoint, PostgreSQL) or shared resource.

Tests that need ``../shared`` or the PostgreSQL server skip with a stated reason on a user's
machine that lacks them; under ``CI=true`` they fail instead of skipping.
"""

from __future__ import annotations

from pathlib import Path

_FIXTURES = Path(__file__).parent / "fixtures"
pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in _FIXTURES.glob("*.py") if p.stem != "__init__"
)
