"""Fixed-window rate limits shared by every worker process through the database.

Used wherever a request can be repeated by anyone: code requests, appeals, exports, and
console sign-ins. A key names what is limited (``code:case:12``, ``login:1.2.3.4``); only
its SHA-256 is stored, never an address or a phone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, bindparam, case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from fairban.db import Base, UTCDateTime
from fairban.digests import sha256_hex


class RateBucket(Base):
    """A fixed-window counter (``key`` names what is limited, hashed: no address or
    phone is stored); shared by every worker process through the database."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer)


def upsert_count(dialect: str) -> Any:
    """The rate-limit upsert, built once per dialect with bound parameters ``key``,
    ``now`` and ``ended`` (the instant before which a window has ended): built per
    call it cost more than its round trip. Returns the window's count and start (when
    it lets the key in again: :func:`wait_after`)."""
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    now = bindparam("now", type_=UTCDateTime())
    ended = RateBucket.window_start <= bindparam("ended", type_=UTCDateTime())
    return (
        insert_(RateBucket)
        .values(key=bindparam("key"), window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[RateBucket.key],
            set_={
                "window_start": case((ended, now), else_=RateBucket.window_start),
                "count": case((ended, 1), else_=RateBucket.count + 1),
            },
        )
        .returning(RateBucket.count, RateBucket.window_start)
    )


_UPSERTS = {d: upsert_count(d) for d in ("postgresql", "sqlite")}


def allow(session: Session, key: str, *, limit: int, window_s: int, now: datetime) -> bool:
    """Count one use of ``key`` in its fixed window; False once more than ``limit`` uses
    fell in the window. The key is stored hashed (it may hold an address or a phone).

    One statement (an upsert that restarts a window that has ended), so concurrent
    requests of the same key count exactly, on SQLite and PostgreSQL alike."""
    connection = session.connection()  # not the session: no ORM bulk-insert path
    params = {"key": sha256_hex(key), "now": now, "ended": now - timedelta(seconds=window_s)}
    count = connection.execute(_UPSERTS[connection.dialect.name], params).scalar_one()
    return int(count) <= limit


def used(session: Session, key: str, *, window_s: int, now: datetime) -> int:
    """How many uses of ``key`` its current window has counted (0 once it has ended):
    for limits that count only failures, checked before the attempt."""
    found = session.execute(
        select(RateBucket.window_start, RateBucket.count).where(RateBucket.key == sha256_hex(key))
    ).first()
    if found is None:
        return 0
    window_start, count = found
    return 0 if window_start <= now - timedelta(seconds=window_s) else count


def wait_after(window_start: datetime, *, window_s: int, now: datetime) -> int:
    """Whole seconds from ``now`` until the window that began at ``window_start`` ends
    (0 once it has): the ``Retry-After`` of a refusal."""
    left = (window_start + timedelta(seconds=window_s) - now).total_seconds()
    return max(0, math.ceil(left))


def wait_s(session: Session, keys: Sequence[str], *, window_s: int, now: datetime) -> int:
    """Whole seconds until every live window of ``keys`` has ended: after a refusal,
    how long the person waits (an upper bound: one of them refused)."""
    hashed = [sha256_hex(k) for k in keys]
    starts = session.scalars(select(RateBucket.window_start).where(RateBucket.key.in_(hashed)))
    return max([0, *(wait_after(start, window_s=window_s, now=now) for start in starts)])


def forget(session: Session, key: str) -> None:
    """End ``key``'s window: its count starts again from nothing."""
    session.connection().execute(delete(RateBucket).where(RateBucket.key == sha256_hex(key)))


def purge_windows(session: Session, now: datetime, *, window_s: int) -> int:
    """Delete the windows that have ended (a new request starts a new one anyway);
    returns how many."""
    ended = delete(RateBucket).where(RateBucket.window_start <= now - timedelta(seconds=window_s))
    return session.connection().execute(ended).rowcount
