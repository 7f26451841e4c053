"""The automatic re-check and its outcome: an appeal taken in, judged again on the latest
evidence, and granted everywhere at once (every linked account of the person) or
queued for a person.

Each flow works in the caller's transaction and writes its audit entries there; the
caller commits. Case state changes go through :mod:`fairban.cases.flows`, which writes
the case's timeline, notice and outbox messages in the same transaction. Filing is
``appeals/filing.py``; the loop that runs re-checks, ``appeals/worker.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from fairban import audit
from fairban.appeals import grouping
from fairban.appeals import ordering as _ordering  # noqa: F401 (its flush hooks)
from fairban.appeals.breaker import check_breaker
from fairban.appeals.models import OPEN_STATES, Appeal, AppealState
from fairban.appeals.recheck import NONE, DecisionCache, NewDecision, hints
from fairban.audit.actions import Action
from fairban.cases import flows as case_flows
from fairban.cases.models import Case
from fairban.cases.persons import person_cases, prefetched
from fairban.cases.transitions import APPEALABLE, IN_FORCE, CaseState, DeciderKind
from fairban.config import Settings
from fairban.db import stop_versioned_together, update_versioned_together, versioned_before_flush
from fairban.digests import sha256_hex
from fairban.directives.models import DirectiveRecord, DirectiveVersion

log = logging.getLogger("fairban.appeals")

# after grouping's and ordering's hooks (imported above), which read the cases' history
# that this one clears when it writes a batch's cases together (recheck_batch)
event.listen(Session, "before_flush", versioned_before_flush)


RECHECK_ACTOR = "fairban:recheck"


@dataclass(frozen=True)
class RecheckOutcome:
    granted: bool
    result: dict[str, object]


def linked_cases(session: Session, case: Case) -> list[Case]:
    """The cases in force of every account of the case's person (the case alone when
    the evidence names no person)."""
    if not case.person_id:
        return [case]
    known = person_cases(session, case.person_id, IN_FORCE)
    if known is not None:
        found = sorted(known, key=lambda c: c.id)
    else:
        query = select(Case).where(Case.person_id == case.person_id, Case.state.in_(list(IN_FORCE)))
        found = list(session.scalars(query.order_by(Case.id)))
    return found if any(c.id == case.id for c in found) else [case, *found]


def take_in(session: Session, appeal: Appeal, settings: Settings, now: datetime) -> None:
    """The appeal enters the case's record: the case moves to ``appealed`` (when its
    measure is still in force and appealable) and ``appeal:file`` is audited. The
    statement may hold personal data: the public log gets its hash only."""
    case = appeal.case
    if case.state in APPEALABLE:
        case_flows.file_appeal(
            session,
            case,
            actor=f"appellant:{case.number}",
            note=",".join(json.loads(appeal.grounds)),
            now=now,
            settings=settings,
        )
    audit.append(
        session,
        actor=f"appellant:{case.number}",
        action=Action.APPEAL_FILE,
        subject=f"case:{case.number}",
        payload={
            "appeal": appeal.id,
            "filed_at": appeal.filed_at.isoformat(),
            "grounds": json.loads(appeal.grounds),
            "statement_sha256": sha256_hex(appeal.statement),
            "uploads": [u.sha256 for u in appeal.uploads],
        },
    )


@dataclass(frozen=True)
class Judgement:
    """The re-check's view of one directive: its current version and the engine's
    decisions on the evidence as it is now (one per directive version and evidence
    state, shared by every appeal of a batch), or why there are none."""

    version: int | None = None
    table: Mapping[str, NewDecision] | None = None
    note: str | None = None
    #: held so the session's identity map keeps it (the notices of every lift read it;
    #: the map holds objects weakly, and each lookup again would flush and query)
    record: DirectiveRecord | None = None


def judge(session: Session, directive_id: str, cache: DecisionCache | None) -> Judgement:
    """The engine's decisions under the directive's current version (cached: the engine
    runs once per version and evidence state)."""
    if cache is None:
        return Judgement(note="no evidence folder configured: a person decides")
    record = session.get(DirectiveRecord, directive_id)
    version = session.scalars(
        select(DirectiveVersion).where(
            DirectiveVersion.directive_id == directive_id,
            DirectiveVersion.version == (record.current_version if record else -1),
        )
    ).first()
    if version is None:
        return Judgement(
            note="the directive's current version is missing: a person decides", record=record
        )
    try:
        directive = cache.directive(version.content_hash, version.content)
        table = cache.decisions(directive, f"{version.directive_id}@{version.content_hash}")
    except Exception as e:  # a broken evidence folder must not strand the appeal
        log.exception("re-check under directive %s failed", directive_id)
        return Judgement(
            note=f"re-check failed ({type(e).__name__}): a person decides", record=record
        )
    return Judgement(version=version.version, table=table, record=record)


def recheck_batch(
    session: Session,
    appeals: Sequence[Appeal],
    cache: DecisionCache | None,
    settings: Settings,
    now: datetime | None = None,
) -> list[RecheckOutcome]:
    """Re-check many appeals in the caller's transaction: one judgement per directive
    (its version and the evidence state) answers all of them, and the circuit breaker
    is asked once per directive at the end. Same outcome, appeal by appeal, as
    :func:`recheck`."""
    now = now or datetime.now(UTC)
    judgements: dict[str, Judgement] = {}
    granted: set[str] = set()
    # the batch's cases are written together at each flush, their versions checked
    update_versioned_together(session, Case)
    try:
        with _persons_read(session, appeals):
            outcomes = _recheck_each(session, appeals, cache, settings, now, judgements, granted)
        session.flush()
    finally:
        stop_versioned_together(session)
    for directive_id in sorted(granted):
        check_breaker(session, directive_id, settings, now)
    return outcomes


#: case id -> its appeals open when the batch's persons were read (:func:`_persons_read`)
_OPEN_APPEALS = "fairban.appeals.open_of_persons"


@contextmanager
def _persons_read(session: Session, appeals: Sequence[Appeal]) -> Iterator[None]:
    """Every case of the batch's persons, and their open appeals, in two queries for the
    batch, not three queries an appellant (each flushing the appeals before it one by
    one): the linked cases, the lift of them all and their appeals are answered from
    the session's own objects."""
    persons = {a.case.person_id for a in appeals if a.case.person_id}
    with prefetched(session, persons) as cases:
        ids = [c.id for found in cases.values() for c in found]
        open_appeals: dict[int, list[Appeal]] = {i: [] for i in ids}
        if ids:
            query = select(Appeal).where(Appeal.case_id.in_(ids), Appeal.state.in_(OPEN_STATES))
            for appeal in session.scalars(query):
                open_appeals[appeal.case_id].append(appeal)
        session.info[_OPEN_APPEALS] = open_appeals
        try:
            yield
        finally:
            session.info.pop(_OPEN_APPEALS, None)


def _recheck_each(
    session: Session,
    appeals: Sequence[Appeal],
    cache: DecisionCache | None,
    settings: Settings,
    now: datetime,
    judgements: dict[str, Judgement],
    granted: set[str],
) -> list[RecheckOutcome]:
    outcomes: list[RecheckOutcome] = []
    for appeal in appeals:
        directive_id = appeal.case.directive_id
        if directive_id not in judgements:
            judgements[directive_id] = judge(session, directive_id, cache)
        outcome = recheck(
            session,
            appeal,
            cache,
            settings,
            now,
            judgement=judgements[directive_id],
            breaker=False,
        )
        if outcome.granted:
            granted.add(directive_id)
        outcomes.append(outcome)
    return outcomes


def recheck(
    session: Session,
    appeal: Appeal,
    cache: DecisionCache | None,
    settings: Settings,
    now: datetime | None = None,
    *,
    judgement: Judgement | None = None,
    breaker: bool = True,
) -> RecheckOutcome:
    """Re-run the directive's current version for the appellant's accounts; lift on
    every linked account and platform when no measure holds any more, else queue the
    appeal for a person with the hints. Person-made decisions are not overruled.
    ``judgement`` is the directive's (:func:`judge`) when a batch shares it; ``breaker``
    false leaves the circuit breaker to the batch."""
    now = now or datetime.now(UTC)
    case = appeal.case
    if appeal.state != AppealState.RECEIVED:
        return RecheckOutcome(
            appeal.state == AppealState.GRANTED, json.loads(appeal.recheck or "{}")
        )
    take_in(session, appeal, settings, now)
    result: dict[str, object] = {"at": now.isoformat()}
    granted = False
    if case.state not in IN_FORCE:
        result["note"] = f"case is {case.state.value}: nothing to lift"
        granted = case.state == CaseState.LIFTED
    elif case.decided_by_kind == DeciderKind.PERSON and case.judged_by:
        result["note"] = "a person decided this case: a person decides the appeal"
    else:
        judged = judgement or judge(session, case.directive_id, cache)
        if judged.table is None:
            result["note"] = judged.note
        else:
            table = judged.table
            cases = linked_cases(session, case)
            accounts = {c.account_id: table.get(c.account_id, NONE) for c in cases}
            result["version"] = judged.version
            result["accounts"] = {
                a: {"measure": d.measure, "risk": round(d.risk, 3)} for a, d in accounts.items()
            }
            mine = accounts.get(case.account_id, NONE)
            result["hints"] = hints(json.loads(appeal.grounds), mine.reasons)
            granted = not any(d.holds for d in accounts.values())
            if granted:
                lift_everywhere(
                    session,
                    case,
                    actor=RECHECK_ACTOR,
                    kind=DeciderKind.AUTOMATIC,
                    reason="recheck_passed",
                    settings=settings,
                    now=now,
                )
    appeal.recheck = json.dumps(result, ensure_ascii=False)
    appeal.rechecked_at = now
    appeal.recheck_claim = None
    if granted:
        close_appeals_of_lifted(
            session,
            case,
            decided_by=RECHECK_ACTOR,
            reason="recheck_passed",
            now=now,
            settings=settings,
            appeal=appeal,
        )
    else:
        appeal.state = AppealState.QUEUED
        grouping.stamp(appeal, case)
        # its priority (``appeals/ordering.py``) is stamped by the flush, which counts
        # the person's accounts held once for every appeal the batch queues
    audit.append(
        session,
        actor=RECHECK_ACTOR,
        action=Action.APPEAL_RECHECK_GRANT if granted else Action.APPEAL_RECHECK_QUEUE,
        subject=f"case:{case.number}",
        payload={"appeal": appeal.id, "result": result},
    )
    if not audit.is_batched(session):
        session.flush()
    if granted and breaker:
        check_breaker(session, case.directive_id, settings, now)
    return RecheckOutcome(granted, result)


def lift_everywhere(
    session: Session,
    case: Case,
    *,
    actor: str,
    kind: DeciderKind,
    reason: str,
    settings: Settings,
    now: datetime,
    tell: bool = True,
) -> None:
    """Lift the case's measure on every account of its person (the case alone without
    a person), on every platform. ``tell`` False: the caller tells ``case`` itself (the
    person's other cases are told as ever)."""
    if case.person_id:
        case_flows.lift_person(
            session,
            case.person_id,
            actor=actor,
            actor_kind=kind,
            reason=reason,
            now=now,
            settings=settings,
            told_apart=None if tell else case.id,
        )
    else:
        case_flows.lift_measure(
            session,
            case,
            actor=actor,
            actor_kind=kind,
            reason=reason,
            now=now,
            settings=settings,
            tell=tell,
        )


def close_appeals_of_lifted(
    session: Session,
    case: Case,
    *,
    decided_by: str,
    reason: str,
    now: datetime,
    settings: Settings,
    appeal: Appeal | None = None,
) -> None:
    """Mark granted every open appeal whose case is lifted now (the appellant's and
    those of the person's other accounts); one not yet taken in is taken in first.
    ``appeal``, the re-check's own (taken in already, though still ``received``): the
    case's open appeal; without a person it is the only one (one open appeal per case),
    and no query is needed."""
    if appeal is not None and not case.person_id:
        open_appeals: list[Appeal] = [appeal] if appeal.state in OPEN_STATES else []
    else:
        ids = [c.id for c in linked_cases_any(session, case)]
        known: dict[int, list[Appeal]] | None = session.info.get(_OPEN_APPEALS)
        if known is not None and all(i in known for i in ids):
            # read with the batch's persons (recheck_batch): those still open now
            open_appeals = [a for i in ids for a in known[i] if a.state in OPEN_STATES]
        else:
            open_appeals = list(
                session.scalars(
                    select(Appeal).where(Appeal.case_id.in_(ids), Appeal.state.in_(OPEN_STATES))
                )
            )
    for other in open_appeals:
        if other.case.state != CaseState.LIFTED:
            continue
        # the re-check's own appeal is in the record already: a second take-in would
        # audit its filing twice
        if other.state == AppealState.RECEIVED and other is not appeal:
            take_in(session, other, settings, now)
        other.state = AppealState.GRANTED
        other.decided_at = now
        other.decided_by = decided_by
        other.decision_reason = reason
        other.recheck_claim = None


def linked_cases_any(session: Session, case: Case) -> list[Case]:
    """Every case of the case's person, whatever its state."""
    if not case.person_id:
        return [case]
    known = person_cases(session, case.person_id)
    if known is not None:
        return list(known)
    return list(session.scalars(select(Case).where(Case.person_id == case.person_id)))
