"""Enforcement's choice, as a pure function: what a case goes through when a targeting
run's decision for its account comes in.

:func:`plan` takes what a case is now (:class:`CaseView`, or none), the account's new
decision and the rollout (:class:`Rollout`: the directive's version, its kill switch,
the stage) and returns the events, in order, and what the enforcement report counts.
The rules of who outranks whom live here: a person's judgement of the same evidence
caps automation, a stage never takes a measure back, a paused directive imposes nothing
new. ``cases/enforce.py`` carries plans out; ``tests/unit/cases/test_plan.py`` states
the rules with inline inputs. Pure: no database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from fairban.cases.decisions import DecisionRow, stage_bucket, stage_label, stage_limit
from fairban.cases.transitions import IN_FORCE, CaseState, Event
from fairban.measures import NONE, Measure, severity

#: why a measure ends (``notices.model.LIFT_REASONS``): a new targeting run under the
#: same directive version no longer supports it; its evidence left a standing
#: directive's window; the directive's term ended; a new version no longer covers it
EVIDENCE_RECHECKED = "evidence_rechecked"
EVIDENCE_AGED_OUT = "evidence_aged_out"
DIRECTIVE_ENDED = "directive_ended"
DIRECTIVE_AMENDED = "directive_amended"


@dataclass(frozen=True)
class CaseView:
    """What planning reads of a case."""

    state: CaseState
    measure: Measure
    evidence_hash: str
    directive_version: int
    stage_bucket: int
    reasons: str = "[]"
    risk: float = 0.0
    platform: str = ""
    person_id: str | None = None
    account_kind: str = "personal"
    judged_evidence_hash: str | None = None
    judged_by: str | None = None
    judged_at: datetime | None = None
    #: the facts the case rests on (``DecisionRow.evidence``: each reason's code and data)
    evidence: str = "[]"


def codes(evidence: str) -> frozenset[str]:
    """The reason codes of an evidence snapshot (``DecisionRow.evidence``)."""
    return frozenset(str(item["code"]) for item in json.loads(evidence or "[]"))


def judged_again(case: CaseView, row: DecisionRow, rollout: Rollout) -> bool:
    """Whether ``row`` rests on evidence a person already judged for this case: the very
    same evidence; or, for a standing directive judged on a later window, more of the
    same kinds (the counts of the same reasons move every day): a person's judgement
    holds until the evidence shows something new in kind."""
    if case.judged_evidence_hash is None:
        return False
    if case.judged_evidence_hash == row.evidence_hash:
        return True
    return (
        rollout.window_moved
        and case.evidence_hash == case.judged_evidence_hash  # the case still holds it
        and codes(row.evidence) <= codes(case.evidence)
    )


@dataclass(frozen=True)
class Rollout:
    """What a run enforces under: the directive's current version, whether its kill
    switch is on, and the stage's limit (accounts whose bucket is below it).

    ``ended``: the directive no longer stands (its ``until`` has passed), so every
    measure it imposed ends. ``window_moved``: a standing directive judged again on a
    later window, so an account the run no longer lists has aged out of it."""

    directive_id: str
    version: int
    paused: bool
    stage: float
    ended: bool = False
    window_moved: bool = False

    @property
    def limit(self) -> int:
        return stage_limit(self.stage)

    def reaches(self, bucket: int) -> bool:
        """Whether the stage reaches an account with this bucket."""
        return bucket < self.limit

    def can_impose(self, bucket: int) -> bool:
        return not self.paused and self.reaches(bucket)


@dataclass(frozen=True)
class Planned:
    """One event a case goes through: ``follow``, it takes the run's decision as its
    own; ``to_version``, it records the run's directive version (without a decision)."""

    event: Event
    note: str
    follow: bool = False
    to_version: bool = False
    lift_reason: str | None = None


@dataclass(frozen=True)
class Plan:
    """What enforcement does with one account: ``open``, a new ``proposed`` case from
    the decision first; ``steps``, the events in order; ``tally``, what the report
    counts (``imposed:suspend``, ``lifted:restrict``, ``downgraded:suspend to
    restrict``, ``held_paused``, ``outside_stage``, ``kept_by_person``, ``kept_ended``,
    ``unchanged``)."""

    open: bool = False
    steps: tuple[Planned, ...] = ()
    tally: tuple[str, ...] = ()


def differs(case: CaseView, row: DecisionRow, version: int, kind: str | None) -> bool:
    """Whether the decision says anything other than what the case holds (its evidence,
    reasons, risk, directive version, platform, person, kind or measure)."""
    return (
        case.evidence_hash != row.evidence_hash
        or case.reasons != row.reasons
        or abs(case.risk - row.risk) > 1e-9
        or case.directive_version != version
        or case.platform != row.platform
        or case.person_id != row.person_id
        or (kind is not None and case.account_kind != kind)
        or (row.measure != NONE and case.measure.value != row.measure)
    )


def opened(row: DecisionRow, rollout: Rollout, kind: str | None) -> CaseView:
    """The ``proposed`` case a decision opens."""
    return CaseView(
        state=CaseState.PROPOSED,
        measure=Measure(row.measure),
        evidence_hash=row.evidence_hash,
        directive_version=rollout.version,
        stage_bucket=stage_bucket(rollout.directive_id, row.account_id),
        reasons=row.reasons,
        risk=row.risk,
        platform=row.platform,
        person_id=row.person_id,
        account_kind=kind or "personal",
        evidence=row.evidence,
    )


def plan(
    case: CaseView | None, row: DecisionRow | None, rollout: Rollout, *, kind: str | None = None
) -> Plan:
    """What enforcement does with one account whose case is ``case`` (None: it has none)
    and whose new decision is ``row`` (None: the run did not list it, measure none).

    A person's decision outranks automatic ones: evidence a person judged never imposes
    or strengthens a measure again; different evidence does, and the step says so. A
    lifted case follows a new decision only when its evidence or the directive's
    version differs, an expired one only on new evidence. A stage never takes a measure
    back, and a paused directive imposes nothing new. When the directive has ended,
    every case ends, whoever decided it."""
    if rollout.ended:
        row = None
    want = None if row is None or row.measure == NONE else Measure(row.measure)
    tally: list[str] = []
    is_new = case is None
    if case is None:
        if want is None or row is None:
            return Plan()  # no measure and no case: nothing to keep
        case = opened(row, rollout, kind)
    capped = False
    if row is not None and want is not None and judged_again(case, row, rollout):
        # a person judged this evidence: automation may not go beyond them, and where it
        # says what they decided, their record of the case stands (no revision)
        cap = case.measure if case.state in IN_FORCE else None
        if severity(want) > severity(cap):
            want, capped = cap, True
            tally.append("kept_by_person")
        elif severity(want) == severity(cap) and case.judged_evidence_hash != row.evidence_hash:
            capped = True
    if case.state == CaseState.PROPOSED:
        steps = _proposed(case, row, want, capped, rollout, kind, tally)
    elif case.state in IN_FORCE:
        steps = _in_force(case, row, want, capped, rollout, kind, tally)
    else:
        steps = _ended(case, row, want, rollout, tally)
    return Plan(open=is_new, steps=tuple(steps), tally=tuple(tally))


def _lift_reason(case: CaseView, rollout: Rollout, row: DecisionRow | None) -> str:
    if rollout.ended:
        return DIRECTIVE_ENDED
    if case.directive_version != rollout.version:
        return DIRECTIVE_AMENDED
    if row is None and rollout.window_moved:
        return EVIDENCE_AGED_OUT
    return EVIDENCE_RECHECKED


def _not_imposed(case: CaseView, rollout: Rollout, tally: list[str]) -> None:
    tally.append("held_paused" if rollout.reaches(case.stage_bucket) else "outside_stage")


def _proposed(
    case: CaseView,
    row: DecisionRow | None,
    want: Measure | None,
    capped: bool,
    rollout: Rollout,
    kind: str | None,
    tally: list[str],
) -> list[Planned]:
    if want is None:
        note = (
            f"the same evidence was judged by {case.judged_by}"
            if capped
            else _lift_reason(case, rollout, row)
        )
        return [Planned(Event.WITHDRAW, note, to_version=True)]
    assert row is not None
    steps = []
    if differs(case, row, rollout.version, kind):
        note = f"new decision under version {rollout.version}"
        steps.append(Planned(Event.REVISE, note, follow=True))
    if rollout.can_impose(case.stage_bucket):
        steps.append(Planned(Event.ENFORCE, f"enforced at stage {stage_label(rollout.stage)}"))
        tally.append(f"imposed:{want.value}")
    else:
        _not_imposed(case, rollout, tally)
    return steps


def _in_force(
    case: CaseView,
    row: DecisionRow | None,
    want: Measure | None,
    capped: bool,
    rollout: Rollout,
    kind: str | None,
    tally: list[str],
) -> list[Planned]:
    if want is None:
        reason = _lift_reason(case, rollout, row)
        tally.append(f"lifted:{case.measure.value}")
        return [Planned(Event.LIFT, reason, to_version=True, lift_reason=reason)]
    assert row is not None
    if capped:
        tally.append("unchanged")  # the person's decision stands
        return []
    if severity(want) < severity(case.measure):
        reason = _lift_reason(case, rollout, row)
        tally.append(f"downgraded:{case.measure.value} to {want.value}")
        return [Planned(Event.DOWNGRADE, reason, follow=True, lift_reason=reason)]
    if severity(want) > severity(case.measure):
        if not rollout.can_impose(case.stage_bucket):
            _not_imposed(case, rollout, tally)
            return []
        tally.append(f"imposed:{want.value}")
        return [Planned(Event.ESCALATE, _new_evidence_note(case, row, rollout), follow=True)]
    if differs(case, row, rollout.version, kind):
        note = f"re-evaluated under version {rollout.version}: the measure holds"
        return [Planned(Event.REVISE, note, follow=True)]
    tally.append("unchanged")
    return []


def _ended(
    case: CaseView,
    row: DecisionRow | None,
    want: Measure | None,
    rollout: Rollout,
    tally: list[str],
) -> list[Planned]:
    if want is None or row is None:
        tally.append("unchanged")
        return []
    new_evidence = row.evidence_hash != case.evidence_hash
    new_version = case.directive_version != rollout.version
    if not (new_evidence or (new_version and case.state == CaseState.LIFTED)):
        tally.append("kept_ended")  # the decision that ended is the same one
        return []
    note = _new_evidence_note(case, row, rollout)
    if rollout.can_impose(case.stage_bucket):
        tally.append(f"imposed:{want.value}")
        return [Planned(Event.REIMPOSE, note, follow=True)]
    _not_imposed(case, rollout, tally)
    return [Planned(Event.PROPOSE, note, follow=True)]


def _new_evidence_note(case: CaseView, row: DecisionRow, rollout: Rollout) -> str:
    if case.judged_evidence_hash and case.judged_evidence_hash != row.evidence_hash:
        when = (
            case.judged_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if case.judged_at else ""
        )
        return f"new evidence since {case.judged_by}'s decision of {when}".strip()
    if case.evidence_hash != row.evidence_hash:
        return "new evidence"
    return f"version {rollout.version}"


__all__ = ["CaseView", "Plan", "Planned", "Rollout", "differs", "opened", "plan"]
