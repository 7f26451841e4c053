"""The intake's own path tells a database that went away (retried, then 503) from a
mistake of its own (a 500): a pooled connection the server closed after the pool handed
it out is the former."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from fairban.web.api import intake
from tests.support.db import kind_of


def test_a_connection_closed_under_the_intake_counts_as_the_database_gone(
    new_db_url: str,
) -> None:
    if kind_of(new_db_url) != "postgresql":
        pytest.skip("the intake's own path is PostgreSQL's")

    async def main() -> tuple[bool, type[BaseException]]:
        pool = await intake.open_pool(make_url(new_db_url), 2)
        try:
            async with pool.acquire() as connection:
                pid = connection.get_server_pid()
                async with pool.acquire() as other:
                    await other.execute("SELECT pg_terminate_backend($1)", pid)
                for _ in range(200):  # until this side has seen it close
                    if intake._gone(connection):
                        break
                    await asyncio.sleep(0.01)
                closed = intake._gone(connection)
                try:
                    async with intake._closed_is_dead(connection):
                        await connection.fetchval("SELECT 1")
                except BaseException as e:
                    return closed, type(e)
                return closed, type(None)
        finally:
            pool.terminate()

    closed, raised = asyncio.run(main())
    if not closed:
        pytest.skip("the closure was not seen in time (a loaded machine)")
    # asyncpg's own word here is InterfaceError ("released back to the pool"): a dead
    # connection, which the intake retries on a fresh one and then answers 503
    assert issubclass(raised, intake._DEAD), raised
    # a live connection's InterfaceError (our own mistake) stays what it is

    async def misuse() -> type[BaseException]:
        pool = await intake.open_pool(make_url(new_db_url), 1)
        try:
            async with pool.acquire() as connection:
                try:
                    async with intake._closed_is_dead(connection):
                        await connection.fetchval("SELECT $1::int", 1, 2)
                except BaseException as e:
                    return type(e)
                return type(None)
        finally:
            pool.terminate()

    wrong = asyncio.run(misuse())
    assert issubclass(wrong, asyncpg.InterfaceError), wrong
    assert not issubclass(wrong, intake._DEAD)
