"""The case store's database layer that the audit log stands on: URLs, engine settings,
migrations that match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# the tables the migrations must match
import fairban.audit.models
import fairban.cases.models
import fairban.platforms.models  # noqa: F401
from fairban.config import Settings
from fairban.db import (
    Base,
    UTCDateTime,
    alembic_config,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    normalize_url,
    session_factory,
    upgrade,
)


def test_the_embedded_default_is_a_file_under_home(tmp_path: Path) -> None:
    url = database_url(Settings(home=tmp_path / "h"))
    assert url == f"sqlite:///{tmp_path / 'h' / 'fairban.db'}"


def test_the_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRBAN_DATABASE_URL", "postgresql://u:p@db.example/fairban")
    assert database_url(Settings()) == "postgresql://u:p@db.example/fairban"


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p@h/db", "postgresql+psycopg"),
        ("postgres://u:p@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_plain_postgresql_urls_mean_psycopg_3(given: str, driver: str) -> None:
    assert normalize_url(given).drivername == driver


def test_making_an_engine_connects_to_nothing(tmp_path: Path) -> None:
    make_engine(f"sqlite:///{tmp_path / 'db' / 'f.db'}")
    make_engine("postgresql://nobody:none@127.0.0.1:9/none")  # nothing listens there
    assert not (tmp_path / "db" / "f.db").exists()


def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}", busy_timeout_s=7)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
    engine.dispose()


def test_sqlite_ddl_and_savepoints_are_transactional(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    with engine.connect() as connection:
        with connection.begin():
            connection.exec_driver_sql("CREATE TABLE kept (n INTEGER)")
        transaction = connection.begin()
        connection.exec_driver_sql("CREATE TABLE dropped (n INTEGER)")
        savepoint = connection.begin_nested()
        connection.exec_driver_sql("INSERT INTO kept VALUES (1)")
        savepoint.rollback()
        connection.exec_driver_sql("INSERT INTO kept VALUES (2)")
        transaction.rollback()
        assert inspect(connection).get_table_names() == ["kept"]
        assert connection.exec_driver_sql("SELECT count(*) FROM kept").scalar() == 0
    engine.dispose()


def test_read_only_sessions_are_refused_writes_by_postgresql(
    db_engine: Engine, db_kind: str
) -> None:
    from fairban.audit import append

    if db_kind != "postgresql":
        pytest.skip("SQLite has no read-only transactions; its read-only sessions skip the lock")
    with session_factory(db_engine, read_only=True)() as session:
        with pytest.raises(DBAPIError, match="read-only"):
            append(session, actor="system:test", action="case:measure:apply", subject="x")
        session.rollback()


def test_the_migrations_match_the_models(db_engine: Engine) -> None:
    assert current_revision(db_engine) == head_revision()
    assert set(Base.metadata.tables) <= set(inspect(db_engine).get_table_names())
    with db_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_migrations_go_down_and_up_again(new_db_url: str) -> None:
    from alembic import command

    engine = make_engine(new_db_url)
    assert current_revision(engine) is None
    head = head_revision()
    assert upgrade(engine) == head
    assert upgrade(engine) == head  # again: nothing to do
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not set(Base.metadata.tables) & set(inspect(engine).get_table_names())
    assert upgrade(engine) == head
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_timestamps_come_back_aware_in_utc(session: Session) -> None:
    from fairban.audit import AuditEntry, append

    entry = append(session, actor="system:test", action="case:measure:apply", subject="x")
    session.commit()
    session.expire_all()
    stored = session.get(AuditEntry, entry.id)
    assert stored is not None
    assert stored.at == entry.at
    assert stored.at.tzinfo is not None
    assert stored.at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused() -> None:
    kind = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        kind.process_bind_param(datetime(2019, 10, 1), make_engine("sqlite://").dialect)
    beijing = datetime(2019, 10, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    stored = kind.process_bind_param(beijing, make_engine("sqlite://").dialect)
    assert stored == datetime(2019, 10, 1, 0, 0)
    assert kind.process_result_value(stored, make_engine("sqlite://").dialect) == datetime(
        2019, 10, 1, tzinfo=UTC
    )


def test_a_database_that_is_away_is_waited_for_then_refused_in_one_line() -> None:
    """A long-running command started before its database waits a while (one line per
    try), then gives up with the one-line error."""
    import time

    from fairban.db import DatabaseError, open_database
    from tests.support.servers import free_port

    said: list[str] = []
    url = f"postgresql://fairban:fairban@127.0.0.1:{free_port()}/nowhere"
    started = time.monotonic()
    with pytest.raises(DatabaseError, match="cannot use database") as refused:
        open_database(url, wait_s=2.0, say=said.append)
    # each try takes what connecting takes: how many fit in the wait varies
    assert 0.5 <= time.monotonic() - started < 12
    assert len(str(refused.value).splitlines()) == 1
    waits = [line.rsplit("trying again in ", 1)[1] for line in said]
    assert waits
    assert waits == ["0.5 s", "1 s", "2 s"][: len(waits)]
    assert all(line.startswith("cannot use database") for line in said)
    tries = len(said)
    with pytest.raises(DatabaseError):  # without a wait: at once, as before
        open_database(url, say=said.append)
    assert len(said) == tries


@pytest.mark.slow
def test_a_database_that_starts_late_is_waited_for(pg_cluster: Any) -> None:
    """Booted together: the database comes up a few seconds after the command."""
    import threading

    from fairban.db import open_database

    pg_cluster.stop()
    threading.Timer(2.0, pg_cluster.start).start()
    said: list[str] = []
    engine = open_database(pg_cluster.url, migrate=True, wait_s=60, say=said.append)
    try:
        assert said  # it did wait
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_migration_0012_stamps_the_group_keys_of_the_appeals_queued(new_db_url: str) -> None:
    """Appeals queued before 0012 get the keys the re-check would have stamped."""
    import json

    from sqlalchemy import select

    from fairban.appeals.grouping import compound_key, person_key
    from fairban.appeals.models import Appeal
    from fairban.cases.models import Case

    engine = make_engine(new_db_url)
    upgrade(engine, "0008")
    now = datetime(2019, 10, 15, 9, tzinfo=UTC)
    farm = json.dumps(
        [
            {"code": "DEVICE_FARM", "data": {"device_peers": 4}},
            {"code": "PRESENCE_SUSTAINED", "data": {"area": "Laukkai"}},
        ]
    )
    # (person, reasons, grounds, state): persons, a compound, neither, one decided
    rows = [
        ("p-1", "[]", ["victim", "other"], "queued"),
        ("p-1", farm, ["other", "victim"], "queued"),
        (None, farm, ["never_been_there"], "queued"),
        (None, "[]", ["never_been_there"], "queued"),
        ("p-2", farm, ["never_been_there"], "upheld"),
    ]
    _old_queue(
        engine,
        now,
        [{"person_id": p, "reasons": r, "grounds": g, "appeal_state": s} for p, r, g, s in rows],
    )
    upgrade(engine)
    with session_factory(engine)() as session:
        appeals = list(session.scalars(select(Appeal).order_by(Appeal.id)))
        stamped = [(a.person_group, a.compound_group) for a in appeals]
        expected = []
        for a in appeals:
            case = session.get(Case, a.case_id)
            assert case is not None
            person, compound = person_key(a, case), compound_key(a, case)
            expected.append((person.id if person else None, compound[0].id if compound else None))
    engine.dispose()
    assert stamped[:4] == expected[:4]
    assert stamped[0][0] == stamped[1][0] is not None  # one person, grounds in any order
    assert stamped[0][1] is None
    assert stamped[2][0] is None
    assert stamped[2][1] is not None
    assert stamped[3] == (None, None)
    assert stamped[4] == (None, None)  # decided before 0012: no group to be in


def test_migration_0013_stamps_the_priority_of_the_appeals_queued(new_db_url: str) -> None:
    """Appeals queued before 0013 get the static priority the flush would have stamped,
    the person's accounts held counted as the database has them; the queue page then
    reads them in priority order."""
    from sqlalchemy import select

    from fairban.appeals.models import Appeal
    from fairban.review.queue import page

    engine = make_engine(new_db_url)
    upgrade(engine, "0012")
    now = datetime(2019, 10, 15, 9, tzinfo=UTC)
    due = now + timedelta(hours=40)  # the earliest deadline: the first by deadline
    rows: list[dict[str, Any]] = [
        # p-1: two accounts held (the third lifted), one of them a shop's
        {"person_id": "p-1", "grounds": ["other"], "appeal_state": "queued", "answer_by": due},
        {"person_id": "p-1", "grounds": ["victim"], "appeal_state": "queued"}
        | {"account_kind": "merchant", "measure": "restrict"},
        {"person_id": "p-1", "state": "lifted"},
        # p-2: one account held, a monitor; no person; a decided appeal
        {"person_id": "p-2", "grounds": ["other"], "appeal_state": "queued", "measure": "monitor"},
        {"person_id": None, "grounds": ["victim"], "appeal_state": "queued"},
        {"person_id": "p-3", "grounds": ["other"], "appeal_state": "upheld"},
    ]
    _old_queue(engine, now, rows)
    upgrade(engine)
    with session_factory(engine)() as session:
        stamped = list(session.scalars(select(Appeal.queue_priority).order_by(Appeal.id)))
        first = page(session, now, size=2)
        pages = [i.appeal.case_id for i in first.items]
        assert first.next_after is not None
        rest = page(session, now, size=2, after=first.next_after)
        pages += [i.appeal.case_id for i in rest.items]
    engine.dispose()
    # suspend 3 + held 1; restrict 2 + shop 1 + victim 1 + held 1; monitor 1;
    # suspend 3 + victim 1; decided: none
    assert stamped == [4, 5, 1, 4, None]
    # at ``now``: 5 + 0 before 4 + 0.5 due earlier, then 4 + 0, then 1 + 0
    assert pages == [2, 1, 5, 4]


def _old_queue(engine: Engine, now: datetime, rows: list[dict[str, Any]]) -> None:
    """Cases and their appeals written as an older schema holds them (its columns only):
    each row's ``person_id``, ``reasons``, ``grounds``, ``appeal_state`` and, where given,
    ``measure``, ``account_kind``, ``state`` (the case's) and ``answer_by``."""
    import json

    from sqlalchemy import MetaData, insert

    old = MetaData()
    old.reflect(engine, only=("directives", "cases", "appeals"))
    tables = old.tables
    with engine.begin() as c:
        directive = {"id": "mm-2019", "title": "t", "issuer": "i", "legal_basis": "l"}
        directive |= {"current_version": 2, "paused": False, "created_at": now}
        c.execute(insert(tables["directives"]), [directive])
        for i, row in enumerate(rows, 1):
            case = {
                "id": i,
                "number": f"FB-T-{i}",
                "directive_id": "mm-2019",
                "directive_version": 2,
                "account_id": f"wechat:t{i}",
                "platform": "wechat",
                "person_id": row["person_id"],
                "account_kind": row.get("account_kind", "personal"),
                "state": row.get("state", "appealed"),
                "measure": row.get("measure", "suspend"),
                "risk": 0.9,
                "reasons": row.get("reasons", "[]"),
                "evidence": "[]",
                "evidence_hash": "0" * 64,
                "decided_by": "engine",
                "decided_by_kind": "automatic",
                "decided_at": now,
                "stage_bucket": 0,
                "created_at": now,
                "updated_at": now,
                "row_version": 1,
            }
            c.execute(insert(tables["cases"]), [case])
            if row.get("appeal_state") is None:
                continue
            appeal = {
                "case_id": i,
                "directive_id": "mm-2019",
                "submit_key": f"k{i}",
                "grounds": json.dumps(row["grounds"]),
                "statement": "",
                "lang": "zh-CN",
                "state": row["appeal_state"],
                "filed_at": now,
                "answer_by": row.get("answer_by", now + timedelta(hours=48)),
            }
            c.execute(insert(tables["appeals"]).values(appeal))
