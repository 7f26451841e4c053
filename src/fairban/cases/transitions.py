"""The case lifecycle as one table: which event moves a case from which state to which.

Every state change of a case (``cases/flows.py``) asks :func:`next_state` first, so the
moves below are the only ones that can happen; anything else is a
:class:`TransitionError` naming the case, the event and the states it is allowed from.

======================  ==============================================  ==============
event                   from                                            to
======================  ==============================================  ==============
``propose``             lifted, expired (a new decision, not enforced)  proposed
``revise``              proposed, active, appealed, upheld, downgraded  (the same)
``enforce``             proposed                                        active
``withdraw``            proposed                                        lifted
``escalate``            active, downgraded, upheld                      active
``escalate``            appealed                                        appealed
``appeal``              active, downgraded                              appealed
``uphold``              appealed                                        upheld
``downgrade``           active, appealed, upheld, downgraded            downgraded
``lift``                active, appealed, upheld, downgraded            lifted
``expire``              active, appealed, upheld, downgraded            expired
``reimpose``            lifted, expired                                 active
======================  ==============================================  ==============

``revise`` records a new decision (reasons, risk, directive version) that leaves the
measure as it is; ``escalate`` imposes a stronger measure on new evidence or a new
version of the directive; ``withdraw`` drops a decision that was never enforced.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from fairban.cases.models import CaseState
from fairban.errors import FairbanError


class Event(StrEnum):
    """What happens to a case (the rows of the transition table)."""

    PROPOSE = "propose"
    REVISE = "revise"
    ENFORCE = "enforce"
    WITHDRAW = "withdraw"
    ESCALATE = "escalate"
    APPEAL = "appeal"
    UPHOLD = "uphold"
    DOWNGRADE = "downgrade"
    LIFT = "lift"
    EXPIRE = "expire"
    REIMPOSE = "reimpose"


S = CaseState

#: states in which a measure is in force on the account (the person may appeal it)
IN_FORCE: frozenset[CaseState] = frozenset({S.ACTIVE, S.APPEALED, S.UPHELD, S.DOWNGRADED})
#: states in which no measure is in force and none was ever enforced or it ended
ENDED: frozenset[CaseState] = frozenset({S.LIFTED, S.EXPIRED})


def _table() -> dict[tuple[CaseState, Event], CaseState]:
    table: dict[tuple[CaseState, Event], CaseState] = {}
    for state in ENDED:
        table[state, Event.PROPOSE] = S.PROPOSED
        table[state, Event.REIMPOSE] = S.ACTIVE
    for state in (S.PROPOSED, *IN_FORCE):
        table[state, Event.REVISE] = state
    table[S.PROPOSED, Event.ENFORCE] = S.ACTIVE
    table[S.PROPOSED, Event.WITHDRAW] = S.LIFTED
    for state in (S.ACTIVE, S.DOWNGRADED, S.UPHELD):
        table[state, Event.ESCALATE] = S.ACTIVE
    # an open appeal stays open when new evidence makes the measure stronger
    table[S.APPEALED, Event.ESCALATE] = S.APPEALED
    for state in (S.ACTIVE, S.DOWNGRADED):
        table[state, Event.APPEAL] = S.APPEALED
    table[S.APPEALED, Event.UPHOLD] = S.UPHELD
    for state in IN_FORCE:
        table[state, Event.DOWNGRADE] = S.DOWNGRADED
        table[state, Event.LIFT] = S.LIFTED
        table[state, Event.EXPIRE] = S.EXPIRED
    return table


#: (state, event) -> next state; a pair that is not here is refused
TRANSITIONS: Mapping[tuple[CaseState, Event], CaseState] = MappingProxyType(_table())


class TransitionError(FairbanError):
    """A move the lifecycle does not allow (e.g. appealing a lifted case)."""

    exit_code = 2

    def __init__(self, state: CaseState, event: Event, case: str | None = None) -> None:
        self.state = state
        self.event = event
        self.case = case
        allowed = allowed_from(event)
        where = f"case {case}: " if case else ""
        froms = ", ".join(s.value for s in allowed) if allowed else "no state"
        super().__init__(
            f"{where}cannot {event.value} a case that is {state.value} "
            f"({event.value} is allowed from {froms})"
        )


def next_state(state: CaseState, event: Event, *, case: str | None = None) -> CaseState:
    """The state ``event`` moves a case in ``state`` to; :class:`TransitionError` if the
    table has no such move (``case`` is the case number, for the message)."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise TransitionError(state, event, case) from None


def allowed_from(event: Event) -> tuple[CaseState, ...]:
    """The states ``event`` may happen in, in lifecycle order."""
    return tuple(s for s in CaseState if (s, event) in TRANSITIONS)


def events_from(state: CaseState) -> tuple[Event, ...]:
    """The events that may happen to a case in ``state``, in table order."""
    return tuple(e for e in Event if (state, e) in TRANSITIONS)
