"""The review queue's stored order: each queued appeal's *static priority*, the part of
its priority that does not move with the clock (``review/queue.py`` adds the urgency).

Priority = severity (suspend 3, restrict 2, monitor 1) + vulnerability (+1 a shop or
business account, +1 the "victim" ground, +1 more than one of the person's accounts
held) + urgency (0 with 48 h or more left, rising linearly to 3 at the deadline and
staying 3 after it). The first two are stored as ``appeals.queue_priority`` (1 to 6,
migration 0013) when the appeal enters the person queue, and stored again whenever an
input changes while it waits: a case of its person comes into force or leaves it (a
lift, an expiry, a new measure: the accounts held), or its own case changes measure,
account kind or person. Within one
static priority the urgency only falls as the deadline is later, so the index
``ix_appeals_queue_order`` (state, static priority, deadline, id) gives six streams in
priority order each, which the queue page merges exactly (:mod:`fairban.review.queue`).

Here, below the review layer, because the re-check (:mod:`fairban.appeals.flows`)
queues appeals and the cases' flows lift them; both reach this through the ORM flush.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, event, func, inspect, or_, select, update
from sqlalchemy.orm import Session, contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from fairban.appeals.models import Appeal, AppealState
from fairban.cases.models import Case
from fairban.cases.transitions import IN_FORCE
from fairban.measures import severity

#: the kinds of account that are a livelihood
LIVELIHOOD_KINDS = ("merchant", "business")
#: the static priorities there are: monitor alone (1) to suspend with all three marks (6)
LOWEST, HIGHEST = 1, 6
#: the persons or cases one refresh query looks up
CHUNK = 1000
_PENDING = "fairban.queue_priority.pending"


def static_priority(measure: str, account_kind: str | None, grounds: str, held: int) -> int:
    """Severity + vulnerability: what the queue's priority is less the urgency."""
    vulnerable = (account_kind in LIVELIHOOD_KINDS) + ("victim" in json.loads(grounds)) + (held > 1)
    return severity(measure) + vulnerable


def held_accounts(session: Session, persons: Iterable[str]) -> dict[str, int]:
    """How many accounts each person has a measure in force on (absent: none)."""
    wanted = sorted(set(persons))
    held: dict[str, int] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(Case.person_id, func.count())
            .where(Case.person_id.in_(wanted[start : start + CHUNK]))
            .where(Case.state.in_(list(IN_FORCE)))
            .group_by(Case.person_id)
        ).all()
        held.update({p: n for p, n in rows if p})
    return held


def stamp(appeals: Iterable[Appeal], held: dict[str, int]) -> list[tuple[Appeal, int]]:
    """Set each appeal's static priority from its case and ``held`` (by person; a case
    without a person holds its one account); returns the appeals it changed."""
    changed = []
    for appeal in appeals:
        case = appeal.case
        n = held.get(case.person_id, 1) if case.person_id else 1
        value = static_priority(case.measure, case.account_kind, appeal.grounds, n)
        if appeal.queue_priority != value:
            appeal.queue_priority = value
            changed.append((appeal, value))
    return changed


def refresh(session: Session, appeals: Iterable[Appeal]) -> None:
    """Stamp ``appeals`` (their cases loaded) with the accounts held as the database has
    them now, one query for all of them, and write what changed at once (an ``UPDATE``
    in the session's transaction, the objects marked as holding what the database
    does): a flush's own changes are then complete when the flush returns."""
    todo = list(appeals)
    changed = stamp(
        todo, held_accounts(session, (a.case.person_id for a in todo if a.case.person_id))
    )
    if not changed:
        return
    session.connection().execute(
        update(Appeal)
        .where(Appeal.id == bindparam("appeal"))
        .values(queue_priority=bindparam("value")),
        [{"appeal": a.id, "value": v} for a, v in changed],
    )
    for appeal, value in changed:
        set_committed_value(appeal, "queue_priority", value)


def _affected(case: Case) -> tuple[set[str], bool]:
    """What a change of ``case`` in this flush moves: the persons whose accounts held
    change (it came into force or left it, or changed person), and whether its own
    appeal's inputs changed (its measure, account kind or person too)."""
    info = inspect(case)
    attrs = info.attrs
    state = attrs.state.history
    # set without being read first (expired): what it was is unknown, so assume a flip
    unknown = not state.deleted and info.persistent
    was = state.deleted[0] if state.deleted else None
    persons: set[str] = set()
    flip = unknown or (was in IN_FORCE) != (case.state in IN_FORCE)
    if state.has_changes() and flip and case.person_id:
        persons.add(case.person_id)
    person = attrs.person_id.history
    if person.has_changes() and case.id is not None:
        persons |= {p for p in (case.person_id, *person.deleted) if p}
    own = bool(persons) or any(attrs[f].history.has_changes() for f in ("measure", "account_kind"))
    return persons, own


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _context: object, _instances: Iterable[object] | None) -> None:
    """What this flush changes that a stored priority reads: appeals entering the queue,
    and cases (and through them persons) whose priority inputs change. Read back after
    the flush, when the database holds the new states the held accounts are counted from."""
    appeals: list[Appeal] = []
    persons: set[str] = set()
    cases: set[int] = set()
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Appeal):
            if obj.state == AppealState.QUEUED and inspect(obj).attrs.state.history.has_changes():
                appeals.append(obj)
        elif isinstance(obj, Case):
            changed, own = _affected(obj)
            persons |= changed
            if own and obj.id is not None:
                cases.add(obj.id)
    if appeals or persons or cases:
        pending: dict[str, Any] = session.info.setdefault(
            _PENDING, {"appeals": [], "persons": set(), "cases": set()}
        )
        pending["appeals"].extend(appeals)
        pending["persons"] |= persons
        pending["cases"] |= cases


@event.listens_for(Session, "after_flush_postexec")
def _restamp(session: Session, _context: object) -> None:
    """Stamp what :func:`_collect` found: the appeals that entered the queue and every
    queued appeal of the persons and cases that changed."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    with session.no_autoflush:
        todo = {a.id: a for a in pending["appeals"] if a.state == AppealState.QUEUED}
        persons, cases = sorted(pending["persons"]), sorted(pending["cases"])
        for start in range(0, max(len(persons), len(cases)), CHUNK):
            some_persons = persons[start : start + CHUNK]
            some_cases = cases[start : start + CHUNK]
            waiting = session.scalars(
                select(Appeal)
                .join(Appeal.case)
                .options(contains_eager(Appeal.case))
                .where(Appeal.state == AppealState.QUEUED)
                .where(or_(Case.person_id.in_(some_persons), Case.id.in_(some_cases)))
            )
            todo.update({a.id: a for a in waiting})
        if todo:
            refresh(session, todo.values())


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous: object) -> None:
    """A flush that failed between the two hooks leaves nothing for the next one."""
    session.info.pop(_PENDING, None)
