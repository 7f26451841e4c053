"""Batched appends: entries collected without the log's lock, chained and written
together just before the commit, as one run of consecutive entries."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from fairban.audit import AuditEntry, append, batched, is_batched, verify
from fairban.db import add_row, session_factory
from fairban.platforms.models import Platform


def _append(session: Session, subject: str) -> AuditEntry | None:
    return append(session, actor="system:t", action="case:measure:apply", subject=subject)


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_a_batch_is_written_at_its_end_in_order(session: Session) -> None:
    _append(session, "case:before")
    session.commit()
    with batched(session):
        assert is_batched(session)
        entries = [_append(session, f"case:{n}") for n in range(5)]
        assert entries == [None] * 5  # collected, not written yet: no id to give
        assert count(session) == 1
    assert not is_batched(session)
    assert count(session) == 6  # written at the block's end, before the commit
    session.commit()
    written = session.execute(select(AuditEntry.id, AuditEntry.subject).order_by(AuditEntry.id))
    assert [tuple(r) for r in written] == [
        (1, "case:before"),
        *((n + 2, f"case:{n}") for n in range(5)),
    ]
    report = verify(session)
    assert report.ok, report.problems


def test_a_rolled_back_batch_leaves_no_entry(session: Session) -> None:
    with batched(session):
        _append(session, "case:gone")
    session.rollback()
    assert count(session) == 0
    try:
        with batched(session):
            _append(session, "case:gone")
            raise RuntimeError("the flow failed")
    except RuntimeError:
        session.rollback()
    assert count(session) == 0


def _platform(name: str) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "name": name,
        "webhook_url": "http://p",
        "secret": "s",
        "created_at": now,
        "updated_at": now,
    }


def platforms(session: Session) -> list[str]:
    return list(session.scalars(select(Platform.name).order_by(Platform.name)))


def test_a_batchs_rows_are_written_at_its_flushes_and_before_its_end(session: Session) -> None:
    with batched(session):
        add_row(session, Platform, _platform("p1"))
        assert platforms(session) == []  # kept: nothing to flush yet
        session.add(Platform(**_platform("p2")))
        assert platforms(session) == ["p1", "p2"]  # the query's autoflush wrote both
        add_row(session, Platform, _platform("p3"))
        add_row(session, Platform, _platform("p4"))
        _append(session, "case:a")
    session.commit()
    assert platforms(session) == ["p1", "p2", "p3", "p4"]
    assert count(session) == 1
    # outside a batch, a row is an object of the session, as ever
    add_row(session, Platform, _platform("p5"))
    assert any(isinstance(o, Platform) for o in session.new)
    session.rollback()
    with batched(session):
        add_row(session, Platform, _platform("p6"))
    session.rollback()
    assert platforms(session) == ["p1", "p2", "p3", "p4"]


def test_a_commit_inside_a_batch_writes_its_entries_first(session: Session) -> None:
    with batched(session):
        _append(session, "case:a")
        session.commit()  # never an action committed without its entry
        assert count(session) == 1
        _append(session, "case:b")
    session.commit()
    assert count(session) == 2
    assert verify(session).ok


def test_batches_of_concurrent_writers_make_one_chain(new_engine: Engine) -> None:
    factory = session_factory(new_engine)
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            start.wait(timeout=30)
            for b in range(10):
                with factory() as session, session.begin(), batched(session):
                    for n in range(5):
                        _append(session, f"case:{name}-{b}-{n}")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(f"w{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with factory() as session:
        report = verify(session)
        subjects = session.scalars(select(AuditEntry.subject).order_by(AuditEntry.id)).all()
    assert report.ok, report.problems
    assert report.entries == 150
    # each batch is a run of consecutive entries
    for k in range(0, 150, 5):
        run = subjects[k : k + 5]
        assert len({s.rsplit("-", 1)[0] for s in run}) == 1, run


def test_a_batchs_rows_come_back_as_given_whatever_they_hold(session: Session) -> None:
    """On PostgreSQL a batch's rows go in by COPY (its text format escapes tabs, new
    lines and backslashes); on SQLite by executemany: either way each value comes back
    as given, enums by value, instants aware in UTC, NULL as None."""
    from fairban.db import _COPY_PLANS
    from fairban.platforms.models import MessageKind, OutboxMessage, OutboxState

    beijing = timezone(timedelta(hours=8))
    odd = "tab\there\nnew line \\N \\. back\\slash \"q\" 'a' 案件\r\x01 end"
    rows = [
        {
            "idempotency_key": f"k{n}",
            "platform": "qq",
            "account_id": f"qq:{odd}" if n % 2 else "qq:1",
            "case_id": None,
            "directive_id": None if n % 2 else "d",
            "kind": MessageKind.LIFT,
            "payload": odd * (n + 1),
            "state": OutboxState.PENDING,
            "attempts": n,
            "next_attempt_at": datetime(2019, 10, 14, 8, 30, 1, 250, tzinfo=beijing),
            "created_at": datetime(2019, 10, 14, 0, 30, 1, tzinfo=UTC),
        }
        for n in range(3)
    ]
    _COPY_PLANS.clear()
    with batched(session):
        for row in rows:
            add_row(session, OutboxMessage, dict(row))
    session.commit()
    copied = session.get_bind().dialect.name == "postgresql"
    assert bool(_COPY_PLANS) == copied
    back = session.scalars(select(OutboxMessage).order_by(OutboxMessage.idempotency_key)).all()
    for row, message in zip(rows, back, strict=True):
        for name, value in row.items():
            assert getattr(message, name) == value, name
        assert message.next_attempt_at.utcoffset() == timedelta(0)
        assert message.delivered_at is None
