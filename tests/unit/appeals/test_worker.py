"""Running re-checks from the appeals table (the queue), on a real database (SQLite and
PostgreSQL): workers that claim at the same instant never share an appeal, a crashed
worker's claim is taken over, and what was claimed is re-checked and committed."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from fairban import audit
from fairban.appeals.blobs import BlobStore
from fairban.appeals.models import Appeal, AppealState
from fairban.appeals.service import DRAIN_WINDOW, DrainGauge, standing
from fairban.appeals.sessions import purge, start_session
from fairban.appeals.worker import (
    STALE_CLAIM,
    RecheckLoop,
    claim_pending,
    lock_waiting,
    purge_expired,
    run_pending,
)
from fairban.audit import Action, AuditEntry
from fairban.cases.models import Case
from fairban.cases.transitions import CaseState
from fairban.contract import Directive
from fairban.db import Backoff, database_lost, db_error_line, session_factory
from fairban.review.users import purge_sessions
from tests.support.appeals import SETTINGS, enforce_people, file
from tests.support.cases import NOW, D, Decide


def committed_appeals(
    engine: Engine, directive: Directive, decide: Decide, blobs: BlobStore, n: int
) -> list[int]:
    """``n`` received appeals, one per suspended account, committed."""
    rows = [D(f"wechat:a{i:02d}", "suspend", f"p-{i}") for i in range(n)]
    with session_factory(engine)() as session, session.begin():
        cases = enforce_people(session, directive, decide, rows)
        return [file(session, case, blobs)[0].id for case in cases.values()]


def appeal_states(engine: Engine) -> dict[int, AppealState]:
    with session_factory(engine, read_only=True)() as session:
        return dict(session.execute(select(Appeal.id, Appeal.state)).all())


def test_workers_claiming_at_once_never_share_an_appeal(
    new_engine: Engine, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    ids = committed_appeals(new_engine, directive, decide, blobs, 24)
    factory = session_factory(new_engine)
    start = threading.Barrier(4)
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        mine: list[int] = []
        try:
            with factory() as session:
                start.wait()
                while batch := claim_pending(session, name, 5, datetime.now(UTC)):
                    mine.extend(batch)
        except BaseException as e:  # reported below: a thread's failure is the test's
            errors.append(e)
        claimed[name] = mine

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    every = [i for batch in claimed.values() for i in batch]
    assert sorted(every) == sorted(ids)  # each appeal claimed, and by one worker only
    with factory() as session:
        owners = dict(session.execute(select(Appeal.id, Appeal.recheck_claim)).all())
    assert all(owners[i] == name for name, batch in claimed.items() for i in batch)


def test_a_claim_waits_for_its_worker_until_it_is_stale(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    ids = [file(session, enforced[a], blobs)[0].id for a in ("wechat:f1", "alipay:mule")]
    session.commit()
    assert claim_pending(session, "crashed", 10, NOW) == ids
    assert claim_pending(session, "other", 10, NOW + STALE_CLAIM - timedelta(seconds=1)) == []
    taken = claim_pending(session, "other", 10, NOW + STALE_CLAIM + timedelta(seconds=1))
    assert taken == ids
    claims = session.scalars(select(Appeal.recheck_claim).order_by(Appeal.id)).all()
    assert claims == ["other", "other"]


def test_only_appeals_waiting_for_their_recheck_are_claimed_in_order(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    first, _ = file(session, enforced["wechat:f1"], blobs)
    second, _ = file(session, enforced["alipay:mule"], blobs)
    third, _ = file(session, enforced["wechat:solo"], blobs)
    second.state = AppealState.QUEUED  # already re-checked
    session.commit()
    assert claim_pending(session, "w", 1, NOW) == [first.id]  # the limit
    assert claim_pending(session, "w", 10, NOW) == [third.id]
    assert claim_pending(session, "w", 10, NOW) == []


def test_run_pending_rechecks_what_waits_and_commits_it(
    new_engine: Engine, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    ids = committed_appeals(new_engine, directive, decide, blobs, 3)
    factory = session_factory(new_engine)
    with factory() as session:  # one is held by a live worker elsewhere
        assert claim_pending(session, "elsewhere", 1, datetime.now(UTC)) == ids[:1]
    assert run_pending(factory, None, SETTINGS, worker="here") == 2
    assert appeal_states(new_engine) == {
        ids[0]: AppealState.RECEIVED,
        ids[1]: AppealState.QUEUED,
        ids[2]: AppealState.QUEUED,
    }
    with factory() as session:
        states = session.scalars(select(Case.state).order_by(Case.id)).all()
        assert states == [CaseState.ACTIVE, CaseState.APPEALED, CaseState.APPEALED]
        assert session.scalars(select(Appeal.recheck_claim).order_by(Appeal.id)).all() == [
            "elsewhere",
            None,
            None,
        ]
    assert run_pending(factory, None, SETTINGS, worker="here") == 0


def test_the_loop_rechecks_appeals_filed_elsewhere(
    new_engine: Engine, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    ids = committed_appeals(new_engine, directive, decide, blobs, 2)
    loop = RecheckLoop(session_factory(new_engine), lambda: None, SETTINGS, interval_s=0.05)
    loop.start()
    try:
        deadline = time.monotonic() + 60
        while set(appeal_states(new_engine).values()) != {AppealState.QUEUED}:
            assert time.monotonic() < deadline, appeal_states(new_engine)
            time.sleep(0.05)
    finally:
        loop.stop()
    assert sorted(appeal_states(new_engine)) == sorted(ids)


def test_purge_expired_runs_every_purge_in_one_transaction(
    new_engine: Engine, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    committed_appeals(new_engine, directive, decide, blobs, 1)
    factory = session_factory(new_engine)
    with factory() as session, session.begin():
        case = session.scalars(select(Case)).one()
        start_session(session, case, NOW)  # expired long ago
        start_session(session, case, datetime.now(UTC))  # live
    deleted = purge_expired(
        factory,
        [
            lambda s, now: purge(s, now, rate_window_s=SETTINGS.rate_window_s),
            purge_sessions,
        ],
    )
    assert deleted == {
        "portal_sessions": 1,
        "one_time_codes": 0,
        "rate_buckets": 0,
        "console_sessions": 0,
    }
    assert purge_expired(factory, [purge_sessions]) == {"console_sessions": 0}


def test_a_batch_locks_its_appeals_and_other_processes_skip_them(
    new_engine: Engine, db_kind: str, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    """PostgreSQL: the batch's rows are locked in the transaction that re-checks them
    (``FOR UPDATE SKIP LOCKED``): a second worker takes the others, never the same."""
    if db_kind != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite serialises writers)")
    ids = committed_appeals(new_engine, directive, decide, blobs, 6)
    factory = session_factory(new_engine)
    with factory() as holder, holder.begin():
        held = [a.id for a in lock_waiting(holder, 4, datetime.now(UTC))]
        assert held == ids[:4]
        # meanwhile another worker re-checks what is not held, and only that
        assert run_pending(factory, None, SETTINGS, worker="other") == 2
        assert run_pending(factory, None, SETTINGS, worker="other") == 0
    states = appeal_states(new_engine)
    assert [states[i] for i in ids] == [AppealState.RECEIVED] * 4 + [AppealState.QUEUED] * 2
    # the holder's transaction ended without a re-check: its appeals are free again
    assert run_pending(factory, None, SETTINGS, worker="again") == 4
    assert set(appeal_states(new_engine).values()) == {AppealState.QUEUED}
    with factory() as session:
        report = audit.verify(session)
        rechecks = session.scalars(
            select(AuditEntry.payload).where(AuditEntry.action == Action.APPEAL_RECHECK_QUEUE)
        ).all()
    assert report.ok, report.problems
    assert sorted(json.loads(p)["appeal"] for p in rechecks) == sorted(ids)  # once each


def test_the_queue_standing_comes_from_the_measured_drain_rate(
    new_engine: Engine, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    ids = committed_appeals(new_engine, directive, decide, blobs, 8)
    factory = session_factory(new_engine)
    with factory() as session:
        last = session.get(Appeal, ids[-1])
        assert last is not None
        idle = standing(session, last, datetime.now(UTC))
    assert idle is not None
    assert idle.ahead == 7
    assert idle.rate_per_s == 0
    assert idle.expected is None  # a queue that has not moved in the window: not known
    assert run_pending(factory, None, SETTINGS, limit=6) == 6
    now = datetime.now(UTC)
    with factory() as session:
        last = session.get(Appeal, ids[-1])
        first = session.get(Appeal, ids[0])
        assert last is not None
        assert first is not None
        moving = standing(session, last, now)
        assert standing(session, first, now) is None  # past the re-check
    assert moving is not None
    assert moving.ahead == 1
    assert moving.rate_per_s == pytest.approx(6 / DRAIN_WINDOW.total_seconds())
    assert moving.expected == now + timedelta(seconds=2 / moving.rate_per_s)


def test_the_intakes_promise_comes_from_the_drain_measured_once_a_second(
    new_engine: Engine, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    """What a filing is promised (``expected_decision`` of its 201) is the status page's
    estimate for the last place in the queue, from a measure at most a second old."""
    ids = committed_appeals(new_engine, directive, decide, blobs, 8)
    factory = session_factory(new_engine)
    gauge = DrainGauge(factory)
    t = datetime.now(UTC)
    assert gauge.fresh(t) is None
    idle = gauge.read(t)
    assert (idle.waiting, idle.rate_per_s) == (8, 0)
    assert idle.expected(t, t) is None  # a queue that does not move: not known
    assert run_pending(factory, None, SETTINGS, limit=6) == 6
    # within the second the measure stands (no query per filing) ...
    soon = t + timedelta(milliseconds=500)
    assert gauge.read(soon) is idle
    # ... then it is measured again
    later = t + timedelta(seconds=1)
    moving = gauge.read(later)
    assert (moving.waiting, moving.measured_at) == (2, later)
    assert moving.rate_per_s == pytest.approx(6 / DRAIN_WINDOW.total_seconds())
    assert moving.expected(later, later) == later + timedelta(seconds=3 / moving.rate_per_s)
    # the status page's estimate for an appeal behind the same queue says the same
    with factory() as session:
        last = session.get(Appeal, ids[-1])
        assert last is not None
        page = standing(session, last, later)
    assert page is not None
    assert page.expected == later + timedelta(seconds=(page.ahead + 1) / moving.rate_per_s)
    assert run_pending(factory, None, SETTINGS, limit=6) == 2
    empty = gauge.read(later + timedelta(seconds=2))
    assert empty.waiting == 0
    # nothing ahead: the next re-check of the queue, at the measured rate
    assert empty.expected(later, later) == later + timedelta(seconds=1 / empty.rate_per_s)


def test_a_lost_database_is_told_from_a_failing_appeal() -> None:
    """A batch is tried appeal by appeal only when the appeals are at fault; a lost
    database (a restart) makes the loop wait and take the batch again whole."""
    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection\nmore"))
    assert database_lost(lost)
    assert db_error_line(lost) == "server closed the connection"
    assert not database_lost(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not database_lost(ValueError("a broken appeal"))
    # PostgreSQL says why: a restart, a deadlock or a full disk is waited for; a
    # statement cancelled by its timeout is about the batch, tried appeal by appeal
    for error, waits in (
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.DiskFull("could not extend file"), True),
        (psycopg.errors.ConnectionException("connection failure"), True),
        (psycopg.errors.OperationalError("connection refused"), True),  # no SQLSTATE
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
    ):
        assert database_lost(OperationalError("SELECT 1", {}, error)) is waits, error


def test_sqlite_is_lost_only_when_busy_locked_or_unopenable(tmp_path: Path) -> None:
    """SQLite's "no such table" is an OperationalError too: a mistake (a 500, a batch
    tried appeal by appeal), not a database away; busy or locked is waited for."""
    import sqlite3

    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    errors = {}
    for name, sql in (("locked", "SELECT * FROM t"), ("missing", "SELECT * FROM gone")):
        try:
            (holder if name == "missing" else other).execute(sql)
        except sqlite3.OperationalError as e:
            errors[name] = e
    holder.close()
    other.close()
    assert database_lost(OperationalError("SELECT", {}, errors["locked"]))
    assert not database_lost(OperationalError("SELECT", {}, errors["missing"]))


def test_the_wait_for_the_database_doubles_up_to_its_cap() -> None:
    backoff = Backoff(0.5, 5.0)
    assert [backoff.next_s() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_s() == 0.5


def test_the_gauge_measures_beside_a_filing_that_holds_the_write_lock(
    new_engine: Engine, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    """A filing asks for its promise inside its own write transaction: the measure is
    read-only, so on SQLite it does not wait for that transaction's lock (it did, until
    the busy timeout, and the filing failed: 'database is locked')."""
    committed_appeals(new_engine, directive, decide, blobs, 3)
    gauge = DrainGauge(session_factory(new_engine, read_only=True))
    with session_factory(new_engine)() as filing, filing.begin():
        filing.execute(Appeal.__table__.update().values(statement="held"))  # the lock
        started = time.monotonic()
        measure = gauge.read(datetime.now(UTC))
        assert time.monotonic() - started < 2
    assert measure is not None
    assert measure.waiting == 3


def test_a_measure_that_fails_never_fails_the_filing() -> None:
    """The database busy or away while the gauge measures: the last measure, or none."""
    from sqlalchemy.exc import OperationalError

    def broken() -> Session:
        raise OperationalError("SELECT count(*)", {}, Exception("database is locked"))

    gauge = DrainGauge(broken)
    assert gauge.read(datetime.now(UTC)) is None
