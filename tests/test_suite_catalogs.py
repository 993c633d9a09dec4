"""The suite's own PostgreSQL hygiene: catalog rows of dropped test schemas are reclaimed.

On a server with autovacuum off every run's create-and-drop of schemas would grow the test
database's catalogs for good (tests/fixtures/resources.py, ``vacuum_catalogs``). Checked on a
database of its own, so that other tests' schemas do not move the sizes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.fixtures.resources import vacuum_catalogs

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_database(postgres_url: str) -> Iterator[str]:
    name = f"catalogs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _churn(url: str, tables: int = 60) -> int:
    """Create and drop a schema of ``tables`` wide tables; the size of pg_attribute after."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA churn")
        for i in range(tables):
            columns = ", ".join(f"c{j} text" for j in range(40))
            conn.execute(f"CREATE TABLE churn.t{i} ({columns})")
        conn.execute("DROP SCHEMA churn CASCADE")
        row = conn.execute("select pg_relation_size('pg_attribute')").fetchone()
    assert row is not None
    return int(row[0])


def test_vacuumed_catalogs_reuse_the_space_of_dropped_schemas(own_database: str) -> None:
    vacuum_catalogs(own_database, full_above=0)
    first = _churn(own_database)
    unvacuumed = _churn(own_database)
    assert unvacuumed > first  # the dead rows of the first round are still there
    vacuum_catalogs(own_database)
    assert _churn(own_database) <= unvacuumed  # the third round fits in the space of the second


def test_a_bloated_catalog_is_rewritten_smaller(own_database: str) -> None:
    for _ in range(3):
        _churn(own_database)
    with psycopg.connect(own_database, autocommit=True) as conn:
        before = conn.execute("select pg_relation_size('pg_attribute')").fetchone()
    vacuum_catalogs(own_database, full_above=0)
    with psycopg.connect(own_database, autocommit=True) as conn:
        after = conn.execute("select pg_relation_size('pg_attribute')").fetchone()
    assert before is not None and after is not None
    assert after[0] < before[0] / 2
