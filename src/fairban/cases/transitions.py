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

The sets of states the rest of fairban asks about (a measure in force, a case a person
may appeal, a case that ended) are read off the table, so they cannot drift from it.
Pure: no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from fairban.audit.actions import Action
from fairban.errors import FairbanError


class CaseState(StrEnum):
    """Where a case is in its lifecycle."""

    PROPOSED = "proposed"  # decided, not (yet) enforced: dry run, outside the stage, paused
    ACTIVE = "active"  # the measure is in force
    APPEALED = "appealed"  # in force, an appeal is open
    UPHELD = "upheld"  # in force, a person confirmed it on appeal
    DOWNGRADED = "downgraded"  # a weaker measure is in force
    LIFTED = "lifted"  # no measure any more (appeal granted, amendment, review)
    EXPIRED = "expired"  # the measure reached its expiry


class DeciderKind(StrEnum):
    """Who made a decision: the automatic engine or a person (persons outrank it)."""

    AUTOMATIC = "automatic"
    PERSON = "person"


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
_HELD = (S.ACTIVE, S.APPEALED, S.UPHELD, S.DOWNGRADED)
_ENDED = (S.LIFTED, S.EXPIRED)

#: the table above, row by row: (event, from states, to state; None: the same state)
MOVES: tuple[tuple[Event, tuple[CaseState, ...], CaseState | None], ...] = (
    (Event.PROPOSE, _ENDED, S.PROPOSED),
    (Event.REVISE, (S.PROPOSED, *_HELD), None),
    (Event.ENFORCE, (S.PROPOSED,), S.ACTIVE),
    (Event.WITHDRAW, (S.PROPOSED,), S.LIFTED),
    (Event.ESCALATE, (S.ACTIVE, S.DOWNGRADED, S.UPHELD), S.ACTIVE),
    # an open appeal stays open when new evidence makes the measure stronger
    (Event.ESCALATE, (S.APPEALED,), S.APPEALED),
    (Event.APPEAL, (S.ACTIVE, S.DOWNGRADED), S.APPEALED),
    (Event.UPHOLD, (S.APPEALED,), S.UPHELD),
    (Event.DOWNGRADE, _HELD, S.DOWNGRADED),
    (Event.LIFT, _HELD, S.LIFTED),
    (Event.EXPIRE, _HELD, S.EXPIRED),
    (Event.REIMPOSE, _ENDED, S.ACTIVE),
)


def _table() -> dict[tuple[CaseState, Event], CaseState]:
    table: dict[tuple[CaseState, Event], CaseState] = {}
    for event, froms, to in MOVES:
        for state in froms:
            table[state, event] = state if to is None else to
    return table


#: (state, event) -> next state; a pair that is not here is refused
TRANSITIONS: Mapping[tuple[CaseState, Event], CaseState] = MappingProxyType(_table())


def allowed_from(event: Event) -> tuple[CaseState, ...]:
    """The states ``event`` may happen in, in lifecycle order."""
    return tuple(s for s in CaseState if (s, event) in TRANSITIONS)


def events_from(state: CaseState) -> tuple[Event, ...]:
    """The events that may happen to a case in ``state``, in table order."""
    return tuple(e for e in Event if (state, e) in TRANSITIONS)


#: states in which a measure is in force on the account: those a lift can end
IN_FORCE: frozenset[CaseState] = frozenset(allowed_from(Event.LIFT))
#: states in which the person may appeal
APPEALABLE: frozenset[CaseState] = frozenset(allowed_from(Event.APPEAL))
#: states in which no measure is in force after one was, or a decision was dropped:
#: those a new decision can re-impose from
ENDED: frozenset[CaseState] = frozenset(allowed_from(Event.REIMPOSE))

#: the audit entry each event writes (``case:measure:apply`` for every event that puts
#: a measure in force)
ACTIONS: Mapping[Event, Action] = MappingProxyType(
    {
        Event.PROPOSE: Action.CASE_DECISION_PROPOSE,
        Event.REVISE: Action.CASE_DECISION_REVISE,
        Event.WITHDRAW: Action.CASE_DECISION_WITHDRAW,
        Event.ENFORCE: Action.CASE_MEASURE_APPLY,
        Event.ESCALATE: Action.CASE_MEASURE_APPLY,
        Event.REIMPOSE: Action.CASE_MEASURE_APPLY,
        Event.DOWNGRADE: Action.CASE_MEASURE_DOWNGRADE,
        Event.LIFT: Action.CASE_MEASURE_LIFT,
        Event.EXPIRE: Action.CASE_MEASURE_EXPIRE,
        Event.APPEAL: Action.CASE_APPEAL_FILE,
        Event.UPHOLD: Action.CASE_APPEAL_UPHOLD,
    }
)
#: events that put a measure in force (and start its ``measure_days``)
IMPOSING: frozenset[Event] = frozenset({Event.ENFORCE, Event.ESCALATE, Event.REIMPOSE})
#: events by which a person's decision judges the case's evidence: the same evidence
#: never again makes the measure stronger (principle 7)
_JUDGING: frozenset[Event] = frozenset({Event.UPHOLD, Event.DOWNGRADE, Event.LIFT, Event.WITHDRAW})


def judges(event: Event, actor_kind: DeciderKind) -> bool:
    """Whether this event, by this kind of actor, records the case's evidence as judged
    (a person's uphold, downgrade, lift or withdrawal; never the engine's)."""
    return actor_kind == DeciderKind.PERSON and event in _JUDGING


def decides(event: Event) -> bool:
    """Whether the actor of this event decided the measure now in force without an
    automatic decision to follow (a downgrade picks the weaker measure itself)."""
    return event == Event.DOWNGRADE


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


class CaseError(FairbanError):
    """A change the case or directive cannot take (one line for the person)."""

    exit_code = 2


def next_state(state: CaseState, event: Event, *, case: str | None = None) -> CaseState:
    """The state ``event`` moves a case in ``state`` to; :class:`TransitionError` if the
    table has no such move (``case`` is the case number, for the message)."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise TransitionError(state, event, case) from None
