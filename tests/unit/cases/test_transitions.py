"""The lifecycle table, checked exhaustively: every (state, event) pair is either the
move written below or a TransitionError that names the case and where it is allowed."""

from __future__ import annotations

import itertools

import pytest

from fairban.cases.transitions import (
    ENDED,
    IN_FORCE,
    TRANSITIONS,
    CaseState,
    Event,
    TransitionError,
    allowed_from,
    events_from,
    next_state,
)
from fairban.errors import FairbanError

P, A, AP, U, DG, L, X = (
    CaseState.PROPOSED,
    CaseState.ACTIVE,
    CaseState.APPEALED,
    CaseState.UPHELD,
    CaseState.DOWNGRADED,
    CaseState.LIFTED,
    CaseState.EXPIRED,
)

#: written out by hand, independently of the module's table
EXPECTED: dict[tuple[CaseState, Event], CaseState] = {
    (L, Event.PROPOSE): P,
    (X, Event.PROPOSE): P,
    (P, Event.REVISE): P,
    (A, Event.REVISE): A,
    (AP, Event.REVISE): AP,
    (U, Event.REVISE): U,
    (DG, Event.REVISE): DG,
    (P, Event.ENFORCE): A,
    (P, Event.WITHDRAW): L,
    (A, Event.ESCALATE): A,
    (DG, Event.ESCALATE): A,
    (U, Event.ESCALATE): A,
    (AP, Event.ESCALATE): AP,
    (A, Event.APPEAL): AP,
    (DG, Event.APPEAL): AP,
    (AP, Event.UPHOLD): U,
    (A, Event.DOWNGRADE): DG,
    (AP, Event.DOWNGRADE): DG,
    (U, Event.DOWNGRADE): DG,
    (DG, Event.DOWNGRADE): DG,
    (A, Event.LIFT): L,
    (AP, Event.LIFT): L,
    (U, Event.LIFT): L,
    (DG, Event.LIFT): L,
    (A, Event.EXPIRE): X,
    (AP, Event.EXPIRE): X,
    (U, Event.EXPIRE): X,
    (DG, Event.EXPIRE): X,
    (L, Event.REIMPOSE): A,
    (X, Event.REIMPOSE): A,
}

PAIRS = list(itertools.product(CaseState, Event))


def test_the_table_is_exactly_the_expected_one() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("state", "event"), PAIRS, ids=[f"{s}-{e}" for s, e in PAIRS])
def test_every_pair_moves_or_is_refused(state: CaseState, event: Event) -> None:
    if (state, event) in EXPECTED:
        assert next_state(state, event) == EXPECTED[state, event]
        return
    with pytest.raises(TransitionError) as caught:
        next_state(state, event, case="FB-2019-000007")
    error = caught.value
    assert isinstance(error, FairbanError)  # one line on the command line, no traceback
    assert error.state == state
    assert error.event == event
    message = str(error)
    assert message.startswith(
        f"case FB-2019-000007: cannot {event.value} a case that is {state.value}"
    )
    assert "\n" not in message
    froms = [s.value for s in CaseState if (s, event) in EXPECTED]
    assert message.endswith(f"({event.value} is allowed from {', '.join(froms)})")


def test_a_measure_in_force_can_always_end() -> None:
    for state in IN_FORCE:
        assert next_state(state, Event.LIFT) == L
        assert next_state(state, Event.EXPIRE) == X
    assert IN_FORCE | ENDED | {P} == set(CaseState)
    assert not IN_FORCE & ENDED


def test_ended_cases_come_back_only_through_a_new_decision() -> None:
    for state in ENDED:
        assert set(events_from(state)) == {Event.PROPOSE, Event.REIMPOSE}


def test_an_appeal_keeps_the_measure_in_force() -> None:
    assert next_state(A, Event.APPEAL) in IN_FORCE
    assert next_state(AP, Event.UPHOLD) in IN_FORCE


def test_allowed_from_and_events_from_read_the_table() -> None:
    assert allowed_from(Event.APPEAL) == (A, DG)
    assert allowed_from(Event.ENFORCE) == (P,)
    assert events_from(P) == (Event.REVISE, Event.ENFORCE, Event.WITHDRAW)
