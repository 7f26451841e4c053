"""The case store's database: declarative base, engines, sessions and migrations.

Embedded by default (a SQLite file under ``FAIRBAN_HOME``), PostgreSQL when
``FAIRBAN_DATABASE_URL`` says so. Nothing here connects at import: an engine is made
when a command asks for one.

Transactions on SQLite start with ``BEGIN IMMEDIATE``: a writer takes the database's
write lock when its transaction begins, so two writers never read the same state and
then both write (the second waits up to the busy timeout for the first to commit).
Sessions made with ``read_only=True`` start with a plain ``BEGIN`` and never wait for
writers (WAL journal).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Engine,
    Enum,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from fairban.config import Settings
from fairban.errors import FairbanError, first_line

#: constraint and index names that are the same on every database, so that a later
#: migration can name what it alters
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: execution option that makes a SQLite transaction start with a deferred ``BEGIN``
READ_ONLY = "fairban_read_only"

#: longest account, person or actor name stored (the evidence's ids are far shorter)
NAME_LENGTH = 255


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite keeps no zone: stored as
    naive UTC and read back as aware UTC). Refuses naive datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# --- rows written together ------------------------------------------------------------

#: ``session.info`` key: rows kept for one insert per table (:func:`add_row`)
_ROWS = "fairban.db.rows"


def collect_rows(session: Session) -> None:
    """From now on, :func:`add_row` keeps rows to insert together (an audit batch:
    :func:`fairban.audit.batched`); :func:`stop_collecting` ends it."""
    session.info.setdefault(_ROWS, {})


def stop_collecting(session: Session) -> None:
    session.info.pop(_ROWS, None)


def add_row(session: Session, model: type[Base], values: dict[str, Any]) -> None:
    """Insert a row of ``model`` that nothing reads back as an object in the transaction
    (a case's event, a notice, an outbox message). Collected (:func:`collect_rows`), it is
    written with the others of its table by one ``executemany``, without the ORM's
    object, identity and ``RETURNING`` of the id, right after the session's next flush
    (so a query that autoflushes sees it) and before the commit (:func:`write_rows`).
    Otherwise it is an object added to the session, as ever. Every row of a table must
    give the same columns."""
    rows: dict[Any, list[dict[str, Any]]] | None = session.info.get(_ROWS)
    if rows is None:
        session.add(model(**values))
    else:
        rows.setdefault(model.__table__, []).append(values)


def write_rows(session: Session) -> int:
    """Insert the rows collected so far, table by table in the order first used;
    returns how many."""
    rows: dict[Any, list[dict[str, Any]]] | None = session.info.get(_ROWS)
    if not rows:
        return 0
    tables = list(rows.items())
    rows.clear()
    connection = session.connection()
    for table, values in tables:
        if not _copied(connection, table, values):
            connection.execute(table.insert(), values)
    return sum(len(values) for _, values in tables)


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (each giving the same columns) into ``table``: on PostgreSQL
    through psycopg by one ``COPY``, elsewhere by one ``executemany``."""
    if rows and not _copied(connection, table, rows):
        connection.execute(table.insert(), rows)


def _copied(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> bool:
    """Write ``rows`` by ``COPY ... FROM STDIN`` where the driver can (psycopg on
    PostgreSQL); False where it cannot, or where a column the rows leave out has a
    default only SQLAlchemy knows (the server's own defaults, a serial id, apply).

    A batch's rows by COPY cost the server one statement instead of one execution each
    (an executemany sends a Bind and an Execute a row) and the client no statement per
    row; the values go through each column's bind processing first, as an INSERT's do."""
    if connection.dialect.driver != "psycopg" or not rows:
        return False
    names = tuple(rows[0])
    plan = _COPY_PLANS.get((table, names))
    if plan is None:
        left_out = [c for c in table.columns if c.name not in names]
        if any(c.default is not None for c in left_out):
            return False
        columns = [table.columns[name] for name in names]
        dialect = connection.dialect
        processors = [c.type.bind_processor(dialect) for c in columns]
        quote = dialect.identifier_preparer.quote
        statement = f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
        plan = _COPY_PLANS[(table, names)] = (statement, processors)
    statement, processors = plan
    driver: Any = connection.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    value if process is None else process(value)
                    for process, value in zip(processors, [row[n] for n in names], strict=True)
                ]
            )
    return True


#: per (table, columns given): the COPY statement and each column's bind processor
_COPY_PLANS: dict[tuple[Table, tuple[str, ...]], tuple[str, list[Any]]] = {}


@event.listens_for(Session, "after_flush")
def _write_rows_after_flush(session: Session, _context: object) -> None:
    # after the objects: a row may name one the flush just inserted
    write_rows(session)


def value_enum(kind: type[StrEnum], name: str, length: int = 16) -> Enum:
    """A column type for a ``StrEnum`` stored by value, as VARCHAR with a CHECK
    constraint named ``ck_TABLE_NAME``: the same on SQLite and PostgreSQL, and no native
    PostgreSQL enum type for a migration to alter."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class DatabaseError(FairbanError):
    """The database is missing, unreachable or not migrated: one line for the person."""


def database_url(settings: Settings) -> str:
    """``FAIRBAN_DATABASE_URL`` if set, else the embedded ``sqlite:///HOME/fairban.db``."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{settings.home.expanduser().resolve() / 'fairban.db'}"


def normalize_url(url: str | URL) -> URL:
    """The URL SQLAlchemy should use: plain ``postgresql://`` (and ``postgres://``) mean
    psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str | URL,
    *,
    create: bool = True,
    busy_timeout_s: float = 15.0,
    pool_size: int | None = None,
) -> Engine:
    """An engine for ``url``; connects only when first used.

    SQLite: WAL journal, foreign keys on, ``busy_timeout_s`` of waiting for the write
    lock, transactions that begin ``IMMEDIATE`` (see the module docstring). With
    ``create=False`` a missing SQLite file is an error instead of a new empty database.
    PostgreSQL goes through psycopg 3; ``pool_size`` connections are kept open (a
    server's), otherwise SQLAlchemy's default of 5 (and 10 more opened and closed).
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        if pool_size is None:
            return create_engine(parsed, pool_pre_ping=True)
        # a server's pool: every connection kept (an overflow one would be opened and
        # closed per request: a new PostgreSQL backend each time)
        return create_engine(parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=0)

    path = parsed.database
    if path and path != ":memory:" and not path.startswith("file:"):
        file = Path(path)
        if create:
            file.parent.mkdir(parents=True, exist_ok=True)
        elif not file.exists():
            raise DatabaseError(f"no database at {file}: run `fairban db upgrade` first")
    engine = create_engine(parsed)
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # SQLAlchemy, not the sqlite3 module, emits BEGIN (see _on_begin): otherwise
        # DDL and SAVEPOINT would run outside the transaction
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on ``engine``. ``read_only`` sessions do not take SQLite's write lock and
    are refused writes by PostgreSQL."""
    bind = engine
    if read_only:
        bind = engine.execution_options(**{READ_ONLY: True, "postgresql_readonly": True})
    return sessionmaker(bind=bind, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration, built in code (no alembic.ini): the package's migrations
    folder and, when given, the database URL (for the ``alembic`` commands of a developer,
    e.g. ``command.revision(alembic_config(), "add cases", rev_id="0002")``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", str(normalize_url(url)).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Create or migrate the database to ``revision``, in one transaction; returns the
    revision it is at afterwards."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest migration this version of fairban has."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def require_current(engine: Engine) -> None:
    """Raise a one-line :class:`DatabaseError` unless the database is migrated to head."""
    at, head = current_revision(engine), head_revision()
    if at != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "is empty" if at is None else f"is at migration {at}, not {head}"
        raise DatabaseError(f"database {where} {state}: run `fairban db upgrade`")


#: waits of a loop that lost its database: doubling from the first to the last
BACKOFF_S = (0.5, 5.0)
#: how long a long-running command (``serve``, ``worker``, ``appeals recheck --watch``)
#: waits at its start for a database that is starting up or away, e.g. when the host
#: boots them together or the database restarts: it would otherwise exit at once
STARTUP_WAIT_S = 60.0


class Backoff:
    """The wait after each failure in a row (doubling, capped); reset by a success."""

    def __init__(self, first_s: float = BACKOFF_S[0], cap_s: float = BACKOFF_S[1]) -> None:
        self.first_s, self.cap_s = first_s, cap_s
        self.failures = 0

    def next_s(self) -> float:
        self.failures += 1
        return min(self.cap_s, self.first_s * 2.0 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


def open_database(
    url: str | URL,
    *,
    migrate: bool = False,
    pool_size: int | None = None,
    wait_s: float = 0.0,
    say: Callable[[str], None] | None = None,
) -> Engine:
    """An engine for a command: with ``migrate``, the database is created or migrated to
    head first; without, it must exist and be at head already. A missing, unreachable or
    outdated database is a one-line :class:`DatabaseError`. With ``wait_s``, a database
    that cannot be reached is tried again (:class:`Backoff`, a line to ``say`` each
    time) until that many seconds have passed; an outdated one is not waited for."""
    deadline = time.monotonic() + wait_s
    backoff = Backoff()
    while True:
        try:
            return _open_database(url, migrate=migrate, pool_size=pool_size)
        except DatabaseError as e:
            delay = backoff.next_s()
            unreachable = isinstance(e.__cause__, OperationalError)
            if not unreachable or time.monotonic() + delay > deadline:
                raise
            if say is not None:
                say(f"{e}; trying again in {delay:g} s")
            time.sleep(delay)


def _open_database(url: str | URL, *, migrate: bool, pool_size: int | None) -> Engine:
    engine = make_engine(url, create=migrate, pool_size=pool_size)
    try:
        if migrate:
            upgrade(engine)
        else:
            require_current(engine)
    except OperationalError as e:
        engine.dispose()
        where = engine.url.render_as_string(hide_password=True)
        why = (str(e.orig) or type(e.orig).__name__).strip().splitlines()[0]
        raise DatabaseError(f"cannot use database {where}: {why}") from e
    except BaseException:
        engine.dispose()
        raise
    return engine


# --- versioned rows of a batch, updated together ---------------------------------------

_TOGETHER = "fairban.db.versioned_together"


def update_versioned_together(session: Session, model: type[Base]) -> None:
    """From now until :func:`stop_versioned_together`, each flush of ``session`` updates
    the changed rows of ``model`` (a mapper with ``version_id_col``) by one
    ``executemany`` per set of changed columns, checking the versions as the ORM does,
    instead of the ORM's one statement and round trip a row (it cannot batch a versioned
    update: it reads each row count). Objects with a relationship changed are left to
    the ORM. Call it after every ``before_flush`` hook that reads the objects' history
    has been registered (:func:`versioned_before_flush` clears it)."""
    session.info[_TOGETHER] = model


def stop_versioned_together(session: Session) -> None:
    session.info.pop(_TOGETHER, None)


def versioned_before_flush(
    session: Session, _context: object, _instances: object | None = None
) -> None:
    """The ``before_flush`` hook of :func:`update_versioned_together` (registered by the
    module whose flows use it, after the hooks that read history)."""
    model: type[Base] | None = session.info.get(_TOGETHER)
    if model is None:
        return
    mapper = inspect(model)
    version = mapper.version_id_col
    if version is None:
        raise TypeError(f"{model.__name__} has no version_id_col")
    version_key = mapper.get_property_by_column(version).key
    pk = mapper.primary_key
    if len(pk) != 1:
        raise TypeError(f"{model.__name__}: one primary-key column expected")
    pk_key = mapper.get_property_by_column(pk[0]).key
    columns = {p.key: p.columns[0] for p in mapper.column_attrs}
    relationships = [r.key for r in mapper.relationships]
    groups: dict[tuple[str, ...], list[tuple[Any, dict[str, Any]]]] = {}
    for obj in session.dirty:
        if not isinstance(obj, model):
            continue
        state = inspect(obj)
        if not state.persistent or any(state.attrs[r].history.has_changes() for r in relationships):
            continue
        changed: dict[str, Any] = {}
        for key in columns:
            history = state.attrs[key].history
            if history.added:
                changed[key] = history.added[0]
        if not changed or version_key in changed or pk_key in changed:
            continue
        groups.setdefault(tuple(sorted(changed)), []).append((obj, changed))
    if not groups:
        return
    table = cast(Table, model.__table__)
    connection = session.connection()
    for keys, members in groups.items():
        statement = (
            table.update()
            .where(
                pk[0] == bindparam("pk_"),
                version == bindparam("version_"),
            )
            .values({columns[k].name: bindparam(f"v_{k}") for k in keys})
            .values({version.name: bindparam("new_version_")})
        )
        params = []
        for obj, changed in members:
            old = getattr(obj, version_key)
            params.append(
                {
                    "pk_": getattr(obj, pk_key),
                    "version_": old,
                    "new_version_": old + 1,
                    **{f"v_{k}": v for k, v in changed.items()},
                }
            )
        matched = connection.execute(statement, params).rowcount
        if matched != len(params):
            raise StaleDataError(
                f"UPDATE statement on table {table.name!r} expected to update "
                f"{len(params)} row(s); {matched} were matched."
            )
        for (obj, changed), p in zip(members, params, strict=True):
            for key, value in changed.items():
                set_committed_value(obj, key, value)
            set_committed_value(obj, version_key, p["new_version_"])


def database_lost(e: BaseException) -> bool:
    """Whether ``e`` says the database went away or refused the transaction for now (a
    restart, a crash, a dropped connection, a serialisation failure or deadlock), as
    opposed to something about what was asked: a re-check batch then waits whole for the
    database to come back instead of being tried appeal by appeal, and a request is
    answered 503 (try again) instead of 500.

    An operational error with a SQLSTATE counts only in the classes that say so
    (:data:`LOST_SQLSTATES`): a statement cancelled by its timeout (57014) is about
    what the batch asked, and its appeals are tried one by one like any other failure.
    Without a SQLSTATE (the server never answered) it counts; SQLite's only when busy,
    locked or its file cannot be opened (:data:`LOST_SQLITE`): its "no such table" is an
    operational error too, and a mistake of ours."""
    if isinstance(e, DBAPIError) and e.connection_invalidated:
        return True
    if isinstance(e, InterfaceError):
        return True
    if not isinstance(e, OperationalError):
        return False
    sqlite = getattr(e.orig, "sqlite_errorcode", None)
    if sqlite is not None:
        return sqlite & 0xFF in LOST_SQLITE  # the primary code of an extended one
    code = getattr(e.orig, "sqlstate", None)
    return not code or code[:2] in LOST_SQLSTATES or code in LOST_SQLSTATES


#: SQLSTATE classes and codes of a database away or refusing for now: connection
#: exceptions (08), transaction rollbacks (40: serialisation failures, deadlocks),
#: insufficient resources (53: disk full, too many connections), and the server shutting
#: down, crashing or starting (57P01 to 57P03)
LOST_SQLSTATES = frozenset({"08", "40", "53", "57P01", "57P02", "57P03"})
#: SQLite's result codes of the same: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN
LOST_SQLITE = frozenset({5, 6, 14})


def db_error_line(e: BaseException) -> str:
    """The first line of a database error (for a one-line log)."""
    return first_line(getattr(e, "orig", None) or e)
