"""Queries for the portal and the console: a case's notice facts and timeline, its
appeals, and per-directive appeal statistics."""

from __future__ import annotations

import json
import math
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from fairban.appeals.filing import AppealTarget
from fairban.appeals.models import OPEN_STATES, Appeal, AppealState, DataExport
from fairban.cases.models import Case, CaseEvent
from fairban.cases.transitions import CaseState, DeciderKind
from fairban.directives.models import DirectiveRecord
from fairban.directives.service import translations as directive_translations
from fairban.measures import VISIBLE
from fairban.notices import NoticeFacts, reasons_from_json
from fairban.notices.model import LIFT_REASONS


def latest_appeal(session: Session, case: Case) -> Appeal | None:
    return session.scalars(
        select(Appeal).where(Appeal.case_id == case.id).order_by(Appeal.id.desc()).limit(1)
    ).first()


def open_appeal(session: Session, case: AppealTarget) -> Appeal | None:
    return session.scalars(
        select(Appeal).where(Appeal.case_id == case.id, Appeal.state.in_(OPEN_STATES))
    ).first()


def events(session: Session, case: Case) -> list[CaseEvent]:
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        )
    )


def notice_facts(
    session: Session,
    case: Case,
    *,
    appeal_url: str,
    answer_by: datetime | None,
    answer_hours: int = 48,
    appeal_button: str = "",
    review_reason: str | None = None,
) -> NoticeFacts | None:
    """The facts of the case's current notice (measure, or lift), None when the case
    has none to show (monitor, proposed). ``answer_by`` None: no appeal filed yet (the
    notice counts ``answer_hours`` from the filing)."""
    record = session.get(DirectiveRecord, case.directive_id)
    if record is None:
        return None
    if case.state == CaseState.LIFTED:
        measure = "lift"
        last = events(session, case)
        note = last[-1].note if last else ""
        lift_reason: str | None = note if note in LIFT_REASONS else "review"
        decided_at = last[-1].at if last else case.updated_at
        automated = bool(last) and last[-1].actor_kind == DeciderKind.AUTOMATIC
    elif case.state == CaseState.PROPOSED or case.measure.value == "monitor":
        return None
    else:
        measure = case.measure.value
        lift_reason = None
        decided_at = case.decided_at
        automated = case.decided_by_kind == DeciderKind.AUTOMATIC
    return NoticeFacts(
        case_number=case.number,
        account_id=case.account_id,
        platform=case.platform,
        measure=measure,  # type: ignore[arg-type]
        reasons=reasons_from_json(case.reasons),
        directive_id=record.id,
        directive_title=record.title,
        issuer=record.issuer,
        legal_basis=record.legal_basis,
        decided_at=decided_at,
        automated=automated,
        appeal_url=appeal_url,
        short_url=appeal_url,
        answer_by=answer_by,
        expires_at=case.expires_at,
        lift_reason=lift_reason,
        account_kind=case.account_kind,
        answer_hours=answer_hours,
        translations=directive_translations(session, case.directive_id, case.directive_version),
        appeal_button=appeal_button,
        review_reason=review_reason,
    )


def exports(session: Session, case: Case) -> list[DataExport]:
    return list(
        session.scalars(
            select(DataExport).where(DataExport.case_id == case.id).order_by(DataExport.id.desc())
        )
    )


@dataclass(frozen=True)
class DirectiveStats:
    directive_id: str
    title: str
    paused: bool
    measured: int  # cases that ever had restrict or suspend enforced
    appeals: int
    decided: int
    granted: int
    median_hours_to_decision: float | None
    p90_hours_to_decision: float | None

    @property
    def appeal_rate(self) -> float | None:
        return self.appeals / self.measured if self.measured else None

    @property
    def grant_rate(self) -> float | None:
        return self.granted / self.decided if self.decided else None


def directive_stats(session: Session) -> list[DirectiveStats]:
    """Per directive: appeal rate (appeals per measured case), grant rate (granted per
    decided appeal) and time from filing to decision."""
    out = []
    for record in session.scalars(select(DirectiveRecord).order_by(DirectiveRecord.id)):
        measured = (
            session.scalar(
                select(func.count())
                .select_from(Case)
                .where(
                    Case.directive_id == record.id,
                    Case.measure.in_(sorted(VISIBLE)),
                    Case.state != CaseState.PROPOSED,
                )
            )
            or 0
        )
        rows = session.execute(
            select(Appeal.state, Appeal.filed_at, Appeal.decided_at).where(
                Appeal.directive_id == record.id
            )
        ).all()
        decided = [r for r in rows if r.state not in OPEN_STATES]
        hours = sorted(
            (r.decided_at - r.filed_at).total_seconds() / 3600 for r in decided if r.decided_at
        )
        out.append(
            DirectiveStats(
                directive_id=record.id,
                title=record.title,
                paused=record.paused,
                measured=measured,
                appeals=len(rows),
                decided=len(decided),
                granted=sum(1 for r in decided if r.state == AppealState.GRANTED),
                median_hours_to_decision=statistics.median(hours) if hours else None,
                # nearest rank: the smallest time that 90% of decisions took at most
                p90_hours_to_decision=hours[math.ceil(0.9 * len(hours)) - 1] if hours else None,
            )
        )
    return out


def recheck_summary(appeal: Appeal) -> dict[str, object]:
    return dict(json.loads(appeal.recheck or "{}"))


def expected_decision(appeal: Appeal, now: datetime) -> datetime | None:
    """When the person can expect the answer where the queue was not measured: a minute
    after filing while the re-check runs, the deadline once a person decides, None once
    decided. Filings and the status page promise from the measured drain instead
    (:class:`DrainGauge`, :func:`standing`)."""
    return expected_for(appeal.state, appeal.filed_at, appeal.answer_by, now)


def expected_for(
    state: AppealState, filed_at: datetime, answer_by: datetime, now: datetime
) -> datetime | None:
    """:func:`expected_decision` from the columns."""
    if state == AppealState.RECEIVED:
        return max(now, filed_at + timedelta(minutes=1))
    if state == AppealState.QUEUED:
        return answer_by
    return None


#: the window over which the re-check's drain rate is measured
DRAIN_WINDOW = timedelta(seconds=60)
#: how long a measured drain serves the intake's answers (it takes ~1,000 a second)
DRAIN_MAX_AGE = timedelta(seconds=1)


def drain_rate(session: Session, now: datetime) -> float:
    """Re-checks finished per second over the last :data:`DRAIN_WINDOW`, every process
    (an index-only count)."""
    done = session.scalar(
        select(func.count()).select_from(Appeal).where(Appeal.rechecked_at > now - DRAIN_WINDOW)
    )
    return (done or 0) / DRAIN_WINDOW.total_seconds()


def expected_at(
    ahead: int, rate_per_s: float, filed_at: datetime, now: datetime
) -> datetime | None:
    """When the re-check of an appeal with ``ahead`` appeals before it is expected:
    ``(ahead + 1) / rate`` from now at the measured rate; a minute after filing when
    nothing is in the way and nothing was measured; None when appeals wait and nothing
    finished in the window (the re-check is stalled or just starting)."""
    if rate_per_s > 0:
        return now + timedelta(seconds=(ahead + 1) / rate_per_s)
    if not ahead:
        return max(now, filed_at + timedelta(minutes=1))
    return None


@dataclass(frozen=True)
class Standing:
    """Where an appeal waiting for the automatic re-check stands in the queue."""

    ahead: int  # appeals filed before it that still wait for the re-check
    rate_per_s: float  # re-checks finished over the last DRAIN_WINDOW, every process
    #: when its re-check is expected, from the measured rate; None when the queue moves
    #: but nothing finished in the window (the re-check is stalled or just starting)
    expected: datetime | None


def standing(session: Session, appeal: Appeal, now: datetime) -> Standing | None:
    """The appeal's place in the re-check's queue and when its turn is expected:
    ``ahead / rate`` at the rate measured over the last minute, not a constant (two
    index-only counts). None once the appeal is past the re-check."""
    if appeal.state != AppealState.RECEIVED:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Appeal)
        .where(Appeal.state == AppealState.RECEIVED, Appeal.id < appeal.id)
    )
    rate = drain_rate(session, now)
    return Standing(ahead or 0, rate, expected_at(ahead or 0, rate, appeal.filed_at, now))


@dataclass(frozen=True)
class Drain:
    """The re-check's queue as measured at ``measured_at``: appeals waiting for it and
    the drain rate."""

    waiting: int
    rate_per_s: float
    measured_at: datetime

    def expected(self, filed_at: datetime, now: datetime) -> datetime | None:
        """When the re-check of an appeal just filed (behind every waiting one) is
        expected: :func:`expected_at`, as the status page says it."""
        return expected_at(self.waiting, self.rate_per_s, filed_at, now)


def drain(session: Session, now: datetime) -> Drain:
    """The queue and its drain rate now (two index-only counts)."""
    waiting = session.scalar(
        select(func.count()).select_from(Appeal).where(Appeal.state == AppealState.RECEIVED)
    )
    return Drain(waiting or 0, drain_rate(session, now), now)


class DrainGauge:
    """:func:`drain`, measured at most once per :data:`DRAIN_MAX_AGE` for a process's
    filings (its answers' ``expected_decision``): the counts per appeal would cost more
    than the appeal. While one thread measures, the others answer from the last
    measure."""

    def __init__(self, factory: Callable[[], Session], max_age: timedelta = DRAIN_MAX_AGE) -> None:
        # ``factory``: read-only sessions. A filing's own session holds SQLite's write
        # lock while it asks; a second writer in the same thread would wait for it.
        self._factory = factory
        self._max_age = max_age
        self._lock = threading.Lock()
        self._last: Drain | None = None

    def fresh(self, now: datetime) -> Drain | None:
        """The last measure while it is fresh, else None (no database)."""
        last = self._last
        if last is not None and timedelta(0) <= now - last.measured_at < self._max_age:
            return last
        return None

    def read(self, now: datetime) -> Drain | None:
        """A fresh measure, measuring when the last one is too old (blocking: call it
        in a thread). A measure that fails (the database busy or away) gives the last
        one, or None: a filing is never refused for its estimate."""
        last = self.fresh(now)
        if last is not None:
            return last
        if not self._lock.acquire(blocking=self._last is None):
            return self._last  # another thread is measuring right now
        try:
            last = self.fresh(now)  # measured while this thread waited
            if last is None:
                with self._factory() as session:
                    last = self._last = drain(session, now)
            return last
        except OperationalError:
            return self._last
        finally:
            self._lock.release()


def linked_cases_all(session: Session, case: Case) -> list[Case]:
    """Every case of the case's person, any state (the case alone without a person)."""
    if not case.person_id:
        return [case]
    return list(session.scalars(select(Case).where(Case.person_id == case.person_id)))
