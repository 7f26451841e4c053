"""How many reviewers the queue's deadlines need at the current rate of decisions.

For each horizon h (1, 4, 12, 24 and 48 hours from now), the appeals due within it
(an overdue appeal is due now, so it counts in every horizon) must be decided by
reviewers working h hours at the measured rate:

    needed(h) = ceil(due(h) / (rate x h))

and the queue needs the largest of these (the tightest horizon). Deadlines further
than the last horizon do not count yet (a person's deadline is 48 hours by default).

The rate is person decisions per reviewer-hour over the last :data:`RATE_WINDOW`: the
appeals that left the queue by a reviewer's decision (a lift of one account closes
the person's other appeals too: each counts, since each left the queue) plus the
decisions that wait for a second reviewer, credited to the reviewer who made them;
divided by the reviewer-hours, the distinct (reviewer, clock hour) pairs in which a
reviewer decided at least once. With no decision in the window the rate is
:data:`DEFAULT_RATE`, and the console says it is a default. Active reviewers are those
who decided, proposed or answered a proposal in the last hour.

:func:`reviewers_needed` is the arithmetic alone; :func:`staffing` reads the store.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from fairban.appeals.models import Appeal, AppealState
from fairban.directives.models import DirectiveRecord
from fairban.review.models import ProposalState, ReviewProposal

#: decisions per reviewer-hour when the store has none in the window: ten minutes an
#: appeal (reading the evidence, the grounds and writing the reason)
DEFAULT_RATE = 6.0
#: the window the rate is measured over: one shift
RATE_WINDOW = timedelta(hours=8)
#: a reviewer who decided within this is active now
ACTIVE_WINDOW = timedelta(hours=1)
#: the deadline horizons, hours from now
HORIZONS = (1, 4, 12, 24, 48)


@dataclass(frozen=True)
class Rate:
    per_reviewer_hour: float
    decisions: int
    reviewer_hours: int

    @property
    def measured(self) -> bool:
        """False when the rate is :data:`DEFAULT_RATE` (no decision in the window)."""
        return self.decisions > 0


@dataclass(frozen=True)
class Horizon:
    hours: int
    due: int
    needed: int


@dataclass(frozen=True)
class Staffing:
    queued: int
    overdue: int
    horizons: tuple[Horizon, ...]
    #: the reviewers the tightest horizon needs
    needed: int
    active: int
    rate: Rate
    window_h: int


def rate_of(decisions: Iterable[tuple[str, datetime]]) -> Rate:
    """The rate of ``decisions`` (reviewer, when): decisions per reviewer-hour, the
    reviewer-hours being the distinct (reviewer, clock hour) pairs; the default when
    there are none."""
    count, hours = 0, set()
    for name, at in decisions:
        count += 1
        hours.add((name, int(at.timestamp() // 3600)))
    if not count:
        return Rate(DEFAULT_RATE, 0, 0)
    return Rate(count / len(hours), count, len(hours))


def reviewers_needed(
    deadlines: Sequence[datetime],
    now: datetime,
    rate: float,
    horizons: Sequence[int] = HORIZONS,
) -> tuple[Horizon, ...]:
    """For each horizon, the appeals due within it and the reviewers that decide them
    in time at ``rate`` decisions per reviewer-hour (rounded up)."""
    if not rate > 0:
        raise ValueError("the rate of decisions must be above zero")
    ordered = sorted(deadlines)
    out = []
    for h in horizons:
        due = bisect_right(ordered, now + timedelta(hours=h))
        out.append(Horizon(h, due, math.ceil(due / (rate * h)) if due else 0))
    return tuple(out)


def first_decider(actor: str | None) -> str | None:
    """The reviewer an appeal's ``decided_by`` credits: ``user:rita+sam`` -> rita (the
    proposer; the second reviewer approved)."""
    if not actor or not actor.startswith("user:"):
        return None
    return actor[len("user:") :].split("+", 1)[0] or None


def decisions_since(session: Session, since: datetime) -> list[tuple[str, datetime]]:
    """Person decisions from ``since`` on: (reviewer, when)."""
    decided = session.execute(
        select(Appeal.decided_by, Appeal.decided_at).where(
            # by directive, so that the (directive_id, decided_at) index serves it
            Appeal.directive_id.in_(select(DirectiveRecord.id)),
            Appeal.decided_at >= since,
            Appeal.decided_by.like("user:%"),
        )
    ).all()
    out = [(name, at) for by, at in decided if (name := first_decider(by)) and at is not None]
    waiting = session.execute(
        select(ReviewProposal.proposed_by, ReviewProposal.proposed_at).where(
            ReviewProposal.state == ProposalState.PENDING, ReviewProposal.proposed_at >= since
        )
    ).all()
    out.extend((by, at) for by, at in waiting)
    return out


def active_reviewers(session: Session, now: datetime) -> int:
    since = now - ACTIVE_WINDOW
    names = {name for name, _at in decisions_since(session, since)}
    proposed = session.scalars(
        select(ReviewProposal.proposed_by).where(ReviewProposal.proposed_at >= since)
    )
    answered = session.scalars(
        select(ReviewProposal.second_by).where(ReviewProposal.second_at >= since)
    )
    names.update(proposed)
    names.update(n for n in answered if n)
    return len(names)


def needed_for(
    due: Sequence[int], rate: float, horizons: Sequence[int] = HORIZONS
) -> tuple[Horizon, ...]:
    """:func:`reviewers_needed` from the counts due within each horizon."""
    if not rate > 0:
        raise ValueError("the rate of decisions must be above zero")
    return tuple(
        Horizon(h, n, math.ceil(n / (rate * h)) if n else 0)
        for h, n in zip(horizons, due, strict=True)
    )


def queued_deadlines(session: Session, now: datetime) -> tuple[int, int, list[int]]:
    """The queue's size, its overdue appeals and the appeals due within each horizon:
    one aggregate over ``ix_appeals_state_answer_by``, no row read into Python."""
    due_by = [
        func.coalesce(func.sum(case((Appeal.answer_by <= now + timedelta(hours=h), 1), else_=0)), 0)
        for h in HORIZONS
    ]
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Appeal.answer_by < now, 1), else_=0)), 0),
            *due_by,
        ).where(Appeal.state == AppealState.QUEUED)
    ).one()
    return int(row[0]), int(row[1]), [int(n) for n in row[2:]]


def queue_staffing(session: Session, now: datetime) -> Staffing:
    """:func:`staffing` of the whole queue, counted in SQL (the console's pages)."""
    queued, overdue, due = queued_deadlines(session, now)
    rate = rate_of(decisions_since(session, now - RATE_WINDOW))
    return _staffing(session, queued, overdue, needed_for(due, rate.per_reviewer_hour), rate, now)


def staffing(session: Session, deadlines: Sequence[datetime], now: datetime) -> Staffing:
    """The needs of the appeals whose ``deadlines`` are given, at the measured rate."""
    rate = rate_of(decisions_since(session, now - RATE_WINDOW))
    horizons = reviewers_needed(deadlines, now, rate.per_reviewer_hour)
    overdue = sum(1 for d in deadlines if d < now)
    return _staffing(session, len(deadlines), overdue, horizons, rate, now)


def _staffing(
    session: Session,
    queued: int,
    overdue: int,
    horizons: tuple[Horizon, ...],
    rate: Rate,
    now: datetime,
) -> Staffing:
    return Staffing(
        queued=queued,
        overdue=overdue,
        horizons=horizons,
        needed=max((h.needed for h in horizons), default=0),
        active=active_reviewers(session, now),
        rate=rate,
        window_h=int(RATE_WINDOW.total_seconds() // 3600),
    )
