"""The review queue: open appeals a person decides, by priority, with claims.

Priority (higher first) adds the measure's severity, the urgency of the deadline and
the appellant's vulnerability:

- severity: suspend 3, restrict 2, monitor 1;
- urgency: 0 with two days or more left, rising to 3 at the deadline and beyond;
- vulnerability: +1 for a shop or business account (a livelihood), +1 when the person
  says they were a victim, +1 when more than one of the person's accounts is held.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, case, func, select, tuple_
from sqlalchemy.orm import Session, contains_eager

from fairban import audit
from fairban.appeals.models import Appeal, AppealState
from fairban.audit.actions import Action
from fairban.cases.models import Case
from fairban.cases.transitions import IN_FORCE
from fairban.review.models import ConsoleUser, Role

#: a claim this old no longer keeps others off the appeal
CLAIM_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class QueueItem:
    appeal: Appeal
    case: Case
    priority: float
    hours_left: float
    held_accounts: int

    @property
    def overdue(self) -> bool:
        return self.hours_left < 0


def priority(case: Case, appeal: Appeal, held_accounts: int, now: datetime) -> float:
    hours_left = (appeal.answer_by - now).total_seconds() / 3600
    urgency = min(3.0, max(0.0, 3.0 * (1 - hours_left / 48)))
    vulnerable = (
        (case.account_kind in ("merchant", "business"))
        + ("victim" in json.loads(appeal.grounds))
        + (held_accounts > 1)
    )
    return float(case.measure.severity) + urgency + vulnerable


def _items(session: Session, appeals: list[Appeal], now: datetime) -> list[QueueItem]:
    """``appeals`` (their cases loaded) as queue items: priority and accounts held."""
    persons = {a.case.person_id for a in appeals if a.case.person_id}
    held: dict[str, int] = {}
    if persons:
        rows = session.execute(
            select(Case.person_id, func.count())
            .where(Case.person_id.in_(persons), Case.state.in_(list(IN_FORCE)))
            .group_by(Case.person_id)
        ).all()
        held = {p: n for p, n in rows if p}
    items = []
    for a in appeals:
        n = held.get(a.case.person_id or "", 1)
        items.append(
            QueueItem(
                appeal=a,
                case=a.case,
                priority=priority(a.case, a, n, now),
                hours_left=(a.answer_by - now).total_seconds() / 3600,
                held_accounts=n,
            )
        )
    return items


def _queued(*where: ColumnElement[bool]) -> Select[Appeal]:
    # the cases in the same query: one lazy load per appeal is a round trip each
    return (
        select(Appeal)
        .join(Appeal.case)
        .options(contains_eager(Appeal.case))
        .where(Appeal.state == AppealState.QUEUED, *where)
    )


def queue(
    session: Session,
    now: datetime,
    *where: ColumnElement[bool],
    order: bool = False,
    limit: int | None = None,
) -> list[QueueItem]:
    """Every queued appeal (those that also meet ``where``, conditions on ``Appeal`` and
    its ``Case``), highest priority first (ties: earliest deadline); with ``order``, the
    first ``limit`` in deadline order instead (the index's). Unbounded without a
    ``where`` that bounds it: the console's queue page reads :func:`page`."""
    query = _queued(*where)
    if order:
        query = query.order_by(Appeal.answer_by, Appeal.id).limit(limit)
    items = _items(session, list(session.scalars(query)), now)
    if not order:
        items.sort(key=lambda i: (-i.priority, i.appeal.answer_by, i.appeal.id))
    return items


#: the queue page's size: the default, and the most a request may ask for
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class CursorError(ValueError):
    """A page cursor that names no appeal."""


@dataclass(frozen=True)
class Page:
    """One page of the queue in the order reviewers work it: the earliest deadline
    first (ties: the id). ``next_after``/``prev_before`` are the cursors (appeal ids)
    of the next and previous pages, None at either end; ``total`` and ``overdue``
    count every queued appeal the page's filter keeps."""

    items: list[QueueItem]
    total: int
    overdue: int
    next_after: int | None
    prev_before: int | None


def _at(session: Session, appeal_id: int) -> tuple[datetime, int]:
    answer_by = session.scalar(select(Appeal.answer_by).where(Appeal.id == appeal_id))
    if answer_by is None:
        raise CursorError("the page link names no appeal: open the queue's first page")
    return answer_by, appeal_id


def page(
    session: Session,
    now: datetime,
    *,
    size: int = PAGE_SIZE,
    after: int | None = None,
    before: int | None = None,
    where: Sequence[ColumnElement[bool]] = (),
) -> Page:
    """The page after the appeal ``after`` (or before ``before``; else the first) of the
    queued appeals that meet ``where``: keyset pages over ``ix_appeals_state_answer_by``
    (no OFFSET: a page deep in a surge costs what the first does), ``size`` clamped to
    1..:data:`MAX_PAGE_SIZE`. The cursor is an appeal id: one decided since still
    marks its place. ``CursorError`` when it names no appeal."""
    size = min(max(size, 1), MAX_PAGE_SIZE)
    key = tuple_(Appeal.answer_by, Appeal.id)
    query = _queued(*where)
    if before is not None:
        query = query.where(key < tuple_(*_at(session, before)))
        query = query.order_by(Appeal.answer_by.desc(), Appeal.id.desc())
    else:
        if after is not None:
            query = query.where(key > tuple_(*_at(session, after)))
        query = query.order_by(Appeal.answer_by, Appeal.id)
    rows = list(session.scalars(query.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if before is not None:
        rows.reverse()
    counted = (
        select(
            func.count(),
            func.coalesce(func.sum(case((Appeal.answer_by < now, 1), else_=0)), 0),
        )
        .select_from(Appeal)
        .where(Appeal.state == AppealState.QUEUED)
    )
    if where:
        counted = counted.join(Appeal.case).where(*where)
    total, overdue = session.execute(counted).one()
    items = _items(session, rows, now)
    # a next page when one more row was there going forward, or when we came back
    has_next = more if before is None else bool(rows)
    has_prev = (after is not None and bool(rows)) if before is None else more
    return Page(
        items=items,
        total=int(total),
        overdue=int(overdue),
        next_after=rows[-1].id if rows and has_next else None,
        prev_before=rows[0].id if rows and has_prev else None,
    )


class ClaimError(ValueError):
    pass


def claimed_by_other(appeal: Appeal, user: ConsoleUser, now: datetime) -> str | None:
    """Who else holds a live claim on ``appeal``, or None."""
    if (
        appeal.claimed_by
        and appeal.claimed_by != user.name
        and appeal.claimed_at
        and appeal.claimed_at + CLAIM_TTL > now
    ):
        return appeal.claimed_by
    return None


def claim(session: Session, appeal: Appeal, user: ConsoleUser, now: datetime) -> None:
    """Take ``appeal``; ``ClaimError`` when another reviewer holds it or it is decided."""
    if appeal.state != AppealState.QUEUED:
        raise ClaimError("the appeal is not in the queue")
    other = claimed_by_other(appeal, user, now)
    if other:
        raise ClaimError(f"claimed by {other}")
    appeal.claimed_by, appeal.claimed_at = user.name, now
    audit.append(
        session,
        actor=f"user:{user.name}",
        action=Action.REVIEW_CLAIM,
        subject=f"case:{appeal.case.number}",
        payload={"appeal": appeal.id},
    )


def release(session: Session, appeal: Appeal, user: ConsoleUser) -> None:
    """Give ``appeal`` back to the queue (only its holder, or a senior, may)."""
    if appeal.claimed_by is None:
        return
    if appeal.claimed_by != user.name and user.role != Role.SENIOR:
        raise ClaimError(f"claimed by {appeal.claimed_by}")
    appeal.claimed_by, appeal.claimed_at = None, None
    audit.append(
        session,
        actor=f"user:{user.name}",
        action=Action.REVIEW_RELEASE,
        subject=f"case:{appeal.case.number}",
        payload={"appeal": appeal.id},
    )
