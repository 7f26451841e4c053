"""Reviewers' decisions on queued appeals: uphold, downgrade or lift, each with a
written reason; four eyes where the stakes are high.

A decision needs a second, senior reviewer (not the proposer) when it lowers or ends
a high-stakes measure (a suspension of risk at or above :data:`HIGH_RISK`: lifted, or
downgraded to anything lighter) or upholds a suspension (:func:`needs_second`, the one
rule); a lift counts every measure it ends on the person's other accounts too. Such a
decision is a pending :class:`~fairban.review.models.ReviewProposal` until approved.
Every step is audited (``review:decide``, ``review:propose``, ``review:approve``,
``review:reject``). A decision carried out is told to the person once, in a notice of
its own on the appeal's case (``cases/messaging.py``, :class:`~fairban.cases.messaging.Decided`):
the decision, the reviewer's reason, each of their accounts as it is now, and what
they can do next; an uphold too, though it changes no measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban import audit
from fairban.appeals.breaker import check_breaker
from fairban.appeals.flows import close_appeals_of_lifted, lift_everywhere
from fairban.appeals.models import Appeal, AppealState
from fairban.appeals.service import linked_cases_all
from fairban.audit.actions import Action
from fairban.cases import flows as case_flows
from fairban.cases.messaging import Decided, tell
from fairban.cases.models import Case, NoticeRecord
from fairban.cases.service import cases_of_person
from fairban.cases.transitions import APPEALABLE, IN_FORCE, DeciderKind
from fairban.config import Settings
from fairban.measures import NONE, VISIBLE, Measure, severity
from fairban.notices import AccountNow
from fairban.review.models import ConsoleUser, ProposalState, ReviewAction, ReviewProposal, Role
from fairban.review.queue import claimed_by_other

HIGH_RISK = 0.8
MIN_REASON = 10
DECIDERS = (Role.REVIEWER, Role.SENIOR)


class DecisionError(ValueError):
    pass


@dataclass(frozen=True)
class DecisionResult:
    done: bool  # carried out now
    proposal: ReviewProposal | None  # waiting for a second reviewer


def high_stakes(measure: Measure, risk: float) -> bool:
    """A suspension of risk at or above :data:`HIGH_RISK` (an unreadable risk counts)."""
    return measure == Measure.SUSPEND and not risk < HIGH_RISK


def needs_second(
    measure: Measure, risk: float, action: ReviewAction, to_measure: Measure | None = None
) -> bool:
    """Whether deciding ``action`` on a case of ``measure`` and ``risk`` needs a second,
    senior reviewer: the four-eyes rule, whole.

    Upholding a suspension does, at any risk; so does anything that lowers or ends a
    high-stakes measure: a lift, or a downgrade to any lighter measure (a downgrade that
    names none counts as ending it; one to an equal or stronger measure lowers nothing,
    and :func:`decide` refuses it)."""
    if action == ReviewAction.UPHOLD:
        return measure == Measure.SUSPEND
    after = NONE if action == ReviewAction.LIFT else to_measure
    lowers = severity(after) < measure.severity
    return lowers and high_stakes(measure, risk)


def lowered_by(session: Session, appeal: Appeal, action: ReviewAction) -> list[Case]:
    """The cases whose measure the decision lowers or ends: a lift ends every measure in
    force on the person's accounts (:func:`~fairban.appeals.flows.lift_everywhere`), the
    other decisions touch the appeal's case alone."""
    case = appeal.case
    if action != ReviewAction.LIFT or not case.person_id:
        return [case]
    others = cases_of_person(session, case.person_id, in_force=True)
    return [case, *(c for c in others if c.id != case.id)]


def second_needed(
    session: Session, appeal: Appeal, action: ReviewAction, to_measure: Measure | None = None
) -> bool:
    """:func:`needs_second` over every case the decision lowers: no lift of a harmless
    account ends a high-stakes suspension of the same person on the side."""
    return any(
        needs_second(c.measure, c.risk, action, to_measure if c is appeal.case else None)
        for c in lowered_by(session, appeal, action)
    )


def pending_proposal(session: Session, appeal: Appeal) -> ReviewProposal | None:
    return session.scalars(
        select(ReviewProposal).where(
            ReviewProposal.appeal_id == appeal.id, ReviewProposal.state == ProposalState.PENDING
        )
    ).first()


def decide(
    session: Session,
    appeal: Appeal,
    user: ConsoleUser,
    action: ReviewAction,
    reason: str,
    settings: Settings,
    *,
    to_measure: Measure | None = None,
    now: datetime | None = None,
) -> DecisionResult:
    """Decide ``appeal`` or, where four eyes apply, propose the decision."""
    now = now or datetime.now(UTC)
    reason = reason.strip()
    if user.role not in DECIDERS:
        raise DecisionError("only reviewers decide appeals")
    if appeal.state != AppealState.QUEUED:
        raise DecisionError("the appeal is not waiting for a decision")
    if len(reason) < MIN_REASON:
        raise DecisionError(f"write the reason (at least {MIN_REASON} characters)")
    other = claimed_by_other(appeal, user, now)
    if other:
        raise DecisionError(f"claimed by {other}")
    if pending_proposal(session, appeal) is not None:
        raise DecisionError("a decision already waits for a second reviewer")
    if action == ReviewAction.DOWNGRADE and (
        to_measure is None or to_measure.severity >= appeal.case.measure.severity
    ):
        raise DecisionError("a downgrade names a weaker measure")
    if second_needed(session, appeal, action, to_measure):
        proposal = ReviewProposal(
            appeal_id=appeal.id,
            action=action,
            to_measure=to_measure.value if to_measure else None,
            reason=reason,
            proposed_by=user.name,
            proposed_at=now,
            state=ProposalState.PENDING,
        )
        session.add(proposal)
        session.flush()
        audit.append(
            session,
            actor=f"user:{user.name}",
            action=Action.REVIEW_PROPOSE,
            subject=f"case:{appeal.case.number}",
            payload={
                "appeal": appeal.id,
                "proposal": proposal.id,
                "decision": action.value,
                "reason": reason,
                "to": to_measure.value if to_measure else None,
            },
        )
        return DecisionResult(False, proposal)
    _carry_out(session, appeal, action, reason, to_measure, [user.name], settings, now)
    return DecisionResult(True, None)


def approve(
    session: Session,
    proposal: ReviewProposal,
    senior: ConsoleUser,
    note: str,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """The second reviewer agrees: the proposal is carried out."""
    now = now or datetime.now(UTC)
    _check_second(proposal, senior)
    appeal = session.get(Appeal, proposal.appeal_id)
    assert appeal is not None
    proposal.state, proposal.second_by, proposal.second_at = (
        ProposalState.APPROVED,
        senior.name,
        now,
    )
    proposal.second_note = note.strip()
    audit.append(
        session,
        actor=f"user:{senior.name}",
        action=Action.REVIEW_APPROVE,
        subject=f"case:{appeal.case.number}",
        payload={"appeal": appeal.id, "proposal": proposal.id},
    )
    to = Measure(proposal.to_measure) if proposal.to_measure else None
    _carry_out(
        session,
        appeal,
        proposal.action,
        proposal.reason,
        to,
        [proposal.proposed_by, senior.name],
        settings,
        now,
    )


def reject(
    session: Session,
    proposal: ReviewProposal,
    senior: ConsoleUser,
    note: str,
    now: datetime | None = None,
) -> None:
    """The second reviewer disagrees: the appeal stays in the queue, unclaimed."""
    now = now or datetime.now(UTC)
    _check_second(proposal, senior)
    if len(note.strip()) < MIN_REASON:
        raise DecisionError(f"write why (at least {MIN_REASON} characters)")
    appeal = session.get(Appeal, proposal.appeal_id)
    assert appeal is not None
    proposal.state, proposal.second_by, proposal.second_at = (
        ProposalState.REJECTED,
        senior.name,
        now,
    )
    proposal.second_note = note.strip()
    appeal.claimed_by, appeal.claimed_at = None, None
    audit.append(
        session,
        actor=f"user:{senior.name}",
        action=Action.REVIEW_REJECT,
        subject=f"case:{appeal.case.number}",
        payload={"appeal": appeal.id, "proposal": proposal.id, "note": note.strip()},
    )


def _check_second(proposal: ReviewProposal, senior: ConsoleUser) -> None:
    if proposal.state != ProposalState.PENDING:
        raise DecisionError("the proposal was already answered")
    if senior.role != Role.SENIOR:
        raise DecisionError("only a senior reviewer can be the second pair of eyes")
    if senior.name == proposal.proposed_by:
        raise DecisionError("the second reviewer must be another person")


def _carry_out(
    session: Session,
    appeal: Appeal,
    action: ReviewAction,
    reason: str,
    to_measure: Measure | None,
    deciders: list[str],
    settings: Settings,
    now: datetime,
) -> None:
    case = appeal.case
    actor = "user:" + "+".join(deciders)
    was = _seen(case)
    lift_reason = "review"
    if action == ReviewAction.LIFT:
        lift_reason = "appeal_granted"
        lift_everywhere(
            session,
            case,
            actor=actor,
            kind=DeciderKind.PERSON,
            reason=lift_reason,
            settings=settings,
            now=now,
            tell=False,  # told below, with the decision
        )
        close_appeals_of_lifted(
            session, case, decided_by=actor, reason=reason, now=now, settings=settings
        )
        appeal.state = AppealState.GRANTED
    elif action == ReviewAction.UPHOLD:
        case_flows.uphold_measure(
            session, case, actor=actor, reason=reason, now=now, settings=settings
        )
        appeal.state = AppealState.UPHELD
    else:
        assert to_measure is not None
        case_flows.downgrade_measure(
            session,
            case,
            to=to_measure,
            actor=actor,
            reason=reason,
            now=now,
            settings=settings,
            tell=False,  # told below, with the decision
        )
        appeal.state = AppealState.DOWNGRADED
    appeal.decided_at, appeal.decided_by, appeal.decision_reason = now, actor, reason
    appeal.claimed_by, appeal.claimed_at = None, None
    audit.append(
        session,
        actor=actor,
        action=Action.REVIEW_DECIDE,
        subject=f"case:{case.number}",
        payload={
            "appeal": appeal.id,
            "decision": action.value,
            "reason": reason,
            "to": to_measure.value if to_measure else None,
        },
    )
    session.flush()
    decided = Decided(
        decision=appeal.state.value,
        reason=reason,
        accounts=accounts_now(session, case),
        appeal_again=case.state in APPEALABLE,
    )
    ctx = case_flows.context(session, settings, now)
    tell(
        ctx,
        case,
        was,
        _seen(case),
        actor_kind=DeciderKind.PERSON,
        lift_reason=lift_reason,
        decided=decided,
    )
    check_breaker(session, case.directive_id, settings, now)


def _seen(case: Case) -> Measure | None:
    """The measure the person sees on the case's account: in force and visible."""
    return case.measure if case.state in IN_FORCE and case.measure in VISIBLE else None


def accounts_now(session: Session, case: Case) -> tuple[AccountNow, ...]:
    """Every account of the case's person that a notice ever told them of, each with the
    strongest measure in force on it now (None: none): what a decision notice lists.
    Accounts only ever monitored or proposed for a measure are not named."""
    cases = linked_cases_all(session, case)
    noticed = set(
        session.scalars(
            select(NoticeRecord.case_id)
            .where(NoticeRecord.case_id.in_([c.id for c in cases]))
            .distinct()
        )
    )
    strongest: dict[str, AccountNow] = {}
    for c in sorted(cases, key=lambda c: (c.account_id, c.id)):
        if c.id not in noticed and c.id != case.id:
            continue
        seen = _seen(c)
        had = strongest.get(c.account_id)
        if had is None or severity(seen) > severity(had.measure):
            strongest[c.account_id] = AccountNow(
                c.account_id, c.platform, seen.value if seen else None
            )
    return tuple(strongest.values())
