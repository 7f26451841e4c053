"""Every change of a case's state: the funnel, and the flows a person (or the appeal
re-check) starts. Enforcement's reconciliation is ``cases/enforce.py``; the notice and
webhook a change sends, ``cases/messaging.py``.

Each change goes through one funnel (:func:`apply_change`) that, in the caller's
transaction:

1. asks the transition table (``cases/transitions.py``) for the next state, or raises
   :class:`~fairban.cases.transitions.TransitionError` before anything changes;
2. writes the case (state, measure, decision, who judged it), its ``case_events`` row
   and its audit entry (``case:measure:apply``, ``case:measure:lift``, ...);
3. when what the person sees changes, tells them and their platform
   (:func:`fairban.cases.messaging.tell`: the notice and the webhook).

**Transactions: flows never commit.** They flush, so ids and the optimistic lock
(``cases.row_version``) are checked at once, and leave ``commit`` to the caller (the
command line, the portal): the state, its event, audit entry, notice and outbox
messages are committed together or not at all, and ``enforce`` over 10,000 decisions
is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fairban import __version__, audit
from fairban.cases.decisions import DecisionRow
from fairban.cases.messaging import Context, tell
from fairban.cases.models import Case, CaseEvent
from fairban.cases.persons import person_cases
from fairban.cases.service import due_for_expiry, list_cases
from fairban.cases.transitions import (
    ACTIONS,
    IMPOSING,
    IN_FORCE,
    CaseError,
    CaseState,
    DeciderKind,
    Event,
    decides,
    judges,
    next_state,
)
from fairban.clock import aware_now, iso_utc_or_none
from fairban.config import Settings
from fairban.db import add_row
from fairban.measures import Measure, severity, weaker_than

#: who decides automatically (``cases.decided_by``)
ENGINE = f"engine:fairban {__version__}"
#: who lifts measures that reached their expiry
EXPIRY_ACTOR = "system:expiry"


def context(session: Session, settings: Settings, now: datetime | None) -> Context:
    """A flow call's context at ``now`` (aware), or at the current instant."""
    return Context(session, settings, aware_now(now))


# --- the funnel -------------------------------------------------------------------------


@dataclass(frozen=True)
class Followed:
    """An automatic decision the case takes as its own: the row, the directive version
    it was made under, and the account's kind when the evidence said it."""

    row: DecisionRow
    version: int
    kind: str | None = None


@dataclass(frozen=True)
class Change:
    """One change of a case: the event, who makes it and why.

    ``decision``: a new automatic decision the case now follows; ``version``: the
    directive version the case follows afterwards when no decision says it;
    ``measure``: the measure in force afterwards when no decision says it;
    ``impose_days``: the directive's ``measure_days`` when the event imposes a measure;
    ``lift_reason``: why, when the person loses a measure they saw; ``tell`` False: the
    caller tells the person itself, once it is done (a reviewer's decision notice,
    ``review/flows.py``). Whether the change
    judges the evidence or decides the measure follows from the event and the actor
    (:func:`~fairban.cases.transitions.judges`, :func:`~fairban.cases.transitions.decides`).
    """

    event: Event
    actor: str
    actor_kind: DeciderKind
    note: str = ""
    decision: Followed | None = None
    version: int | None = None
    measure: Measure | None = None
    impose_days: int | None = None
    lift_reason: str | None = None
    tell: bool = True


def _in_force(state: CaseState, measure: Measure) -> Measure | None:
    return measure if state in IN_FORCE else None


def apply_change(ctx: Context, case: Case, change: Change) -> None:
    """The one way a case changes state (see the module docstring)."""
    event, actor, now = change.event, change.actor, ctx.now
    to = next_state(case.state, event, case=case.number)
    before_state, before_measure = case.state, case.measure
    was = _in_force(before_state, before_measure)
    if change.decision is not None:
        _follow(case, change.decision, now)
    elif change.version is not None:
        case.directive_version = change.version
    if change.measure is not None:
        case.measure = change.measure
    if decides(event) and change.decision is None:
        case.decided_by, case.decided_by_kind, case.decided_at = actor, change.actor_kind, now
    if judges(event, change.actor_kind):
        case.judged_by, case.judged_at = actor, now
        case.judged_evidence_hash = case.evidence_hash
    if event in IMPOSING:
        days = change.impose_days
        case.expires_at = now + timedelta(days=days) if days else None
    case.state = to
    case.updated_at = now
    # the audit entry's query flushes the case first: a concurrent change of it fails
    # there (the optimistic lock, cases.row_version), before anything is sent
    add_row(
        ctx.session,
        CaseEvent,
        {
            "case_id": case.id,
            "at": now,
            "from_state": before_state,
            "to_state": to,
            "measure": case.measure,
            "actor": actor,
            "actor_kind": change.actor_kind,
            "note": change.note,
        },
    )
    payload: dict[str, Any] = {
        "event": event.value,
        "from": before_state.value,
        "to": to.value,
        "measure_before": before_measure.value,
        "measure": case.measure.value,
        "actor_kind": change.actor_kind.value,
        "note": change.note,
        **case_payload(case),
    }
    if change.lift_reason:
        payload["lift_reason"] = change.lift_reason
    audit.append(
        ctx.session,
        actor=actor,
        action=ACTIONS[event],
        subject=f"case:{case.number}",
        payload=payload,
    )
    if change.tell:
        tell(
            ctx,
            case,
            was,
            _in_force(to, case.measure),
            actor_kind=change.actor_kind,
            lift_reason=change.lift_reason,
        )


def case_payload(case: Case) -> dict[str, Any]:
    """What every audit entry about a case records of it."""
    return {
        "case": case.number,
        "directive_id": case.directive_id,
        "directive_version": case.directive_version,
        "account_id": case.account_id,
        "platform": case.platform,
        "person_id": case.person_id,
        "risk": case.risk,
        "evidence_hash": case.evidence_hash,
        "decided_by": case.decided_by,
        "judged_evidence_hash": case.judged_evidence_hash,
        "expires_at": iso_utc_or_none(case.expires_at),
    }


def _follow(case: Case, followed: Followed, now: datetime) -> None:
    """The case takes an automatic decision as its own."""
    row = followed.row
    case.platform = row.platform
    case.person_id = row.person_id
    if followed.kind is not None:
        case.account_kind = followed.kind
    if row.measure != "none":
        case.measure = Measure(row.measure)
    case.risk = row.risk
    case.reasons = row.reasons
    case.evidence = row.evidence
    case.evidence_hash = row.evidence_hash
    case.directive_version = followed.version
    case.decided_by, case.decided_by_kind, case.decided_at = ENGINE, DeciderKind.AUTOMATIC, now


# --- flows a person (or the appeal re-check) starts -------------------------------------


def file_appeal(
    session: Session,
    case: Case,
    *,
    actor: str,
    settings: Settings,
    note: str = "",
    now: datetime | None = None,
) -> None:
    """The person appeals: ``active``/``downgraded`` -> ``appealed``; the measure stays in
    force until decided. No notice, no webhook."""
    change = Change(Event.APPEAL, actor, DeciderKind.PERSON, note=note)
    apply_change(context(session, settings, now), case, change)


def uphold_measure(
    session: Session,
    case: Case,
    *,
    actor: str,
    reason: str,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """A person confirms the measure on appeal: ``appealed`` -> ``upheld``; the case's
    evidence counts as judged (the same evidence never makes it stronger)."""
    change = Change(Event.UPHOLD, actor, DeciderKind.PERSON, note=reason)
    apply_change(context(session, settings, now), case, change)


def downgrade_measure(
    session: Session,
    case: Case,
    *,
    to: Measure,
    actor: str,
    reason: str,
    settings: Settings,
    actor_kind: DeciderKind = DeciderKind.PERSON,
    now: datetime | None = None,
    tell: bool = True,
) -> None:
    """A weaker measure replaces the one in force (-> ``downgraded``): ``suspend`` ->
    ``restrict`` is a new restrict notice and ``measure.apply`` webhook; to ``monitor``
    a lift notice and ``measure.lift`` (``reason`` is then the lift reason). A person's
    downgrade records the judged evidence. :class:`CaseError` unless ``to`` is weaker.
    ``tell`` False: the caller sends the notice and webhook (:class:`Change`)."""
    if severity(to) >= severity(case.measure):
        weaker = [m.value for m in weaker_than(case.measure)]
        raise CaseError(
            f"case {case.number}: cannot downgrade {case.measure.value} to {to.value} "
            f"(weaker: {', '.join(weaker) or 'none'}; to end the measure, lift it)"
        )
    change = Change(
        Event.DOWNGRADE,
        actor,
        actor_kind,
        note=reason,
        measure=to,
        lift_reason=reason,
        tell=tell,
    )
    apply_change(context(session, settings, now), case, change)


def lift_measure(
    session: Session,
    case: Case,
    *,
    actor: str,
    actor_kind: DeciderKind,
    reason: str,
    settings: Settings,
    now: datetime | None = None,
    tell: bool = True,
) -> None:
    """End the measure in force (-> ``lifted``) with a lift notice and a ``measure.lift``
    webhook (for restrict and suspend). ``reason`` is a ``LIFT_REASONS`` code
    (``appeal_granted``, ``recheck_passed``, ``review``, ...) or text. A person's lift
    records ``judged_by``/``judged_at`` and ``judged_evidence_hash`` (the case's evidence
    hash): the same evidence never re-imposes it (principle 7)."""
    if not reason.strip():
        raise CaseError(f"case {case.number}: a lift needs a reason")
    change = Change(Event.LIFT, actor, actor_kind, note=reason, lift_reason=reason, tell=tell)
    apply_change(context(session, settings, now), case, change)


def lift_person(
    session: Session,
    person_id: str,
    *,
    actor: str,
    actor_kind: DeciderKind,
    reason: str,
    settings: Settings,
    now: datetime | None = None,
    told_apart: int | None = None,
) -> list[Case]:
    """Lift every measure in force on every account of the person, on every platform and
    under every directive (principle 7), and withdraw their decisions not yet enforced;
    returns the cases changed. A person's lift marks each case's evidence as judged.
    ``told_apart``: the id of a case the caller tells itself (:class:`Change`)."""
    if not person_id.strip():
        raise CaseError("lift_person needs a person id")
    if not reason.strip():
        raise CaseError(f"person {person_id}: a lift needs a reason")
    ctx = context(session, settings, now)
    states = {CaseState.PROPOSED, *IN_FORCE}
    known = person_cases(session, person_id, states)  # a re-check's batch read them already
    cases = known if known is not None else list_cases(session, person_id=person_id, states=states)
    for case in cases:
        event = Event.WITHDRAW if case.state == CaseState.PROPOSED else Event.LIFT
        change = Change(
            event, actor, actor_kind, note=reason, lift_reason=reason, tell=case.id != told_apart
        )
        apply_change(ctx, case, change)
    return cases


def expire_due(
    session: Session,
    *,
    now: datetime,
    settings: Settings,
    actor: str = EXPIRY_ACTOR,
) -> int:
    """End every measure whose expiry is at or before ``now`` (-> ``expired``, lift notice
    with reason ``expired``); returns how many. Running it again finds none."""
    ctx = context(session, settings, now)
    cases = due_for_expiry(session, ctx.now)
    for case in cases:
        change = Change(
            Event.EXPIRE, actor, DeciderKind.AUTOMATIC, note="expired", lift_reason="expired"
        )
        apply_change(ctx, case, change)
    return len(cases)


__all__ = [
    "ENGINE",
    "EXPIRY_ACTOR",
    "Change",
    "Followed",
    "apply_change",
    "case_payload",
    "context",
    "downgrade_measure",
    "expire_due",
    "file_appeal",
    "lift_measure",
    "lift_person",
    "uphold_measure",
]
