"""The review queue: open appeals a person decides, by priority, with claims.

Priority (higher first) adds the measure's severity, the urgency of the deadline and
the appellant's vulnerability:

- severity: suspend 3, restrict 2, monitor 1;
- urgency: 0 with two days or more left, rising to 3 at the deadline and beyond;
- vulnerability: +1 for a shop or business account (a livelihood), +1 when the person
  says they were a victim, +1 when more than one of the person's accounts is held.

Severity and vulnerability are stored on the appeal (``queue_priority``, kept by
``appeals/ordering.py``); the urgency is the clock's. The order is priority first, then
the earliest deadline, then the id, as of the moment the queue is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, case, func, select, tuple_
from sqlalchemy.orm import Session, contains_eager

from fairban import audit
from fairban.appeals.models import Appeal, AppealState
from fairban.appeals.ordering import HIGHEST, LOWEST, held_accounts, static_priority
from fairban.audit.actions import Action
from fairban.cases.models import Case
from fairban.review.models import ConsoleUser, ProposalState, ReviewProposal, Role

#: a claim this old no longer keeps others off the appeal
CLAIM_TTL = timedelta(minutes=30)
#: the urgency: 0 with this long or longer left, rising to URGENCY at the deadline
BAND = timedelta(hours=48)
URGENCY = 3
_US = timedelta(microseconds=1)
#: one point of priority in microseconds of deadline (the band over its points: 16 h)
_POINT_US = BAND // _US // URGENCY


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


def urgency(answer_by: datetime, now: datetime) -> float:
    hours_left = (answer_by - now).total_seconds() / 3600
    return min(float(URGENCY), max(0.0, URGENCY * (1 - hours_left / (BAND / timedelta(hours=1)))))


def priority(case: Case, appeal: Appeal, held_accounts: int, now: datetime) -> float:
    static = static_priority(case.measure, case.account_kind, appeal.grounds, held_accounts)
    return static + urgency(appeal.answer_by, now)


def _static(appeal: Appeal) -> int:
    """The stored static priority; one a path outside the ORM left unset counts as the
    highest, so that it comes early and is seen rather than lost."""
    return HIGHEST if appeal.queue_priority is None else appeal.queue_priority


def _score(static: int, answer_by: datetime, now: datetime) -> int:
    """The priority at ``now`` times a point's microseconds: a whole number, so that
    equal priorities compare equal (the tie then goes to the deadline, then the id)."""
    left = min(max((answer_by - now) // _US, 0), BAND // _US)
    return (static + URGENCY) * _POINT_US - left


def _order(appeal: Appeal, now: datetime) -> tuple[int, datetime, int]:
    """The queue's order at ``now``, as a sort key."""
    return (-_score(_static(appeal), appeal.answer_by, now), appeal.answer_by, appeal.id)


def _items(session: Session, appeals: list[Appeal], now: datetime) -> list[QueueItem]:
    """``appeals`` (their cases loaded) as queue items: priority and accounts held."""
    held = held_accounts(session, (a.case.person_id for a in appeals if a.case.person_id))
    items = []
    for a in appeals:
        n = held.get(a.case.person_id or "", 1)
        static = a.queue_priority
        if static is None:
            static = static_priority(a.case.measure, a.case.account_kind, a.grounds, n)
        items.append(
            QueueItem(
                appeal=a,
                case=a.case,
                priority=static + urgency(a.answer_by, now),
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
        items.sort(key=lambda i: _order(i.appeal, now))
    return items


#: the queue page's size: the default, and the most a request may ask for
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class CursorError(ValueError):
    """A page cursor that names no appeal."""


@dataclass(frozen=True)
class Page:
    """One page of the queue in the order reviewers work it: the highest priority at
    the moment of reading first (ties: the earliest deadline, then the id).
    ``next_after``/``prev_before`` are the cursors (appeal ids) of the next and
    previous pages, None at either end; ``total`` and ``overdue`` count every queued
    appeal the page's filter keeps."""

    items: list[QueueItem]
    total: int
    overdue: int
    next_after: int | None
    prev_before: int | None


#: the streams of ``ix_appeals_queue_order``: one per static priority, and the appeals
#: a path outside the ORM queued unstamped, ordered as the highest (:func:`_static`)
_STREAMS: tuple[tuple[int, ColumnElement[bool]], ...] = (
    *((s, Appeal.queue_priority == s) for s in range(HIGHEST, LOWEST - 1, -1)),
    (HIGHEST, Appeal.queue_priority.is_(None)),
)


def _split(
    static: int, at: Appeal, now: datetime
) -> tuple[ColumnElement[bool] | None, ColumnElement[bool] | None]:
    """Within the stream of ``static`` (in deadline order, its priority never rising as
    the deadline is later): the condition on its rows after the appeal ``at`` in the
    queue's order at ``now``, and on those before it; None where none are."""
    mine = _score(_static(at), at.answer_by, now)
    top = (static + URGENCY) * _POINT_US  # the stream's priority at and past the deadline
    if mine > top:
        return Appeal.id.is_not(None), None
    if mine < static * _POINT_US:  # below its priority with the whole band left
        return None, Appeal.id.is_not(None)
    # the stream's rows of ``at``'s priority have deadlines in [low, high]: the deadline
    # ``left`` ahead of now, or every overdue one (the top), or every one past the band
    left = timedelta(microseconds=top - mine)
    low = None if left == timedelta(0) else now + left
    high = None if left == BAND else now + left
    if low is not None and at.answer_by < low:  # all of them come after ``at``
        return Appeal.answer_by >= low, Appeal.answer_by < low
    if high is not None and at.answer_by > high:  # all of them come before it
        return Appeal.answer_by > high, Appeal.answer_by <= high
    key, mark = tuple_(Appeal.answer_by, Appeal.id), tuple_(at.answer_by, at.id)
    return key > mark, key < mark


def _at(session: Session, appeal_id: int) -> Appeal:
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise CursorError("the page link names no appeal: open the queue's first page")
    return appeal


def _rows(
    session: Session,
    now: datetime,
    n: int,
    at: Appeal | None,
    *,
    back: bool = False,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[Appeal]:
    """The first ``n`` queued appeals after ``at`` (before it with ``back``, nearest
    first; from the start without it) in the queue's order at ``now``: each stream's
    first ``n`` keys past the cursor by one index range, merged, and only the ``n``
    chosen read whole with their cases."""
    keys: list[tuple[int, datetime, int]] = []
    for static, stream in _STREAMS:
        query = select(Appeal.id, Appeal.answer_by).where(Appeal.state == AppealState.QUEUED)
        if where:  # conditions on the case too
            query = query.join(Appeal.case).where(*where)
        query = query.where(stream)
        if at is not None:
            later, earlier = _split(static, at, now)
            bound = earlier if back else later
            if bound is None:
                continue
            query = query.where(bound)
        if back:
            query = query.order_by(Appeal.answer_by.desc(), Appeal.id.desc())
        else:
            query = query.order_by(Appeal.answer_by, Appeal.id)
        for appeal_id, answer_by in session.execute(query.limit(n)):
            keys.append((-_score(static, answer_by, now), answer_by, appeal_id))
    keys.sort(reverse=back)
    chosen = [k[2] for k in keys[:n]]
    if not chosen:
        return []
    loaded = {a.id: a for a in session.scalars(_queued(Appeal.id.in_(chosen)))}
    return [loaded[i] for i in chosen if i in loaded]


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
    queued appeals that meet ``where``, in the queue's order at ``now``, ``size``
    clamped to 1..:data:`MAX_PAGE_SIZE`. Keyset pages with no OFFSET: each stream of
    ``ix_appeals_queue_order`` (state, static priority, deadline, id) gives its first
    ``size + 1`` rows past the cursor by one index range, and the page is the first of
    their merge, so a page deep in a surge costs what the first does. The cursor is an
    appeal id: one decided since still marks its place. ``CursorError`` when it names
    no appeal."""
    size = min(max(size, 1), MAX_PAGE_SIZE)
    back = before is not None
    cursor = before if back else after
    at = _at(session, cursor) if cursor is not None else None
    rows = _rows(session, now, size + 1, at, back=back, where=where)
    more = len(rows) > size
    rows = rows[:size]
    if back:
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
    has_next = more if not back else bool(rows)
    has_prev = (after is not None and bool(rows)) if not back else more
    return Page(
        items=items,
        total=int(total),
        overdue=int(overdue),
        next_after=rows[-1].id if rows and has_next else None,
        prev_before=rows[0].id if rows and has_prev else None,
    )


class ClaimError(ValueError):
    pass


def next_open(
    session: Session,
    user: ConsoleUser,
    now: datetime,
    where: Sequence[ColumnElement[bool]] = (),
) -> Appeal | None:
    """The first appeal in the queue's order at ``now`` that ``user`` may take: not
    claimed by another reviewer (a live claim) and not waiting for a second reviewer's
    approval; None when there is none. Read a page at a time from the top, so only as
    far as the claims of those working ahead of ``user`` reach."""
    at: Appeal | None = None
    while True:
        rows = _rows(session, now, PAGE_SIZE, at, where=where)
        if not rows:
            return None
        waiting = set(
            session.scalars(
                select(ReviewProposal.appeal_id).where(
                    ReviewProposal.appeal_id.in_([a.id for a in rows]),
                    ReviewProposal.state == ProposalState.PENDING,
                )
            )
        )
        for appeal in rows:
            if appeal.id not in waiting and claimed_by_other(appeal, user, now) is None:
                return appeal
        at = rows[-1]


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
