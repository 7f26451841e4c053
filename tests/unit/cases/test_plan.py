"""Enforcement's choice of events, as a pure function: a case and a decision written
inline, the plan asserted (osprey-style). The database half is test_flows.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fairban.cases.decisions import DecisionRow, stage_bucket
from fairban.cases.plan import (
    DIRECTIVE_ENDED,
    EVIDENCE_AGED_OUT,
    EVIDENCE_RECHECKED,
    CaseView,
    Plan,
    Planned,
    Rollout,
    plan,
)
from fairban.cases.transitions import CaseState, Event
from fairban.measures import Measure

DIRECTIVE = "test-2019-mm"
ALL = Rollout(DIRECTIVE, version=1, paused=False, stage=1.0)
PAUSED = Rollout(DIRECTIVE, version=1, paused=True, stage=1.0)
AMENDED = Rollout(DIRECTIVE, version=2, paused=False, stage=1.0)


def row(measure: str, evidence: str = "e1", account: str = "wechat:f1") -> DecisionRow:
    return DecisionRow(
        row=2,
        account_id=account,
        platform="wechat",
        person_id="p-f1",
        measure=measure,
        risk=0.9,
        reasons="[]",
        evidence="[]",
        evidence_hash=evidence,
    )


def case(state: CaseState, measure: Measure, evidence: str = "e1", **kw: object) -> CaseView:
    fields: dict[str, object] = {
        "state": state,
        "measure": measure,
        "evidence_hash": evidence,
        "directive_version": 1,
        "stage_bucket": 0,
        "reasons": "[]",
        "risk": 0.9,
        "platform": "wechat",
        "person_id": "p-f1",
    }
    return CaseView(**(fields | kw))  # type: ignore[arg-type]


def events(p: Plan) -> list[Event]:
    return [s.event for s in p.steps]


def test_a_new_decision_opens_a_case_and_enforces_it() -> None:
    assert plan(None, row("suspend"), ALL) == Plan(
        open=True,
        steps=(Planned(Event.ENFORCE, "enforced at stage all"),),
        tally=("imposed:suspend",),
    )


def test_no_case_and_no_measure_is_nothing() -> None:
    assert plan(None, row("none"), ALL) == Plan()
    assert plan(None, None, ALL) == Plan()


def test_a_paused_directive_opens_but_holds() -> None:
    assert plan(None, row("restrict"), PAUSED) == Plan(open=True, tally=("held_paused",))


def test_outside_the_stage_stays_proposed() -> None:
    account = next(
        a for a in (f"wechat:a{n}" for n in range(100)) if stage_bucket(DIRECTIVE, a) >= 100
    )
    one_percent = Rollout(DIRECTIVE, version=1, paused=False, stage=0.01)
    assert plan(None, row("suspend", account=account), one_percent) == Plan(
        open=True, tally=("outside_stage",)
    )


def test_a_measure_that_no_longer_holds_is_lifted_with_why() -> None:
    active = case(CaseState.ACTIVE, Measure.SUSPEND)
    rechecked = plan(active, row("none"), ALL)
    assert rechecked.steps == (
        Planned(
            Event.LIFT, "evidence_rechecked", to_version=True, lift_reason="evidence_rechecked"
        ),
    )
    assert rechecked.tally == ("lifted:suspend",)
    # not listed at all is measure none; under a new version the reason says so
    amended = plan(active, None, AMENDED)
    assert amended.steps[0].lift_reason == "directive_amended"


def test_weaker_downgrades_stronger_escalates_the_same_changes_nothing() -> None:
    active = case(CaseState.ACTIVE, Measure.SUSPEND)
    assert events(plan(active, row("restrict"), ALL)) == [Event.DOWNGRADE]
    assert plan(active, row("restrict"), ALL).tally == ("downgraded:suspend to restrict",)
    restricted = case(CaseState.ACTIVE, Measure.RESTRICT)
    up = plan(restricted, row("suspend", evidence="e2"), ALL)
    assert up.steps == (Planned(Event.ESCALATE, "new evidence", follow=True),)
    assert plan(active, row("suspend"), ALL) == Plan(tally=("unchanged",))


def test_a_stronger_measure_waits_while_paused() -> None:
    restricted = case(CaseState.ACTIVE, Measure.RESTRICT)
    assert plan(restricted, row("suspend", evidence="e2"), PAUSED) == Plan(tally=("held_paused",))


def test_evidence_a_person_judged_never_strengthens_a_measure() -> None:
    judged_at = datetime(2019, 10, 20, 9, 30, tzinfo=UTC)
    downgraded = case(
        CaseState.DOWNGRADED,
        Measure.RESTRICT,
        judged_evidence_hash="e1",
        judged_by="reviewer:wang",
        judged_at=judged_at,
    )
    assert plan(downgraded, row("suspend"), ALL) == Plan(tally=("kept_by_person", "unchanged"))
    # new evidence does, and the step says since when
    again = plan(downgraded, row("suspend", evidence="e2"), ALL)
    assert again.steps == (
        Planned(
            Event.ESCALATE,
            "new evidence since reviewer:wang's decision of 2019-10-20 09:30 UTC",
            follow=True,
        ),
    )


def test_a_lift_by_a_person_stands_against_the_same_evidence() -> None:
    lifted = case(CaseState.LIFTED, Measure.SUSPEND, judged_evidence_hash="e1")
    assert plan(lifted, row("suspend"), ALL) == Plan(tally=("kept_by_person", "unchanged"))
    assert events(plan(lifted, row("suspend", evidence="e2"), ALL)) == [Event.REIMPOSE]


@pytest.mark.parametrize(
    ("state", "rollout", "expected"),
    [
        (CaseState.LIFTED, ALL, ("kept_ended",)),  # the decision that ended is this one
        (CaseState.EXPIRED, ALL, ("kept_ended",)),
        (CaseState.LIFTED, AMENDED, ("imposed:restrict",)),  # a new version re-judges
        (CaseState.EXPIRED, AMENDED, ("kept_ended",)),  # an expiry needs new evidence
    ],
)
def test_an_ended_case_follows_only_what_is_new(
    state: CaseState, rollout: Rollout, expected: tuple[str, ...]
) -> None:
    assert plan(case(state, Measure.RESTRICT), row("restrict"), rollout).tally == expected


def test_a_proposed_case_withdrawn_or_revised_then_enforced() -> None:
    proposed = case(CaseState.PROPOSED, Measure.RESTRICT)
    assert plan(proposed, row("none"), ALL).steps == (
        Planned(Event.WITHDRAW, "evidence_rechecked", to_version=True),
    )
    revised = plan(proposed, row("suspend", evidence="e2"), ALL)
    assert events(revised) == [Event.REVISE, Event.ENFORCE]
    assert revised.tally == ("imposed:suspend",)


def test_after_its_term_a_directive_ends_every_measure_whoever_decided_it() -> None:
    ended = Rollout(DIRECTIVE, version=1, paused=False, stage=1.0, ended=True)
    upheld = case(CaseState.UPHELD, Measure.SUSPEND, judged_evidence_hash="e1")
    assert plan(upheld, row("suspend"), ended).steps == (
        Planned(Event.LIFT, DIRECTIVE_ENDED, to_version=True, lift_reason=DIRECTIVE_ENDED),
    )
    assert events(plan(case(CaseState.PROPOSED, Measure.RESTRICT), row("restrict"), ended)) == [
        Event.WITHDRAW
    ]
    assert plan(None, row("suspend"), ended) == Plan()  # nothing new opens


def test_on_a_later_window_an_account_no_longer_listed_has_aged_out() -> None:
    moved = Rollout(DIRECTIVE, version=1, paused=False, stage=1.0, window_moved=True)
    active = case(CaseState.ACTIVE, Measure.RESTRICT)
    assert plan(active, None, moved).steps[0].lift_reason == EVIDENCE_AGED_OUT
    # listed with measure none: the new evidence speaks against it
    assert plan(active, row("none"), moved).steps[0].lift_reason == EVIDENCE_RECHECKED


def evidence(*codes: str) -> str:
    return json.dumps([{"code": c, "data": {"n": len(c)}} for c in codes])


def test_a_persons_judgement_holds_while_the_window_moves_on_the_same_kind_of_evidence() -> None:
    moved = Rollout(DIRECTIVE, version=1, paused=False, stage=1.0, window_moved=True)
    judged = evidence("PRESENCE_SUSTAINED", "OUTREACH_STRANGERS")
    lifted = CaseView(
        **{
            **case(CaseState.LIFTED, Measure.SUSPEND, evidence="h1").__dict__,
            "judged_evidence_hash": "h1",
            "judged_by": "reviewer:wang",
            "evidence": judged,
        }
    )
    # the next day: the same reasons with other counts (another hash)
    again = DecisionRow(2, "wechat:f1", "wechat", "p-f1", "suspend", 0.95, "[]", judged, "h2")
    assert plan(lifted, again, moved) == Plan(tally=("kept_by_person", "unchanged"))
    # a new kind of evidence: the judgement is superseded, and the step says since when
    new_kind = DecisionRow(
        2,
        "wechat:f1",
        "wechat",
        "p-f1",
        "suspend",
        0.97,
        "[]",
        evidence("PRESENCE_SUSTAINED", "OUTREACH_STRANGERS", "DEVICE_FARM"),
        "h3",
    )
    assert events(plan(lifted, new_kind, moved)) == [Event.REIMPOSE]
    # a plain enforcement (the window did not move) keeps today's rule: other evidence
    assert events(plan(lifted, again, ALL)) == [Event.REIMPOSE]


def test_a_person_downgrade_is_neither_escalated_nor_revised_by_the_next_days() -> None:
    moved = Rollout(DIRECTIVE, version=1, paused=False, stage=1.0, window_moved=True)
    judged = evidence("MULE_PATTERN")
    downgraded = CaseView(
        **{
            **case(CaseState.DOWNGRADED, Measure.RESTRICT, evidence="h1").__dict__,
            "judged_evidence_hash": "h1",
            "judged_by": "reviewer:li",
            "evidence": judged,
        }
    )
    stronger = DecisionRow(2, "alipay:m", "alipay", "p-m", "suspend", 0.95, "[]", judged, "h2")
    assert plan(downgraded, stronger, moved) == Plan(tally=("kept_by_person", "unchanged"))
    same = DecisionRow(2, "alipay:m", "alipay", "p-m", "restrict", 0.7, "[]", judged, "h2")
    assert plan(downgraded, same, moved) == Plan(tally=("unchanged",))
    # the engine may still lower it, or end it when the evidence is gone
    assert events(plan(downgraded, None, moved)) == [Event.LIFT]
