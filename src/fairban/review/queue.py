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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
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


def queue(session: Session, now: datetime, *where: ColumnElement[bool]) -> list[QueueItem]:
    """Every queued appeal (those that also meet ``where``, conditions on ``Appeal`` and
    its ``Case``), highest priority first (ties: earliest deadline)."""
    # the cases in the same query: one lazy load per appeal is a round trip each
    appeals = list(
        session.scalars(
            select(Appeal)
            .join(Appeal.case)
            .options(contains_eager(Appeal.case))
            .where(Appeal.state == AppealState.QUEUED, *where)
        )
    )
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
    items.sort(key=lambda i: (-i.priority, i.appeal.answer_by, i.appeal.id))
    return items


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
