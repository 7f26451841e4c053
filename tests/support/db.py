"""Databases for tests: real ones, no mocks.

Every test that asks for ``session`` runs on the embedded SQLite file and, when
``FAIRBAN_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it), on PostgreSQL too. Each
database is migrated once per session (and per xdist worker: on PostgreSQL each gets its
own schema of the test database, dropped at the end); each test runs inside a savepoint
that is rolled back, so tests see no one else's rows.

Tests that must commit (concurrent writers, tampering, the command line) take
``new_engine`` or ``new_db_url``: a database of their own, dropped afterwards.

Registered by tests/conftest.py (``pytest_plugins``): these fixtures serve every test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from fairban.db import make_engine, normalize_url, upgrade

POSTGRES_URL = os.environ.get("FAIRBAN_TEST_POSTGRES_URL", "")

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL,
            reason="FAIRBAN_TEST_POSTGRES_URL is not set (postgresql://USER:PASSWORD@HOST/DB): "
            "PostgreSQL runs skipped, SQLite ones ran",
        ),
    ),
]


@contextmanager
def new_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty database of ``kind``, dropped afterwards: a SQLite file in
    ``folder``, or a new schema in the PostgreSQL test database (its URL sets the
    search_path to it)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'fairban-{uuid4().hex[:8]}.db'}"
        return
    schema = f"fairban_test_{uuid4().hex[:12]}"
    base = normalize_url(POSTGRES_URL)
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def kind_of(url: str) -> str:
    return make_url(url).get_backend_name()


@pytest.fixture(scope="session", params=DATABASES)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The session's database, one per kind (tests using it run once per kind)."""
    with new_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[Engine]:
    """An engine on the session's database, migrated to head."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_kind(db_url: str) -> str:
    """``sqlite`` or ``postgresql``."""
    return kind_of(db_url)


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test; the code under
    test may commit (each commit releases a savepoint) and roll back as it likes."""
    with db_engine.connect() as connection:
        transaction = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture
def new_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty (not migrated) database of the same kind as ``db_url``, for this
    test alone."""
    with new_database(kind_of(db_url), tmp_path) as url:
        yield url


@pytest.fixture
def new_engine(new_db_url: str) -> Iterator[Engine]:
    """An engine on a new database of this test's own, migrated; for tests that commit."""
    engine = make_engine(new_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


#: the triggers that keep the audit log append-only, by database
APPEND_ONLY_TRIGGERS = {
    "sqlite": ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
    "postgresql": ["DROP TRIGGER audit_log_append_only ON audit_log"],
}


def raw_connection(url: str) -> Any:
    """A plain DB-API connection, without fairban's engine settings: what someone with
    access to the database has."""
    return create_engine(normalize_url(url), poolclass=NullPool).raw_connection()


Tamper = Callable[..., None]


@pytest.fixture
def tamper(new_db_url: str) -> Tamper:
    """``tamper(sql, ...)`` runs statements on ``new_engine``'s database as an attacker
    with database access would: through a raw connection, after dropping the
    append-only triggers."""
    done: list[bool] = []

    def run(*statements: str) -> None:
        connection = raw_connection(new_db_url)
        try:
            cursor = connection.cursor()
            if not done:
                for drop in APPEND_ONLY_TRIGGERS[kind_of(new_db_url)]:
                    cursor.execute(drop)
                done.append(True)
            for statement in statements:
                cursor.execute(statement)
            connection.commit()
        finally:
            connection.close()

    return run
