"""What a case's change tells the person and the platform: the notice and the webhook.

When what the person sees changes (a ``restrict`` or ``suspend`` comes into force,
changes, or ends), the funnel (``cases/flows.py``) calls :func:`tell`, which stores the
notice in every language (SMS and long form, with a fresh one-time appeal token) and
writes the webhook to the account's platform through the transactional outbox, in the
flow's transaction. ``monitor`` is never noticed and never sent.

When a person decides the person's appeal (``review/flows.py``), the appeal's case is told
once, after every case the decision changes has changed: :func:`tell` with a
:class:`Decided` (the decision, the reviewer's reason, each account as it is now, and
whether the case can be appealed again). An uphold changes no measure and is told all
the same, as a ``measure.apply`` of the measure in force with ``decision: upheld``.

The notice stored is the text sent with its token masked (``?t=…``): only the token's
SHA-256 is kept. The real link travels once, in the webhook to the platform that shows
the person the notice. What a webhook holds is ``platforms/webhooks.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from fairban.cases.links import TOKEN_MASK, appeal_url, issue_token, short_url
from fairban.cases.models import Case, NoticeRecord
from fairban.cases.transitions import CaseError, DeciderKind
from fairban.clock import iso_utc_or_none
from fairban.config import Settings
from fairban.db import add_row
from fairban.directives.models import DirectiveRecord
from fairban.directives.service import get_directive
from fairban.directives.service import translations as directive_translations
from fairban.measures import VISIBLE, Measure
from fairban.notices import AccountNow, NoticeFacts, reasons_from_json, render_sms, render_text
from fairban.notices.model import LIFT, Noticed
from fairban.platforms import webhooks
from fairban.platforms.outbox import add_message

#: every notice is stored in these languages (zh-CN is the one sent by default)
NOTICE_LOCALES = ("zh-CN", "en")


@dataclass
class Context:
    """What one flow call shares: the session, settings, its clock and what it wrote."""

    session: Session
    settings: Settings
    now: datetime
    notices: int = 0
    messages: int = 0
    _directives: dict[str, DirectiveRecord] = field(default_factory=dict)

    def translations(self, directive_id: str, version: int) -> dict[str, dict[str, str]]:
        """The directive version's ``translations`` (what its notices say per language)."""
        return directive_translations(self.session, directive_id, version)

    def directive(self, directive_id: str) -> DirectiveRecord:
        if directive_id not in self._directives:
            self._directives[directive_id] = get_directive(self.session, directive_id)
        return self._directives[directive_id]


class Told(StrEnum):
    """What the person and the platform are told when a case changes."""

    APPLY = "apply"  # a visible measure came into force, or changed
    LIFT = "lift"  # the last visible measure ended


def told(before: Measure | None, after: Measure | None) -> Told | None:
    """What a change of the measure in force, from ``before`` to ``after`` (None: no
    measure), tells the person: nothing while neither is visible or nothing changed."""
    was = before if before in VISIBLE else None
    now = after if after in VISIBLE else None
    if now is not None and now != was:
        return Told.APPLY
    if was is not None and now is None:
        return Told.LIFT
    return None


@dataclass(frozen=True)
class Decided:
    """A person's decision on the person's appeal, as the case's notice tells it."""

    decision: str  # upheld | downgraded | granted (fairban.notices.DECISIONS)
    reason: str  # the reviewer's written reason: the person reads it
    accounts: tuple[AccountNow, ...]  # every account of the person, as the decision left it
    appeal_again: bool  # the case can still be appealed (a further review)


def tell(
    ctx: Context,
    case: Case,
    before: Measure | None,
    after: Measure | None,
    *,
    actor_kind: DeciderKind,
    lift_reason: str | None,
    decided: Decided | None = None,
) -> None:
    """Notice and webhook for a change of the measure in force (:func:`told`), or for a
    person's decision on an appeal (``decided``), which is told even when it changes
    nothing (an uphold)."""
    what = told(before, after)
    if what is None and decided is not None and after in VISIBLE:
        what = Told.APPLY  # upheld: the measure stands, the decision is told
    outcome = decided.decision if decided else None
    if what is Told.APPLY:
        assert after is not None
        # a person's decision on an appeal is a person's, even when it upholds the engine's
        automated = decided is None and case.decided_by_kind == DeciderKind.AUTOMATIC
        link, sms = _notice(
            ctx, case, after, automated=automated, lift_reason=None, decided=decided
        )
        message: webhooks.ApplyBody | webhooks.LiftBody = webhooks.ApplyBody(
            **_body(case, after, automated=automated, link=link, sms=sms),
            decision=outcome,
            reasons=[webhooks.Reason(**r) for r in relied_on(case.reasons)],
            expires_at=iso_utc_or_none(case.expires_at),
        )
    elif what is Told.LIFT:
        assert before is not None
        reason = (lift_reason or "").strip() or "review"
        automated = actor_kind == DeciderKind.AUTOMATIC
        link, sms = _notice(
            ctx, case, LIFT, automated=automated, lift_reason=reason, decided=decided
        )
        message = webhooks.LiftBody(
            **_body(case, before, automated=automated, link=link, sms=sms),
            lift_reason=reason,
            decision=outcome,
        )
    else:
        return
    add_message(
        ctx.session,
        platform=case.platform,
        account_id=case.account_id,
        kind=webhooks.kind_of(message),
        body=webhooks.body(message),
        now=ctx.now,
        case_id=case.id,
        directive_id=case.directive_id,
    )
    ctx.messages += 1


def _body(case: Case, measure: Measure, *, automated: bool, link: str, sms: str) -> dict[str, Any]:
    return {
        "case_number": case.number,
        "directive_id": case.directive_id,
        "directive_version": case.directive_version,
        "measure": measure.value,
        "functions": list(webhooks.FUNCTIONS[measure]),
        "keeps": list(webhooks.KEEPS),
        "person_id": case.person_id,
        "automated": automated,
        "appeal_url": link,
        "sms": sms,
    }


def notice_facts(
    case: Case,
    directive: DirectiveRecord,
    *,
    noticed: Noticed,
    decided_at: datetime,
    automated: bool,
    appeal_url: str,
    short_url: str,
    answer_by: datetime | None,
    lift_reason: str | None = None,
    answer_hours: int = 48,
    translations: Mapping[str, Mapping[str, str]] | None = None,
    decided: Decided | None = None,
) -> NoticeFacts:
    """The facts a notice of ``case`` is written from (the notice's measure, or a lift
    with why). The measure's expiry is stated for a measure, never for a lift."""
    return NoticeFacts(
        case_number=case.number,
        account_id=case.account_id,
        platform=case.platform,
        measure=noticed,
        reasons=reasons_from_json(case.reasons),
        directive_id=case.directive_id,
        directive_title=directive.title,
        issuer=directive.issuer,
        legal_basis=directive.legal_basis,
        decided_at=decided_at,
        automated=automated,
        appeal_url=appeal_url,
        short_url=short_url,
        answer_by=answer_by,
        expires_at=case.expires_at if noticed != LIFT else None,
        lift_reason=lift_reason,
        account_kind=case.account_kind,
        answer_hours=answer_hours,
        translations=translations or {},
        review_reason=decided.reason if decided else None,
        decision=decided.decision if decided else None,
        accounts=decided.accounts if decided else (),
        appeal_again=decided.appeal_again if decided else False,
    )


def _notice(
    ctx: Context,
    case: Case,
    noticed: Noticed,
    *,
    automated: bool,
    lift_reason: str | None,
    decided: Decided | None = None,
) -> tuple[str, str]:
    """Store the notice in every language, with a fresh token; return the real link and
    the zh-CN SMS (for the webhook)."""
    token = issue_token(case)
    directive = ctx.directive(case.directive_id)
    sms_zh = ""
    for lang in NOTICE_LOCALES:
        facts = notice_facts(
            case,
            directive,
            noticed=noticed,
            decided_at=ctx.now,
            automated=automated,
            appeal_url=appeal_url(ctx.settings, case, TOKEN_MASK),
            short_url=short_url(ctx.settings, case),
            # no appeal yet: the deadline counts from its filing, not from this notice
            answer_by=None,
            lift_reason=lift_reason,
            answer_hours=ctx.settings.answer_hours,
            translations=ctx.translations(case.directive_id, case.directive_version),
            decided=decided,
        )
        try:
            sms = render_sms(facts, lang)
        except ValueError as error:
            raise CaseError(
                f"FAIRBAN_PUBLIC_URL {ctx.settings.public_url!r} makes the SMS link too long: "
                f"{error}"
            ) from None
        add_row(
            ctx.session,
            NoticeRecord,
            {
                "case_id": case.id,
                "measure": str(noticed),
                "locale": lang,
                "sms": sms,
                "long_text": render_text(facts, lang),
                "created_at": ctx.now,
            },
        )
        ctx.notices += 1
        if lang == "zh-CN":
            sms_zh = sms
    return appeal_url(ctx.settings, case, token), sms_zh


def relied_on(reasons_json: str) -> list[dict[str, str]]:
    """The reasons a measure rests on (weight > 0) as ``{code, text}``, strongest first:
    what platforms are told."""
    items: Sequence[Mapping[str, Any]] = json.loads(reasons_json)
    return [
        {"code": str(r["code"]), "text": str(r.get("text", ""))}
        for r in items
        if float(r.get("weight", 0.0)) > 0
    ]
