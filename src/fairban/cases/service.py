"""Queries on the case store: cases by number, person or directive, their timeline,
notices and webhooks. Read only: every change goes through ``cases/flows.py``."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.cases.models import Case, CaseEvent, NoticeRecord
from fairban.cases.transitions import IN_FORCE, CaseState
from fairban.errors import NotFoundError
from fairban.measures import Measure
from fairban.platforms.models import OutboxMessage

#: longer text is no case number (numbers are like FB-2019-000123)
MAX_NUMBER = 64


def case_by_number(session: Session, number: str) -> Case | None:
    """The case with this number (``FB-2019-000123``; case and spaces forgiven), or None
    (also for text no case number can be, such as a NUL character, which PostgreSQL
    refuses in any text)."""
    number = number.strip().upper()
    if "\x00" in number or len(number) > MAX_NUMBER:
        return None
    return session.scalars(select(Case).where(Case.number == number)).first()


def get_case(session: Session, number: str) -> Case:
    """The case with this number, or :class:`NotFoundError`."""
    case = case_by_number(session, number)
    if case is None:
        raise NotFoundError(f"no case {number.strip()!r}")
    return case


def list_cases(
    session: Session,
    *,
    directive_id: str | None = None,
    states: Collection[CaseState] | None = None,
    person_id: str | None = None,
    measures: Collection[Measure] | None = None,
    limit: int | None = None,
) -> list[Case]:
    """Cases matching every filter given, by number."""
    query = select(Case).order_by(Case.number)
    if directive_id is not None:
        query = query.where(Case.directive_id == directive_id)
    if states is not None:
        query = query.where(Case.state.in_(list(states)))
    if person_id is not None:
        query = query.where(Case.person_id == person_id)
    if measures is not None:
        query = query.where(Case.measure.in_(list(measures)))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def cases_of_person(session: Session, person_id: str, *, in_force: bool = False) -> list[Case]:
    """Every case of every account of the person (all directives); with ``in_force``,
    only those whose measure is in force."""
    return list_cases(session, person_id=person_id, states=IN_FORCE if in_force else None)


def cases_of_directive(
    session: Session, directive_id: str, *, state: CaseState | None = None
) -> list[Case]:
    return list_cases(
        session, directive_id=directive_id, states=None if state is None else (state,)
    )


def counts_of_directive(
    session: Session, directive_id: str
) -> dict[tuple[CaseState, Measure], int]:
    """How many cases of the directive are in each (state, measure)."""
    query = (
        select(Case.state, Case.measure, func.count())
        .where(Case.directive_id == directive_id)
        .group_by(Case.state, Case.measure)
    )
    return {(state, measure): n for state, measure, n in session.execute(query)}


def timeline(session: Session, case: Case) -> list[CaseEvent]:
    """The case's steps, oldest first."""
    query = select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    return list(session.scalars(query))


def notices_of(session: Session, case: Case, *, locale: str | None = None) -> list[NoticeRecord]:
    """The notices stored for the case, oldest first (each in zh-CN and en)."""
    query = select(NoticeRecord).where(NoticeRecord.case_id == case.id)
    if locale is not None:
        query = query.where(NoticeRecord.locale == locale)
    return list(session.scalars(query.order_by(NoticeRecord.id)))


def messages_of(session: Session, case: Case) -> list[OutboxMessage]:
    """The webhooks written for the case, in the order they go out."""
    query = select(OutboxMessage).where(OutboxMessage.case_id == case.id)
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def due_for_expiry(session: Session, now: datetime) -> list[Case]:
    """Cases whose measure is in force and whose expiry is at or before ``now``."""
    query = (
        select(Case)
        .where(Case.state.in_(list(IN_FORCE)), Case.expires_at.is_not(None), Case.expires_at <= now)
        .order_by(Case.id)
    )
    return list(session.scalars(query))
