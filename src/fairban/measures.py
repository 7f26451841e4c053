"""The graded measures (principle 4), weakest first: the one word every layer uses.

Targeting decides a measure, cases keep it in force, notices tell the person about it,
platforms enforce it and reviewers lower or end it; all of them read it from here.
Pure: no database, no web.
"""

from __future__ import annotations

from enum import StrEnum


class Measure(StrEnum):
    """A measure on an account; ``monitor`` is never seen by the person."""

    MONITOR = "monitor"
    RESTRICT = "restrict"
    SUSPEND = "suspend"

    @property
    def severity(self) -> int:
        """1 (monitor) to 3 (suspend); 0 is no measure (:func:`severity`)."""
        return _SEVERITY[self.value]


#: what a decision says when it imposes nothing (no case is opened for it)
NONE = "none"
#: every value of a decision's ``measure`` column, weakest first
DECISION_MEASURES: tuple[str, ...] = (NONE, *(m.value for m in Measure))
#: the measures a person sees: they are noticed and sent to the platform
VISIBLE: frozenset[Measure] = frozenset({Measure.RESTRICT, Measure.SUSPEND})
#: the visible measures' values, weakest first (what a platform's webhook may carry)
VISIBLE_VALUES: tuple[str, ...] = tuple(m.value for m in Measure if m in VISIBLE)

_SEVERITY = {value: rank for rank, value in enumerate(DECISION_MEASURES)}


def severity(measure: Measure | str | None) -> int:
    """How strong a measure is: 0 for none (``None`` or ``"none"``), then 1, 2, 3.

    ``ValueError`` for a word that is no measure."""
    if measure is None:
        return 0
    try:
        return _SEVERITY[str(measure)]
    except KeyError:
        raise ValueError(f"{measure!r} is not a measure ({', '.join(DECISION_MEASURES)})") from None


def weaker_than(measure: Measure | str | None) -> tuple[Measure, ...]:
    """The measures weaker than ``measure``, weakest first."""
    rank = severity(measure)
    return tuple(m for m in Measure if m.severity < rank)


#: the kinds of harm targeting can see an account do, and the strongest measure each
#: calls for by default (principle 4: the weakest measure that stops the harm). An
#: account that reaches people itself (outreach, a compound's phones) is suspended: a
#: hold on its payments would not stop it. An account that only moves money (a mule, a
#: cash-out terminal, money with confirmed accounts) is restricted: holding its outgoing
#: money and blocking new payees stops that. A directive's ``thresholds.measures`` may
#: name other measures; the kinds are fixed.
HARM_MEASURES: dict[str, Measure] = {
    "outreach": Measure.SUSPEND,  # adds strangers who rarely answer: reaches victims
    "phone_farm": Measure.SUSPEND,  # a compound's shared phones, with accounts there
    "operation_phones": Measure.SUSPEND,  # phones judged operators pass around
    "shared_phone": Measure.SUSPEND,  # a phone of an account that stays in the areas
    "collector": Measure.SUSPEND,  # takes the mules' money inside the areas
    "confirmed": Measure.SUSPEND,  # a police case, when nothing else says what it does
    "mule": Measure.RESTRICT,  # forwards victims' money
    "cashout": Measure.RESTRICT,  # turns the operation's money into cash
    "money_ties": Measure.RESTRICT,  # money exchanged with confirmed accounts
}
#: the kinds of harm that move money only: restricted unless others are shown too
MONEY_HARMS: frozenset[str] = frozenset({"mule", "cashout", "money_ties"})
