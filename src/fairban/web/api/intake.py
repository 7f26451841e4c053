"""The appeal intake's own path on PostgreSQL: ``POST /api/v1/case/appeals``, the
busiest write, answered by a plain ASGI handler over an asyncpg pool.

Why: through FastAPI and SQLAlchemy's ORM session an appeal cost about 2 ms of CPU,
half of it routing, dependencies and validation, a third the database layer; two cores
then took 620-780 appeals/s. Here an appeal is two statements on one pooled connection,
each its own transaction, built once from the same SQLAlchemy Core statements as the
general path (:data:`fairban.appeals.portal_sessions._VERIFIED_CASE`, the rate-limit upsert,
the appeal insert), compiled for asyncpg:

1. the case behind the verified session (a read);
2. the case's rate-limit upsert and the appeal's ``INSERT ... ON CONFLICT DO NOTHING``
   in one statement (data-modifying CTEs): the count and the appeal commit together,
   durably, or not at all.

The usual request (a valid body, a verified session, a case whose measure is in force,
within the rate limit, a new key) is answered here with the route's own models
(:class:`AppealIn` validates the body, :class:`AppealOut` is the answer). Anything else
goes to the FastAPI route with the body replayed, so errors, their JSON and the OpenAPI
description stay the route's: a body that does not validate, no bearer token, a case not
in force (the route finds its earlier appeal or refuses). A key already used, or a case
with an open appeal, is looked up in a thread (:func:`earlier_appeal`).

A database that cannot be reached after the pool is reconnected once (a restart) is
answered 503 with ``Retry-After: 1``: a retry with the same ``submit_key`` is safe.

``FAIRBAN_FAST_INTAKE=false`` turns it off (the benchmark's baseline).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
from pydantic import ValidationError
from sqlalchemy import Integer, Table, bindparam, select, true
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fairban import ratelimits, tokens
from fairban.appeals import sessions as portal_sessions
from fairban.appeals.filing import AppealError, check_key, checked_text, earlier_appeal
from fairban.appeals.models import Appeal, AppealState
from fairban.cases.transitions import APPEALABLE, CaseState
from fairban.db import database_lost, db_error_line
from fairban.web.api.routes import AppealIn, AppealOut, appeal_out, too_many_body
from fairban.web.deps import AppState

log = logging.getLogger("fairban.web")

PATH = "/api/v1/case/appeals"
#: an appeal's JSON is at most a few tens of kB (a 5,000-character statement): larger
#: bodies, and bodies of unknown length, take the general path
MAX_BODY = 64 * 1024
#: how the intake's connections show in pg_stat_activity
APPLICATION_NAME = "fairban intake"
#: a pooled connection found dead (a database restart): every pooled connection is
#: replaced and the appeal retried once (safe: the submit_key keeps it to one appeal)
_DEAD = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    # the server's "terminating connection" arriving while the connection sat idle
    # leaves its protocol in a state the next query reports as this
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.PostgresConnectionError,
    # refused, reset, timed out, and asyncio's "Multiple exceptions" when every address
    # of the host refused (a plain OSError)
    OSError,
)
#: the answer while the database cannot be reached: the client files again
UNAVAILABLE = "database unavailable, try again"


@dataclass(frozen=True)
class _Statement:
    """A Core statement compiled for asyncpg: its SQL and how to order parameters."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]

    @classmethod
    def of(cls, statement: ClauseElement) -> _Statement:
        compiled = statement.compile(dialect=pg_asyncpg.dialect())  # type: ignore[no-untyped-call]
        # asyncpg's $1, $2 ... in this order (SQLCompiler's, not on Compiled's type)
        names = tuple(getattr(compiled, "positiontup", None) or ())
        # literal values the statement carries (the upsert's 1s)
        fixed = {k: v for k, v in compiled.params.items() if v is not None}
        return cls(str(compiled), names, fixed)

    def args(self, **params: Any) -> list[Any]:
        given = {**self.fixed, **params}
        return [given[name] for name in self.names]


_APPEALS = cast(Table, Appeal.__table__)
_COLUMNS = (
    "case_id",
    "directive_id",
    "submit_key",
    "grounds",
    "statement",
    "lang",
    "state",
    "filed_at",
    "answer_by",
)


def _file_statement() -> ClauseElement:
    """The rate-limit upsert (as the general path's) and the appeal insert, in one
    statement: the insert runs only when the count is within ``limit``."""
    counted = ratelimits.upsert_count("postgresql").cte("counted")
    values = select(*[bindparam(c, type_=_APPEALS.c[c].type) for c in _COLUMNS]).where(
        counted.c.count <= bindparam("limit", type_=Integer())
    )
    filed = (
        pg_insert(_APPEALS)
        .from_select(list(_COLUMNS), values)
        .on_conflict_do_nothing()
        .returning(_APPEALS.c.id)
        .cte("filed")
    )
    return select(counted.c.count, counted.c.window_start, filed.c.id).select_from(
        counted.outerjoin(filed, true())
    )


_CASE = _Statement.of(portal_sessions.VERIFIED_CASE)
_FILE = _Statement.of(_file_statement())


def pool_dsn(url: URL) -> str:
    """The libpq URL asyncpg takes, from SQLAlchemy's (``postgresql+psycopg://...``);
    query options such as ``options=-csearch_path=...`` pass through to the server."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def open_pool(url: URL, size: int) -> asyncpg.Pool:
    """The intake's connections: up to ``size`` per worker, kept open (none is opened
    per request), named ``fairban intake`` in ``pg_stat_activity``."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        pool_dsn(url),
        min_size=min(2, size),
        max_size=size,
        server_settings={"application_name": APPLICATION_NAME},
        max_inactive_connection_lifetime=1800,
        reset=_no_reset,
    )
    return pool


async def _no_reset(connection: asyncpg.Connection) -> None:
    """asyncpg's default reset (``RESET ALL``, ``UNLISTEN *``, ...) is a round trip per
    request; the intake sets, listens and locks nothing, and the pool still rolls back
    a transaction left open before this is called."""


class FastIntake:
    """ASGI middleware: the intake's own path (module docstring); every other request,
    and this one when the pool is not open, passes to ``app``."""

    def __init__(self, app: ASGIApp, state: AppState, route: object = None) -> None:
        self.app = app
        self.state = state
        self.route = route  # for the access log's template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pool = self.state.intake_pool
        if (
            pool is None
            or scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(_headers(scope["headers"]))
        length = headers.get("content-length", "")
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        token = _bearer(headers.get("authorization", ""))
        if not length.isdigit() or int(length) > MAX_BODY or kind != "application/json":
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        if body is None:
            return  # the client went away
        scope["route"] = self.route
        answer = None
        if token is not None:
            try:
                appeal = AppealIn.model_validate_json(body)
            except ValidationError:
                appeal = None  # the route answers with FastAPI's 422
            if appeal is not None:
                answer = await self._file(pool, token, appeal)
        if answer is None:
            await self.app(scope, _replay(body, receive), send)
            return
        status, payload, extra = answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _file(
        self, pool: asyncpg.Pool, token: str, body: AppealIn
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        """The answer (status, JSON, headers), or None for the route to answer."""
        for attempt in (1, 2):
            try:
                return await self._file_once(pool, token, body)
            except DBAPIError as e:
                # a look-up in a thread, on SQLAlchemy's pool (which pings and reconnects
                # on its own)
                if not database_lost(e):
                    raise
                return _unavailable(e)
            except _DEAD as e:
                if attempt == 2:
                    # the database is still down (restarting): the client files again
                    # with the same submit_key, which names this appeal if it was written
                    return _unavailable(e)
                log.warning("intake: a pooled connection had died; reconnecting the pool")
                await pool.expire_connections()
        raise AssertionError("unreachable")

    async def _file_once(
        self, pool: asyncpg.Pool, token: str, body: AppealIn
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        settings = self.state.settings
        t = datetime.now(UTC)
        async with pool.acquire() as connection, _closed_is_dead(connection):
            row = await connection.fetchrow(
                _CASE.sql, *_CASE.args(token_hash=tokens.sha256_hex(token), now=t)
            )
            if row is None:
                return _error(401, "no valid session", [(b"www-authenticate", b"Bearer")])
            case = portal_sessions.VerifiedCase(
                row["id"], row["number"], row["directive_id"], CaseState(row["state"])
            )
            if case.state not in APPEALABLE:
                return None  # the route finds its earlier appeal, or says why not
            try:
                check_key(body.submit_key)
                grounds, statement = checked_text(list(body.grounds), body.statement)
            except AppealError as e:
                return _error(400, e.code)
            # the promise the route makes: from the queue and drain rate measured within
            # the last second, before filing (in a thread, once a second per process)
            gauge = self.state.drain
            drain = None
            if gauge is not None:
                drain = gauge.fresh(t) or await run_in_threadpool(gauge.read, t)
            key = portal_sessions.case_limit_key("appeal", case.id)
            answer_by = t + timedelta(hours=settings.answer_hours)
            values = {
                "case_id": case.id,
                "directive_id": case.directive_id,
                "submit_key": body.submit_key,
                "grounds": json.dumps(grounds),
                "statement": statement,
                "lang": "zh-CN",
                "state": AppealState.RECEIVED.value,
                "filed_at": t,
                "answer_by": answer_by,
            }
            filed = await connection.fetchrow(
                _FILE.sql,
                *_FILE.args(
                    key=tokens.sha256_hex(key),
                    now=t,
                    ended=t - timedelta(seconds=settings.rate_window_s),
                    limit=settings.appeals_per_window,
                    **values,
                ),
            )
            assert filed is not None  # the upsert always returns its row
            count, window_start, new_id = filed
        if count > settings.appeals_per_window:
            # the route's answer: the wait until this case's window ends (header, body)
            wait = ratelimits.wait_after(window_start, window_s=settings.rate_window_s, now=t)
            payload = json.dumps(too_many_body(max(1, wait)), separators=(",", ":"))
            return 429, payload.encode(), [(b"retry-after", str(max(1, wait)).encode())]
        if new_id is None:
            # the key is taken or the case has an open appeal: rare, so a thread
            try:
                out = await run_in_threadpool(self._earlier, case, body.submit_key)
            except AppealError as e:
                return _error(400, e.code)
            return 200, out.model_dump_json().encode(), []
        if self.state.recheck is not None:
            self.state.recheck.wake()
        out = AppealOut(
            id=new_id,
            case_number=case.number,
            state=AppealState.RECEIVED.value,
            grounds=grounds,
            filed_at=t,
            answer_by=answer_by,
            expected_decision=drain.expected(t, t) if drain else None,
            decided_at=None,
        )
        return 201, out.model_dump_json().encode(), []

    def _earlier(self, case: portal_sessions.VerifiedCase, submit_key: str) -> AppealOut:
        t = datetime.now(UTC)
        drain = self.state.drain.read(t) if self.state.drain is not None else None
        with self.state.factory() as session:
            return appeal_out(earlier_appeal(session, case, submit_key), case.number, drain)


def _headers(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]


def _bearer(value: str) -> str | None:
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    token = credentials.strip()
    return token if len(token) <= 200 else None


async def _read(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the route: the body read here, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


@asynccontextmanager
async def _closed_is_dead(
    connection: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
) -> AsyncIterator[None]:
    """A connection the server closed after the pool handed it out: asyncpg says
    ``InterfaceError`` ("connection is closed", or "released back to the pool") before
    sending anything, which is the database going away (retried), not a mistake of ours
    (a 500)."""
    try:
        yield
    except asyncpg.InterfaceError as e:
        if not _gone(connection):
            raise
        raise asyncpg.exceptions.ConnectionDoesNotExistError(str(e)) from e


def _gone(connection: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> bool:
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:
        # "released back to the pool": when the server closes a connection, asyncpg's
        # pool takes it back from its proxy, though we never released it
        return True


def _unavailable(e: BaseException) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    log.warning("intake: database unavailable (%s); answered 503", db_error_line(e))
    return _error(503, UNAVAILABLE, [(b"retry-after", b"1")])


def _error(
    status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """As the app's handler for HTTPException on /api/ answers."""
    body = json.dumps({"detail": detail}, ensure_ascii=False, separators=(",", ":"))
    return status, body.encode(), headers or []
