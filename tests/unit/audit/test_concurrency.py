"""Writers on separate connections at once: one chain, never a fork."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, select

from fairban.audit import AuditEntry, append, verify
from fairban.db import session_factory


def test_two_writers_at_once_make_one_chain(new_engine: Engine) -> None:
    factory = session_factory(new_engine)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            start.wait(timeout=30)
            for n in range(40):
                with factory() as session:
                    append(
                        session,
                        actor=f"system:{name}",
                        action="case:measure:apply",
                        subject=f"case:{name}-{n}",
                        payload={"n": n},
                    )
                    session.commit()
        except BaseException as e:  # reported below, with the thread's own traceback
            errors.append(e)

    threads = [threading.Thread(target=write, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    with factory() as session:
        report = verify(session)
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert report.ok, report.problems
    assert report.entries == 80
    assert [e.id for e in entries] == list(range(1, 81))
    for name in ("one", "two"):
        mine = [e.subject for e in entries if e.actor == f"system:{name}"]
        assert mine == [f"case:{name}-{n}" for n in range(40)]  # each writer's own order kept


def test_a_second_writer_waits_for_the_first_to_commit(new_engine: Engine) -> None:
    """The second writer's entry is read and hashed only after the first commits, so it
    follows the first one's entry instead of forking beside it."""
    factory = session_factory(new_engine)
    first_appended = threading.Event()
    events: list[str] = []
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with factory() as session:
                append(session, actor="system:one", action="case:measure:apply", subject="a")
                first_appended.set()
                # the second writer is now trying to append; it must not get through
                threading.Event().wait(0.5)
                events.append("first commits")
                session.commit()
        except BaseException as e:
            errors.append(e)
            first_appended.set()

    def second() -> None:
        try:
            first_appended.wait(timeout=30)
            with factory() as session:
                append(session, actor="system:two", action="case:measure:apply", subject="b")
                events.append("second appended")
                session.commit()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert events == ["first commits", "second appended"]

    with factory() as session:
        one, two = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        assert (one.subject, two.subject) == ("a", "b")
        assert two.prev_hash == one.entry_hash
        assert verify(session).ok
