"""What a notice is made from: the facts of one case, as the case store hands them over.

Notices are pure: ``NoticeFacts`` in, text out. Nothing here reads a database or the web.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal

from fairban.contract.directive import words_in
from fairban.measures import VISIBLE_VALUES, Measure

#: what a notice of a measure's end says in place of the measure
LIFT: Final = "lift"
#: what a notice announces: a visible measure (restrict, suspend), or its lift
Noticed = Measure | Literal["lift"]

#: what is noticed; ``monitor`` is invisible by definition, ``none`` is nothing
NOTICE_MEASURES: tuple[str, ...] = (*VISIBLE_VALUES, LIFT)

#: why a measure was lifted, as codes the notices can say in every language
#: (``NoticeFacts.lift_reason`` may also be free text, shown as given)
LIFT_REASONS: tuple[str, ...] = (
    "appeal_granted",
    "recheck_passed",
    "review",
    "directive_amended",
    "directive_withdrawn",
    "directive_ended",
    "evidence_rechecked",
    "evidence_aged_out",
    "expired",
)


#: what a person decided on the person's appeal (``NoticeFacts.decision``)
DECISIONS: tuple[str, ...] = ("upheld", "downgraded", "granted")
#: what each decision can leave the account with (a downgrade to monitor ends what is seen)
DECISION_LEAVES: dict[str, tuple[str, ...]] = {
    "upheld": VISIBLE_VALUES,
    "downgraded": ("restrict", LIFT),
    "granted": (LIFT,),
}


@dataclass(frozen=True)
class AccountNow:
    """One of the person's accounts as a decision on their appeal leaves it."""

    account_id: str
    platform: str
    measure: str | None  # the visible measure in force (restrict, suspend); None: none


@dataclass(frozen=True)
class Reason:
    """One reason of a decision, as ``fairban target`` writes it (``targeting/reasons.py``).

    ``code`` is stable; ``text`` is the engine's English sentence; ``weight`` the evidence
    points it added (negative: evidence against the measure); ``data`` the numbers
    behind the sentence, from which notices say it in each language.
    """

    code: str
    text: str
    weight: float
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reason:
        return cls(
            code=str(d["code"]),
            text=str(d.get("text", "")),
            weight=float(d.get("weight", 0.0)),
            data=MappingProxyType(dict(d.get("data") or {})),
        )


def reasons_from_json(value: str | Iterable[Mapping[str, Any]]) -> tuple[Reason, ...]:
    """The ``reasons`` column of a decisions table (a JSON string or parsed list)."""
    items = json.loads(value) if isinstance(value, str) else value
    return tuple(Reason.from_dict(d) for d in items)


@dataclass(frozen=True)
class NoticeFacts:
    """Everything a notice says about one measure on one account."""

    case_number: str  # e.g. 'FB-2019-000123'
    account_id: str
    platform: str
    measure: Noticed  # lift = the measure was lifted (with why)
    reasons: tuple[Reason, ...]
    directive_id: str
    directive_title: str
    issuer: str
    legal_basis: str
    decided_at: datetime  # aware; for a lift, when it was lifted
    automated: bool  # decided by the automatic engine (True) or by a person
    appeal_url: str  # full link with case number and one-time token
    short_url: str  # short link for SMS
    #: an answer to the appeal comes by then at the latest; None before an appeal is
    #: filed (the deadline is then ``answer_hours`` counted from the filing)
    answer_by: datetime | None
    expires_at: datetime | None  # the measure ends by itself then (None: until lifted)
    lift_reason: str | None = None  # for measure == 'lift': a LIFT_REASONS code or text
    account_kind: str = "personal"  # the evidence's accounts.kind: personal | merchant
    answer_hours: int = 48  # the review deadline, counted from an appeal's filing
    #: the directive's own words per language (its ``translations`` key): language ->
    #: {title, issuer, legal_basis}; what a language lacks is said as the directive says it
    translations: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: where the notice's appeal button leads (the portal: its own form); else appeal_url
    appeal_button: str = ""
    #: the written reason of a person who decided the person's appeal (None: none did)
    review_reason: str | None = None
    #: a notice of that decision: what was decided (:data:`DECISIONS`), each of the
    #: person's accounts as it leaves them, and whether the case can be appealed again
    decision: str | None = None
    accounts: tuple[AccountNow, ...] = ()
    appeal_again: bool = False

    def directive_words(self, lang: str) -> tuple[str, str, str]:
        """The directive's title, issuer and legal basis in ``lang`` (``zh-CN`` also
        finds ``zh``), each falling back to the directive's own."""
        own = (self.directive_title, self.issuer, self.legal_basis)
        return words_in(self.translations, lang, own)


def check_facts(facts: NoticeFacts) -> None:
    """Refuse what must never become a notice; ``ValueError`` says why.

    ``monitor`` is never noticed (it is invisible by definition) and ``none`` is no
    measure; times must be aware (a notice states them in Beijing time); a lift says why.
    """
    if facts.measure not in NOTICE_MEASURES:
        raise ValueError(
            f"case {facts.case_number}: measure {facts.measure!r} gets no notice "
            f"(only {', '.join(NOTICE_MEASURES)}; monitor is invisible by definition)"
        )
    for name in ("decided_at", "answer_by", "expires_at"):
        value = getattr(facts, name)
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"case {facts.case_number}: {name} must be timezone-aware")
    if facts.measure == "lift" and not (facts.lift_reason or "").strip():
        raise ValueError(f"case {facts.case_number}: a lift notice needs lift_reason")
    if facts.decision is not None:
        if facts.decision not in DECISIONS:
            raise ValueError(
                f"case {facts.case_number}: decision {facts.decision!r} is none of "
                f"{', '.join(DECISIONS)}"
            )
        if not (facts.review_reason or "").strip():
            raise ValueError(f"case {facts.case_number}: a decision notice needs review_reason")
        if facts.measure not in DECISION_LEAVES[facts.decision]:
            raise ValueError(
                f"case {facts.case_number}: an appeal {facts.decision} does not leave "
                f"the measure {facts.measure!r}"
            )
    for name in ("case_number", "account_id", "platform", "appeal_url", "short_url"):
        if not str(getattr(facts, name)).strip():
            raise ValueError(f"case {facts.case_number}: {name} is empty")
