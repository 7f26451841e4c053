"""Running re-checks: appeals claimed from the table (the queue), re-checked in batches,
by the re-check loop of ``fairban serve`` or ``fairban appeals recheck --watch``.

Several processes share the queue. On PostgreSQL each batch locks its rows
(``FOR UPDATE SKIP LOCKED``) in the transaction that re-checks them, so no two processes
do the same appeal and a killed one leaves nothing claimed; on SQLite a claim marks
appeals with the worker's id, and a claim older than ``STALE_CLAIM`` (a crashed worker)
is taken over. Either way nothing is lost on restart and no appeal is re-checked twice.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload, selectinload, sessionmaker

from fairban import audit, metrics
from fairban.appeals.flows import recheck, recheck_batch
from fairban.appeals.models import Appeal, AppealState
from fairban.appeals.recheck import DecisionCache
from fairban.appeals.sessions import PURGE_EVERY_S
from fairban.config import Settings
from fairban.db import Backoff, database_lost, db_error_line

log = logging.getLogger("fairban.appeals")


STALE_CLAIM = timedelta(seconds=120)


def claim_pending(session: Session, worker: str, limit: int, now: datetime) -> list[int]:
    """Claim up to ``limit`` appeals waiting for their re-check (a claim older than
    two minutes is taken over: its worker died). Commits."""
    waiting = (
        select(Appeal.id)
        .where(
            Appeal.state == AppealState.RECEIVED,
            or_(Appeal.recheck_claim.is_(None), Appeal.recheck_claimed_at < now - STALE_CLAIM),
        )
        .order_by(Appeal.id)
        .limit(limit)
    )
    ids = list(session.scalars(waiting))
    if not ids:
        session.rollback()
        return []
    session.execute(
        update(Appeal)
        .where(
            Appeal.id.in_(ids),
            Appeal.state == AppealState.RECEIVED,
            or_(Appeal.recheck_claim.is_(None), Appeal.recheck_claimed_at < now - STALE_CLAIM),
        )
        .values(recheck_claim=worker, recheck_claimed_at=now)
    )
    session.commit()
    return list(
        session.scalars(select(Appeal.id).where(Appeal.id.in_(ids), Appeal.recheck_claim == worker))
    )


def run_pending(
    factory: sessionmaker[Session],
    cache: DecisionCache | None,
    settings: Settings,
    *,
    worker: str | None = None,
    limit: int = 200,
) -> int:
    """Take in and re-check the appeals that wait for it; returns how many were done.

    On PostgreSQL a batch is claimed and done in one transaction: its rows are locked
    with ``SELECT ... FOR UPDATE SKIP LOCKED`` (other processes take the next ones, never
    the same) and the re-check, its audit entries (written together at the end:
    :func:`fairban.audit.batched`), lifts, notices and outbox messages commit with them.
    A process killed half-way holds nothing afterwards: its transaction is rolled back
    and the rows are free again. Elsewhere (SQLite) the claim is a column, taken over
    when stale. If a batch fails, each appeal is tried in its own transaction, and one
    that still fails is marked claimed and retried once the claim is stale."""
    worker = worker or uuid.uuid4().hex
    with factory() as session:
        locking = session.get_bind().dialect.name == "postgresql"
        if locking:
            ids = []
        else:
            ids = claim_pending(session, worker, limit, datetime.now(UTC))
            if not ids:
                return 0
    try:
        with factory() as session, session.begin():
            if locking:
                appeals = lock_waiting(session, limit, datetime.now(UTC))
                ids = [a.id for a in appeals]
            else:
                appeals = _claimed(session, ids, worker)
            if not appeals:
                return 0
            with audit.batched(session):
                recheck_batch(session, appeals, cache, settings)
            filed = [a.filed_at for a in appeals]
        _observe(filed)
        return len(ids)
    except Exception as e:
        if database_lost(e):
            raise
        log.exception("re-check of a batch of %s failed; one at a time", len(ids))
    done = 0
    for appeal_id in ids:
        try:
            filed = []
            with factory() as session, session.begin():
                if locking:
                    one = lock_waiting(session, 1, datetime.now(UTC), appeal_id)
                else:
                    one = _claimed(session, [appeal_id], worker)
                for appeal in one:
                    recheck(session, appeal, cache, settings)
                    filed.append(appeal.filed_at)
            _observe(filed)
            done += len(filed)
        except Exception as e:
            if database_lost(e):
                raise
            metrics.RECHECKS.labels("failed").inc()
            log.exception("re-check of appeal %s failed; retried later", appeal_id)
            if locking:  # keep it out of the next batches until the claim is stale
                with factory() as session, session.begin():
                    session.execute(
                        update(Appeal)
                        .where(Appeal.id == appeal_id, Appeal.state == AppealState.RECEIVED)
                        .values(recheck_claim=worker, recheck_claimed_at=datetime.now(UTC))
                    )
    return done


def lock_waiting(
    session: Session, limit: int, now: datetime, appeal_id: int | None = None
) -> list[Appeal]:
    """Up to ``limit`` waiting appeals, oldest first, locked until the transaction ends;
    rows another transaction holds are skipped. With their cases and uploads, loaded in
    two queries for the whole batch."""
    query = (
        select(Appeal)
        .where(
            Appeal.state == AppealState.RECEIVED,
            or_(Appeal.recheck_claim.is_(None), Appeal.recheck_claimed_at < now - STALE_CLAIM),
        )
        .order_by(Appeal.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Appeal)
        .options(joinedload(Appeal.case, innerjoin=True), selectinload(Appeal.uploads))
    )
    if appeal_id is not None:
        query = query.where(Appeal.id == appeal_id)
    return list(session.scalars(query).unique())


def _observe(filed: list[datetime]) -> None:
    """Count committed re-checks and their latency from filing (``fairban.metrics``)."""
    now = datetime.now(UTC)
    for at in filed:
        metrics.RECHECK_SECONDS.observe(max(0.0, (now - at).total_seconds()))
    metrics.RECHECKS.labels("done").inc(len(filed))


def _claimed(session: Session, ids: list[int], worker: str) -> list[Appeal]:
    query = select(Appeal).where(Appeal.id.in_(ids), Appeal.recheck_claim == worker)
    return list(session.scalars(query.order_by(Appeal.id)))


#: deletes what can no longer be used, as of an instant; returns rows deleted per table
Purge = Callable[[Session, datetime], Mapping[str, int]]


def purge_expired(factory: sessionmaker[Session], purges: Sequence[Purge]) -> dict[str, int]:
    """Every purge (the portal's ``appeals.sessions.purge``, the console's
    ``review.users.purge_sessions``) in one transaction of its own; logs what it
    deleted."""
    deleted: dict[str, int] = {}
    with factory() as session, session.begin():
        now = datetime.now(UTC)
        for purge in purges:
            deleted.update(purge(session, now))
    if any(deleted.values()):
        log.info("purged %s", ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
    return deleted


class RecheckLoop:
    """A thread that runs :func:`run_pending` whenever woken (an appeal was filed in
    this process) and every ``interval_s`` (appeals filed by other processes, or left
    by a crash: the table is the queue, so nothing is lost on restart)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        cache_for: Callable[[], DecisionCache | None],
        settings: Settings,
        purges: Sequence[Purge] = (),
        interval_s: float = 1.0,
    ) -> None:
        self.factory = factory
        self.cache_for = cache_for
        self.settings = settings
        self.purges = purges
        self.interval_s = interval_s
        self.worker = uuid.uuid4().hex
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fairban-recheck", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        purged = 0.0
        backoff = Backoff()
        wait_s = self.interval_s
        while not self._stop.is_set():
            self._wake.wait(wait_s)
            self._wake.clear()
            try:
                while (
                    run_pending(self.factory, self.cache_for(), self.settings, worker=self.worker)
                    > 0
                ):
                    pass
                if time.monotonic() - purged >= PURGE_EVERY_S:
                    purge_expired(self.factory, self.purges)
                    purged = time.monotonic()
                backoff.reset()
                wait_s = self.interval_s
            except Exception as e:
                if not database_lost(e):
                    log.exception("re-check loop failed; trying again")
                    wait_s = self.interval_s
                    continue
                # a restart of the database: one line, and no hurry (each try would fail)
                wait_s = backoff.next_s()
                log.warning(
                    "re-check: database unavailable (%s); trying again in %.1f s",
                    db_error_line(e),
                    wait_s,
                )
