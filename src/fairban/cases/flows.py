"""Every change of a case's state, and of a directive's kill switch.

Each change goes through one funnel (``_step``) that, in the caller's transaction:

1. asks the transition table (``cases/transitions.py``) for the next state, or raises
   :class:`~fairban.cases.transitions.TransitionError` before anything changes;
2. writes the case (state, measure, decision, who judged it), its ``case_events`` row
   and its audit entry (``case:measure:apply``, ``case:measure:lift``, ...);
3. when what the person sees changes (a ``restrict`` or ``suspend`` comes into force,
   changes, or ends), writes the notice (zh-CN and English, SMS and long form, with a
   fresh one-time appeal token) and the webhook to the account's platform through the
   transactional outbox. ``monitor`` is never noticed and never sent.

**Transactions: flows never commit.** They flush, so ids and the optimistic lock
(``cases.row_version``) are checked at once, and leave ``commit`` to the caller (the
command line, the portal): the state, its event, audit entry, notice and outbox
messages are committed together or not at all, and ``enforce`` over 10,000 decisions
is one transaction.

The notice stored in ``notices`` is the text sent with its token masked (``?t=…``):
only the token's SHA-256 is kept (``cases.appeal_token_hash``). The real link travels
once, in the webhook to the platform that shows the person the notice.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from fairban import __version__, audit
from fairban.cases.enforce import (
    DecisionRow,
    DecisionRows,
    directive_content,
    relied_on,
    stage_bucket,
    stage_label,
    stage_limit,
)
from fairban.cases.models import (
    Case,
    CaseEvent,
    CaseState,
    DeciderKind,
    DirectiveRecord,
    DirectiveVersion,
    Measure,
    NoticeRecord,
)
from fairban.cases.service import counts_of_directive, due_for_expiry, get_directive, list_cases
from fairban.cases.transitions import IN_FORCE, Event, next_state
from fairban.config import Settings, get_settings
from fairban.contract import Directive
from fairban.errors import FairbanError, InputError
from fairban.notices import LIFT_REASONS, NoticeFacts, reasons_from_json, render_sms, render_text
from fairban.notices.model import Measure as NoticeMeasure
from fairban.platforms.models import MessageKind
from fairban.platforms.outbox import enqueue
from fairban.progress import SILENT, Progress

#: who decides automatically (``cases.decided_by``)
ENGINE = f"engine:fairban {__version__}"
#: who lifts measures that reached their expiry
EXPIRY_ACTOR = "system:expiry"
#: the functions a measure limits on the platform (the webhook's ``functions``)
FUNCTIONS: dict[Measure, tuple[str, ...]] = {
    Measure.RESTRICT: ("outgoing_payments", "new_contacts"),
    Measure.SUSPEND: ("sign_in",),
}
#: what the person keeps under any measure (the webhook's ``keeps``; principle 8)
KEEPS = ("appeal", "data_export")
#: measures the person sees (noticed and sent to the platform)
VISIBLE = frozenset({Measure.RESTRICT, Measure.SUSPEND})
SEVERITY: dict[Measure | None, int] = {
    None: 0,
    Measure.MONITOR: 1,
    Measure.RESTRICT: 2,
    Measure.SUSPEND: 3,
}
#: every notice is stored in these languages (zh-CN is the one sent by default)
NOTICE_LOCALES = ("zh-CN", "en")
#: what stands for the one-time token in a stored notice
TOKEN_MASK = "…"
#: lift reason of a measure a new targeting run under the same directive no longer
#: supports (the notices' LIFT_REASONS have none that fits; said here in each language)
EVIDENCE_RECHECKED = "evidence_rechecked"
_LIFT_TEXT = {
    EVIDENCE_RECHECKED: {
        "zh-CN": "根据最新记录重新核查后，该措施已不再成立。",
        "en": "A new check of the latest records found that the measure no longer holds.",
    }
}
BEIJING = timezone(timedelta(hours=8))

ACTIONS: dict[Event, str] = {
    Event.PROPOSE: "case:decision:propose",
    Event.REVISE: "case:decision:revise",
    Event.WITHDRAW: "case:decision:withdraw",
    Event.ENFORCE: "case:measure:apply",
    Event.ESCALATE: "case:measure:apply",
    Event.REIMPOSE: "case:measure:apply",
    Event.DOWNGRADE: "case:measure:downgrade",
    Event.LIFT: "case:measure:lift",
    Event.EXPIRE: "case:measure:expire",
    Event.APPEAL: "case:appeal:file",
    Event.UPHOLD: "case:appeal:uphold",
}
OPEN_ACTION = "case:decision:record"

# advisory lock keys ('fb' 'ca'): one numbering of cases at a time on PostgreSQL
_LOCK_SPACE = 0x6662_6361
_LOCK_NUMBERS = 1


class CaseError(FairbanError):
    """A change the case or directive cannot take (one line for the person)."""

    exit_code = 2


# --- the notice link's one-time token -------------------------------------------------


def issue_token(case: Case) -> str:
    """A new random token for the case's notice link; only its SHA-256 is stored
    (``case.appeal_token_hash``), so the previous token stops working. The caller
    flushes/commits with the rest of its transaction."""
    token = secrets.token_urlsafe(24)
    case.appeal_token_hash = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return token


def check_token(case: Case, token: str) -> bool:
    """Whether ``token`` is the case's current notice-link token (constant time)."""
    if not case.appeal_token_hash or not token:
        return False
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return hmac.compare_digest(digest, case.appeal_token_hash)


def appeal_url(settings: Settings, case: Case, token: str) -> str:
    """The notice's link: ``PUBLIC_URL/c/CASE?t=TOKEN``."""
    return f"{short_url(settings, case)}?t={token}"


def short_url(settings: Settings, case: Case) -> str:
    """The SMS's link: ``PUBLIC_URL/c/CASE`` (the portal then asks for a one-time code)."""
    return f"{settings.public_url.rstrip('/')}/c/{case.number}"


# --- the funnel -------------------------------------------------------------------------


@dataclass
class _Context:
    """What one flow call shares: the session, settings, its clock and what it wrote."""

    session: Session
    settings: Settings
    now: datetime
    notices: int = 0
    messages: int = 0
    _directives: dict[str, DirectiveRecord] = field(default_factory=dict)

    def directive(self, directive_id: str) -> DirectiveRecord:
        if directive_id not in self._directives:
            self._directives[directive_id] = get_directive(self.session, directive_id)
        return self._directives[directive_id]


def _context(session: Session, settings: Settings | None, now: datetime | None) -> _Context:
    now = now or datetime.now(UTC)
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return _Context(session, settings or get_settings(), now)


def _in_force(state: CaseState, measure: Measure) -> Measure | None:
    return measure if state in IN_FORCE else None


def _step(
    ctx: _Context,
    case: Case,
    event: Event,
    *,
    actor: str,
    actor_kind: DeciderKind,
    note: str = "",
    decision: DecisionRow | None = None,
    version: int | None = None,
    kind: str | None = None,
    measure: Measure | None = None,
    impose_days: int | None = None,
    lift_reason: str | None = None,
    judge: bool = False,
    decide: bool = False,
) -> None:
    """The one way a case changes state (see the module docstring).

    ``decision``: a new automatic decision the case now follows (under ``version``);
    ``measure``: the measure in force afterwards when no decision says it; ``impose_days``:
    the directive's ``measure_days`` when this step imposes a measure; ``judge``: a
    person judged the case's evidence (``judged_*``); ``decide``: the actor decided the
    measure now in force (``decided_*``); ``lift_reason``: why, if the person loses a
    measure they saw."""
    to = next_state(case.state, event, case=case.number)
    before_state, before_measure = case.state, case.measure
    was = _in_force(before_state, before_measure)
    if decision is not None:
        _follow(ctx, case, decision, version, kind)
    elif version is not None:
        case.directive_version = version
    if measure is not None:
        case.measure = measure
    if decide:
        case.decided_by, case.decided_by_kind, case.decided_at = actor, actor_kind, ctx.now
    if judge:
        case.judged_by, case.judged_at = actor, ctx.now
        case.judged_evidence_hash = case.evidence_hash
    if event in (Event.ENFORCE, Event.REIMPOSE, Event.ESCALATE):
        case.expires_at = ctx.now + timedelta(days=impose_days) if impose_days else None
    case.state = to
    case.updated_at = ctx.now
    # the audit entry's query flushes the case first: a concurrent change of it fails
    # there (the optimistic lock, cases.row_version), before anything is sent

    ctx.session.add(
        CaseEvent(
            case_id=case.id,
            at=ctx.now,
            from_state=before_state,
            to_state=to,
            measure=case.measure,
            actor=actor,
            actor_kind=actor_kind,
            note=note,
        )
    )
    payload: dict[str, Any] = {
        "event": event.value,
        "from": before_state.value,
        "to": to.value,
        "measure_before": before_measure.value,
        "measure": case.measure.value,
        "actor_kind": actor_kind.value,
        "note": note,
        **_case_payload(case),
    }
    if lift_reason:
        payload["lift_reason"] = lift_reason
    audit.append(
        ctx.session,
        actor=actor,
        action=ACTIONS[event],
        subject=f"case:{case.number}",
        payload=payload,
    )
    _tell(
        ctx, case, was, _in_force(to, case.measure), actor_kind=actor_kind, lift_reason=lift_reason
    )


def _case_payload(case: Case) -> dict[str, Any]:
    return {
        "case": case.number,
        "directive_id": case.directive_id,
        "directive_version": case.directive_version,
        "account_id": case.account_id,
        "platform": case.platform,
        "person_id": case.person_id,
        "risk": case.risk,
        "evidence_hash": case.evidence_hash,
        "decided_by": case.decided_by,
        "judged_evidence_hash": case.judged_evidence_hash,
        "expires_at": _iso(case.expires_at),
    }


def _follow(
    ctx: _Context, case: Case, row: DecisionRow, version: int | None, kind: str | None
) -> None:
    """The case takes an automatic decision as its own."""
    case.platform = row.platform
    case.person_id = row.person_id
    if kind is not None:
        case.account_kind = kind
    if row.measure != "none":
        case.measure = Measure(row.measure)
    case.risk = row.risk
    case.reasons = row.reasons
    case.evidence = row.evidence
    case.evidence_hash = row.evidence_hash
    if version is not None:
        case.directive_version = version
    case.decided_by, case.decided_by_kind, case.decided_at = ENGINE, DeciderKind.AUTOMATIC, ctx.now


def _tell(
    ctx: _Context,
    case: Case,
    was: Measure | None,
    now_in_force: Measure | None,
    *,
    actor_kind: DeciderKind,
    lift_reason: str | None,
) -> None:
    """Notice and webhook when what the person sees changes: a visible measure comes
    into force or changes (apply), or the last visible one ends (lift)."""
    before = was if was in VISIBLE else None
    after = now_in_force if now_in_force in VISIBLE else None
    if after is not None and after != before:
        automated = case.decided_by_kind == DeciderKind.AUTOMATIC
        link, sms = _notice(ctx, case, after.value, automated=automated, lift_reason=None)
        _send(ctx, case, MessageKind.APPLY, after, link=link, sms=sms, automated=automated)
    elif before is not None and after is None:
        reason = (lift_reason or "").strip() or "review"
        automated = actor_kind == DeciderKind.AUTOMATIC
        link, sms = _notice(ctx, case, "lift", automated=automated, lift_reason=reason)
        _send(
            ctx,
            case,
            MessageKind.LIFT,
            before,
            link=link,
            sms=sms,
            automated=automated,
            lift_reason=reason,
        )


def _notice(
    ctx: _Context, case: Case, measure: str, *, automated: bool, lift_reason: str | None
) -> tuple[str, str]:
    """Store the notice in every language, with a fresh token; return the real link and
    the zh-CN SMS (for the webhook)."""
    token = issue_token(case)
    directive = ctx.directive(case.directive_id)
    masked = appeal_url(ctx.settings, case, TOKEN_MASK)
    sms_zh = ""
    for lang in NOTICE_LOCALES:
        facts = NoticeFacts(
            case_number=case.number,
            account_id=case.account_id,
            platform=case.platform,
            measure=cast(NoticeMeasure, measure),
            reasons=reasons_from_json(case.reasons),
            directive_id=case.directive_id,
            directive_title=directive.title,
            issuer=directive.issuer,
            legal_basis=directive.legal_basis,
            decided_at=ctx.now,
            automated=automated,
            appeal_url=masked,
            short_url=short_url(ctx.settings, case),
            answer_by=ctx.now + timedelta(hours=ctx.settings.answer_hours),
            expires_at=case.expires_at if measure != "lift" else None,
            lift_reason=_lift_text(lift_reason, lang) if lift_reason else None,
            account_kind=case.account_kind,
        )
        try:
            sms = render_sms(facts, lang)
        except ValueError as error:
            raise CaseError(
                f"FAIRBAN_PUBLIC_URL {ctx.settings.public_url!r} makes the SMS link too long: "
                f"{error}"
            ) from None
        ctx.session.add(
            NoticeRecord(
                case_id=case.id,
                measure=measure,
                locale=lang,
                sms=sms,
                long_text=render_text(facts, lang),
                created_at=ctx.now,
            )
        )
        ctx.notices += 1
        if lang == "zh-CN":
            sms_zh = sms
    return appeal_url(ctx.settings, case, token), sms_zh


def _lift_text(reason: str, lang: str) -> str:
    """A LIFT_REASONS code as is (the notices say it), fairban's own codes in ``lang``,
    anything else as given."""
    if reason in LIFT_REASONS:
        return reason
    return _LIFT_TEXT.get(reason, {}).get(lang, reason)


def _send(
    ctx: _Context,
    case: Case,
    kind: MessageKind,
    measure: Measure,
    *,
    link: str,
    sms: str,
    automated: bool,
    lift_reason: str | None = None,
) -> None:
    body: dict[str, Any] = {
        "case_number": case.number,
        "directive_id": case.directive_id,
        "directive_version": case.directive_version,
        "measure": measure.value,
        "functions": list(FUNCTIONS[measure]),
        "keeps": list(KEEPS),
        "reasons": relied_on(case.reasons) if kind == MessageKind.APPLY else [],
        "expires_at": _iso(case.expires_at) if kind == MessageKind.APPLY else None,
        "person_id": case.person_id,
        "automated": automated,
        "appeal_url": link,
        "sms": sms,
    }
    if kind == MessageKind.LIFT:
        body["lift_reason"] = lift_reason
    enqueue(
        ctx.session,
        platform=case.platform,
        account_id=case.account_id,
        kind=kind,
        body=body,
        case_id=case.id,
        directive_id=case.directive_id,
    )
    ctx.messages += 1


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- flows a person (or the appeal re-check) starts -------------------------------------


def file_appeal(
    session: Session,
    case: Case,
    *,
    actor: str,
    note: str = "",
    now: datetime | None = None,
    settings: Settings | None = None,
) -> None:
    """The person appeals: ``active``/``downgraded`` -> ``appealed``; the measure stays in
    force until decided. No notice, no webhook."""
    ctx = _context(session, settings, now)
    _step(ctx, case, Event.APPEAL, actor=actor, actor_kind=DeciderKind.PERSON, note=note)


def uphold_measure(
    session: Session,
    case: Case,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> None:
    """A person confirms the measure on appeal: ``appealed`` -> ``upheld``; the case's
    evidence counts as judged (the same evidence never makes it stronger)."""
    ctx = _context(session, settings, now)
    _step(
        ctx,
        case,
        Event.UPHOLD,
        actor=actor,
        actor_kind=DeciderKind.PERSON,
        note=reason,
        judge=True,
    )


def downgrade_measure(
    session: Session,
    case: Case,
    *,
    to: Measure,
    actor: str,
    reason: str,
    actor_kind: DeciderKind = DeciderKind.PERSON,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> None:
    """A weaker measure replaces the one in force (-> ``downgraded``): ``suspend`` ->
    ``restrict`` is a new restrict notice and ``measure.apply`` webhook; to ``monitor``
    a lift notice and ``measure.lift`` (``reason`` is then the lift reason). A person's
    downgrade records the judged evidence. :class:`CaseError` unless ``to`` is weaker."""
    if SEVERITY[to] >= SEVERITY[case.measure]:
        weaker = [m.value for m in Measure if SEVERITY[m] < SEVERITY[case.measure]]
        raise CaseError(
            f"case {case.number}: cannot downgrade {case.measure.value} to {to.value} "
            f"(weaker: {', '.join(weaker) or 'none'}; to end the measure, lift it)"
        )
    ctx = _context(session, settings, now)
    _step(
        ctx,
        case,
        Event.DOWNGRADE,
        actor=actor,
        actor_kind=actor_kind,
        note=reason,
        measure=to,
        lift_reason=reason,
        judge=actor_kind == DeciderKind.PERSON,
        decide=True,
    )


def lift_measure(
    session: Session,
    case: Case,
    *,
    actor: str,
    actor_kind: DeciderKind,
    reason: str,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> None:
    """End the measure in force (-> ``lifted``) with a lift notice and a ``measure.lift``
    webhook (for restrict and suspend). ``reason`` is a ``LIFT_REASONS`` code
    (``appeal_granted``, ``recheck_passed``, ``review``, ...) or text. A person's lift
    records ``judged_by``/``judged_at`` and ``judged_evidence_hash`` (the case's evidence
    hash): the same evidence never re-imposes it (principle 7)."""
    if not reason.strip():
        raise CaseError(f"case {case.number}: a lift needs a reason")
    ctx = _context(session, settings, now)
    _step(
        ctx,
        case,
        Event.LIFT,
        actor=actor,
        actor_kind=actor_kind,
        note=reason,
        lift_reason=reason,
        judge=actor_kind == DeciderKind.PERSON,
    )


def lift_person(
    session: Session,
    person_id: str,
    *,
    actor: str,
    actor_kind: DeciderKind,
    reason: str,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> list[Case]:
    """Lift every measure in force on every account of the person, on every platform and
    under every directive (principle 7), and withdraw their decisions not yet enforced;
    returns the cases changed. A person's lift marks each case's evidence as judged."""
    if not person_id.strip():
        raise CaseError("lift_person needs a person id")
    if not reason.strip():
        raise CaseError(f"person {person_id}: a lift needs a reason")
    ctx = _context(session, settings, now)
    cases = list_cases(session, person_id=person_id, states={CaseState.PROPOSED, *IN_FORCE})
    judge = actor_kind == DeciderKind.PERSON
    for case in cases:
        event = Event.WITHDRAW if case.state == CaseState.PROPOSED else Event.LIFT
        _step(
            ctx,
            case,
            event,
            actor=actor,
            actor_kind=actor_kind,
            note=reason,
            lift_reason=reason,
            judge=judge,
        )
    return cases


def expire_due(
    session: Session,
    *,
    now: datetime,
    actor: str = EXPIRY_ACTOR,
    settings: Settings | None = None,
) -> int:
    """End every measure whose expiry is at or before ``now`` (-> ``expired``, lift notice
    with reason ``expired``); returns how many. Running it again finds none."""
    ctx = _context(session, settings, now)
    cases = due_for_expiry(session, ctx.now)
    for case in cases:
        _step(
            ctx,
            case,
            Event.EXPIRE,
            actor=actor,
            actor_kind=DeciderKind.AUTOMATIC,
            note="expired",
            lift_reason="expired",
        )
    return len(cases)


# --- the kill switch ----------------------------------------------------------------------


def pause_directive(
    session: Session,
    directive_id: str,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Stop a directive: no new measures (``enforce`` records decisions but imposes
    nothing new; the worker holds its pending webhooks). Measures in force stay. Pausing
    a paused directive changes nothing. :class:`~fairban.cases.service.NotFoundError` for an
    unknown directive."""
    record = get_directive(session, directive_id)
    if record.paused:
        return
    at = now or datetime.now(UTC)
    record.paused, record.paused_at, record.paused_by = True, at, actor
    record.pause_reason = reason
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="directive:pause",
        subject=f"directive:{directive_id}",
        payload={"reason": reason, "version": record.current_version},
    )


def resume_directive(
    session: Session, directive_id: str, *, actor: str, now: datetime | None = None
) -> None:
    """Undo :func:`pause_directive`: held webhooks go out, and the next ``enforce`` imposes
    the decisions recorded during the pause. Resuming a running directive changes
    nothing."""
    record = get_directive(session, directive_id)
    if not record.paused:
        return
    payload = {
        "resumed_at": _iso(now or datetime.now(UTC)),
        "paused_at": _iso(record.paused_at),
        "paused_by": record.paused_by,
        "reason": record.pause_reason,
    }
    record.paused, record.paused_at, record.paused_by, record.pause_reason = (
        False,
        None,
        None,
        None,
    )
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="directive:resume",
        subject=f"directive:{directive_id}",
        payload=payload,
    )


# --- enforce --------------------------------------------------------------------------------


@dataclass
class EnforceReport:
    """What one ``enforce`` did (or, with ``dry_run``, would do).

    ``steps`` counts the case events written by kind (``open``, ``enforce``, ``lift``,
    ...); ``imposed`` the measures newly in force, ``lifted`` those ended, by measure;
    ``downgraded`` by ``"suspend to restrict"``; ``held_paused`` the
    measures the kill switch held back, ``outside_stage`` decisions the stage left
    ``proposed``, ``kept_by_person`` decisions a person's judgement of the same evidence
    overrode, ``kept_ended`` lifted or expired cases whose decision is the one that ended;
    ``states`` the directive's cases by (state, measure) afterwards."""

    directive_id: str
    version: int
    amended_from: int | None
    new_version: bool
    paused: bool
    stage: float
    dry_run: bool
    decisions: int
    source: str
    steps: Counter[str] = field(default_factory=Counter)
    imposed: Counter[str] = field(default_factory=Counter)
    lifted: Counter[str] = field(default_factory=Counter)
    downgraded: Counter[str] = field(default_factory=Counter)
    held_paused: int = 0
    outside_stage: int = 0
    kept_by_person: int = 0
    kept_ended: int = 0
    unchanged: int = 0
    notices: int = 0
    messages: int = 0
    states: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether anything was (or would be) written."""
        return bool(sum(self.steps.values())) or self.new_version or self.amended_from is not None

    @property
    def stage_label(self) -> str:
        return stage_label(self.stage)

    def summary(self) -> dict[str, Any]:
        """The report as the ``directive:enforce`` audit entry records it."""
        return {
            "version": self.version,
            "amended_from": self.amended_from,
            "stage": self.stage_label,
            "paused": self.paused,
            "decisions": self.decisions,
            "source": self.source,
            "steps": dict(sorted(self.steps.items())),
            "imposed": dict(sorted(self.imposed.items())),
            "lifted": dict(sorted(self.lifted.items())),
            "downgraded": dict(sorted(self.downgraded.items())),
            "held_paused": self.held_paused,
            "outside_stage": self.outside_stage,
            "kept_by_person": self.kept_by_person,
            "notices": self.notices,
            "messages": self.messages,
        }


def enforce(
    session: Session,
    directive: Directive,
    decisions: DecisionRows,
    *,
    stage: float,
    actor: str,
    dry_run: bool = False,
    now: datetime | None = None,
    settings: Settings | None = None,
    progress: Progress = SILENT,
) -> EnforceReport:
    """Turn a targeting run's decisions into cases and enforce a stage of them.

    Records the directive (a new version when its canonical content changed: an
    amendment), opens a ``proposed`` case per account with a measure, and brings every
    case of the directive in line with ``decisions``: measures that no longer hold are
    lifted (``directive_amended`` when the version changed, else
    ``evidence_rechecked``), weaker ones downgraded, and new or stronger ones imposed
    on the accounts whose ``stage_bucket`` is below ``stage`` x 10,000, unless the
    directive is paused. An account missing from ``decisions`` has measure ``none``.

    A person's decision outranks automatic ones: evidence a person judged
    (``judged_evidence_hash``) never imposes or strengthens a measure again; different
    evidence does, and the step says so. A lifted case follows a new decision only when
    its evidence or the directive's version differs; an expired one only on new
    evidence. Stages only grow: a smaller stage never takes a measure back.

    Idempotent: the same directive, decisions and stage a second time write nothing.
    ``dry_run`` does all of it inside a savepoint that is rolled back: the report says
    exactly what would happen and nothing is written. Never commits (module docstring).
    """
    if not 0 < stage <= 1:
        raise ValueError(f"stage {stage} is not in (0, 1]")
    ctx = _context(session, settings, now)
    if not dry_run:
        return _Enforcement(ctx, directive, decisions, stage, actor, progress).run()
    savepoint = session.begin_nested()
    try:
        report = _Enforcement(ctx, directive, decisions, stage, actor, progress).run()
    finally:
        savepoint.rollback()
    report.dry_run = True
    return report


class _Enforcement:
    def __init__(
        self,
        ctx: _Context,
        directive: Directive,
        decisions: DecisionRows,
        stage: float,
        actor: str,
        progress: Progress,
    ) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.directive = directive
        self.decisions = decisions
        self.limit = stage_limit(stage)
        self.stage = stage
        self.actor = actor
        self.progress = progress
        self.version = 0
        self.paused = False
        self.report: EnforceReport

    # -- the run ---------------------------------------------------------------------

    def run(self) -> EnforceReport:
        d = self.directive
        for row in self.decisions:
            if row.platform not in d.platforms:
                raise InputError(
                    f"{self.decisions.source.name} row {row.row}",
                    f"platform {row.platform!r} is not one of the directive's platforms "
                    f"({', '.join(d.platforms)})",
                )
        record, previous, new_version = self._record_directive()
        self.version = record.current_version
        self.paused = record.paused
        self.report = EnforceReport(
            directive_id=d.id,
            version=self.version,
            amended_from=previous,
            new_version=new_version,
            paused=record.paused,
            stage=self.stage,
            dry_run=False,
            decisions=len(self.decisions),
            source=str(self.decisions.source),
        )
        self._lock_numbers()
        existing = {
            c.account_id: c
            for c in self.session.scalars(select(Case).where(Case.directive_id == d.id))
        }
        self.numbers = _Numbers(self.session, f"FB-{d.issued_at.astimezone(BEIJING).year}-")
        listed = {r.account_id for r in self.decisions}
        gone = [c for a, c in sorted(existing.items()) if a not in listed]
        total = len(self.decisions) + len(gone)
        with self.progress.stage("Enforcing the decisions", total=total) as advance:
            for row in self.decisions:
                self._reconcile(row, existing.get(row.account_id))
                advance(1)
            for case in gone:
                self._reconcile(None, case)
                advance(1)
        report = self.report
        report.notices, report.messages = self.ctx.notices, self.ctx.messages
        if report.changed:
            audit.append(
                self.session,
                actor=self.actor,
                action="directive:enforce",
                subject=f"directive:{d.id}",
                payload=report.summary(),
            )
        report.states = {
            (s.value, m.value): n for (s, m), n in counts_of_directive(self.session, d.id).items()
        }
        return report

    def _record_directive(self) -> tuple[DirectiveRecord, int | None, bool]:
        """The directive's record at the loaded content's version; returns it, the
        version it was at before when that changed (an amendment), and whether the
        content is new."""
        d, now, session = self.directive, self.ctx.now, self.session
        content, digest = directive_content(d)
        record = session.get(DirectiveRecord, d.id, with_for_update=True)
        if record is None:
            record = DirectiveRecord(
                id=d.id,
                title=d.title,
                issuer=d.issuer,
                legal_basis=d.legal_basis,
                current_version=1,
                paused=False,
                created_at=now,
            )
            session.add(record)
            session.flush()
            self._add_version(record, 1, content, digest, previous=None)
            return record, None, True
        same = session.scalars(
            select(DirectiveVersion).where(
                DirectiveVersion.directive_id == d.id, DirectiveVersion.content_hash == digest
            )
        ).first()
        if same is not None and same.version == record.current_version:
            return record, None, False
        previous = record.current_version
        if same is None:
            top = session.scalar(
                select(func.max(DirectiveVersion.version)).where(
                    DirectiveVersion.directive_id == d.id
                )
            )
            version = (top or 0) + 1
            self._add_version(record, version, content, digest, previous=previous)
        else:  # back to an earlier content: that version is current again
            version = same.version
            audit.append(
                session,
                actor=self.actor,
                action="directive:version:load",
                subject=f"directive:{d.id}",
                payload={"version": version, "content_hash": digest, "previous": previous},
            )
        record.current_version = version
        record.title, record.issuer, record.legal_basis = d.title, d.issuer, d.legal_basis
        session.flush()
        return record, previous, same is None

    def _add_version(
        self, record: DirectiveRecord, version: int, content: str, digest: str, previous: int | None
    ) -> None:
        d = self.directive
        self.session.add(
            DirectiveVersion(
                directive_id=record.id,
                version=version,
                content_hash=digest,
                content=content,
                loaded_at=self.ctx.now,
                loaded_by=self.actor,
            )
        )
        self.session.flush()
        audit.append(
            self.session,
            actor=self.actor,
            action="directive:version:load",
            subject=f"directive:{d.id}",
            payload={
                "version": version,
                "content_hash": digest,
                "previous": previous,
                "areas": [a.name for a in d.areas],
                "platforms": list(d.platforms),
                "measure_days": d.measure_days,
            },
        )

    def _lock_numbers(self) -> None:
        # two enforce runs (of any directives) must not hand out the same case number
        if self.session.connection().dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(:space, :key)"),
                {"space": _LOCK_SPACE, "key": _LOCK_NUMBERS},
            )

    # -- one account -------------------------------------------------------------------

    def _can_impose(self, case: Case) -> bool:
        return not self.paused and case.stage_bucket < self.limit

    def _not_imposed(self, case: Case) -> None:
        if case.stage_bucket < self.limit:
            self.report.held_paused += 1
        else:
            self.report.outside_stage += 1

    def _kind(self, account_id: str) -> str | None:
        if self.decisions.kinds is None:
            return None
        return self.decisions.kind_of(account_id)

    def _step(self, case: Case, event: Event, **kw: Any) -> None:
        kw.setdefault("actor", self.actor)
        kw.setdefault("actor_kind", DeciderKind.AUTOMATIC)
        if "decision" in kw:
            kw.setdefault("version", self.version)
            kw.setdefault("kind", self._kind(case.account_id))
        if event in (Event.ENFORCE, Event.REIMPOSE, Event.ESCALATE):
            kw["impose_days"] = self.directive.measure_days
        _step(self.ctx, case, event, **kw)
        self.report.steps[event.value] += 1

    def _reconcile(self, row: DecisionRow | None, case: Case | None) -> None:
        want = None if row is None or row.measure == "none" else Measure(row.measure)
        if case is None:
            if want is None or row is None:
                return  # no measure and no case: nothing to keep
            case = self._open(row, want)
        capped = False
        if row is not None and want is not None and case.judged_evidence_hash == row.evidence_hash:
            # a person judged this very evidence: automation may not go beyond them
            cap = case.measure if case.state in IN_FORCE else None
            if SEVERITY[want] > SEVERITY[cap]:
                want, capped = cap, True
                self.report.kept_by_person += 1
        if case.state == CaseState.PROPOSED:
            self._proposed(case, row, want, capped)
        elif case.state in IN_FORCE:
            self._in_force(case, row, want, capped)
        else:
            self._ended(case, row, want)

    def _open(self, row: DecisionRow, want: Measure) -> Case:
        d, now = self.directive, self.ctx.now
        case = Case(
            number=self.numbers.take(),
            directive_id=d.id,
            directive_version=self.version,
            account_id=row.account_id,
            platform=row.platform,
            person_id=row.person_id,
            account_kind=self._kind(row.account_id) or "personal",
            state=CaseState.PROPOSED,
            measure=want,
            risk=row.risk,
            reasons=row.reasons,
            evidence=row.evidence,
            evidence_hash=row.evidence_hash,
            decided_by=ENGINE,
            decided_by_kind=DeciderKind.AUTOMATIC,
            decided_at=now,
            stage_bucket=stage_bucket(d.id, row.account_id),
            created_at=now,
            updated_at=now,
        )
        self.session.add(case)
        self.session.flush()
        note = f"decided under version {self.version}"
        self.session.add(
            CaseEvent(
                case_id=case.id,
                at=now,
                from_state=None,
                to_state=CaseState.PROPOSED,
                measure=want,
                actor=self.actor,
                actor_kind=DeciderKind.AUTOMATIC,
                note=note,
            )
        )
        audit.append(
            self.session,
            actor=self.actor,
            action=OPEN_ACTION,
            subject=f"case:{case.number}",
            payload={
                "event": "open",
                "to": CaseState.PROPOSED.value,
                "measure": want.value,
                "stage_bucket": case.stage_bucket,
                "note": note,
                **_case_payload(case),
            },
        )
        self.report.steps["open"] += 1
        return case

    def _lift_reason(self, case: Case) -> str:
        return "directive_amended" if case.directive_version != self.version else EVIDENCE_RECHECKED

    def _differs(self, case: Case, row: DecisionRow) -> bool:
        kind = self._kind(row.account_id)
        return (
            case.evidence_hash != row.evidence_hash
            or case.reasons != row.reasons
            or abs(case.risk - row.risk) > 1e-9
            or case.directive_version != self.version
            or case.platform != row.platform
            or case.person_id != row.person_id
            or (kind is not None and case.account_kind != kind)
            or (row.measure != "none" and case.measure.value != row.measure)
        )

    def _proposed(
        self, case: Case, row: DecisionRow | None, want: Measure | None, capped: bool
    ) -> None:
        if want is None:
            note = (
                f"the same evidence was judged by {case.judged_by}"
                if capped
                else self._lift_reason(case)
            )
            self._step(case, Event.WITHDRAW, note=note, version=self.version)
            return
        assert row is not None
        if self._differs(case, row):
            self._step(
                case, Event.REVISE, decision=row, note=f"new decision under version {self.version}"
            )
        if self._can_impose(case):
            self._step(case, Event.ENFORCE, note=f"enforced at stage {stage_label(self.stage)}")
            self.report.imposed[case.measure.value] += 1
        else:
            self._not_imposed(case)

    def _in_force(
        self, case: Case, row: DecisionRow | None, want: Measure | None, capped: bool
    ) -> None:
        if want is None:
            reason = self._lift_reason(case)
            measure = case.measure.value
            self._step(case, Event.LIFT, note=reason, lift_reason=reason, version=self.version)
            self.report.lifted[measure] += 1
            return
        assert row is not None
        if capped:
            self.report.unchanged += 1  # the person's decision stands
            return
        if SEVERITY[want] < SEVERITY[case.measure]:
            reason = self._lift_reason(case)
            self.report.downgraded[f"{case.measure.value} to {want.value}"] += 1
            self._step(case, Event.DOWNGRADE, decision=row, note=reason, lift_reason=reason)
        elif SEVERITY[want] > SEVERITY[case.measure]:
            if not self._can_impose(case):
                self._not_imposed(case)
                return
            self._step(case, Event.ESCALATE, decision=row, note=self._new_evidence_note(case, row))
            self.report.imposed[want.value] += 1
        elif self._differs(case, row):
            note = f"re-evaluated under version {self.version}: the measure holds"
            self._step(case, Event.REVISE, decision=row, note=note)
        else:
            self.report.unchanged += 1

    def _ended(self, case: Case, row: DecisionRow | None, want: Measure | None) -> None:
        if want is None or row is None:
            self.report.unchanged += 1
            return
        new_evidence = row.evidence_hash != case.evidence_hash
        new_version = case.directive_version != self.version
        if not (new_evidence or (new_version and case.state == CaseState.LIFTED)):
            self.report.kept_ended += 1  # the decision that ended is the same one
            return
        note = self._new_evidence_note(case, row)
        if self._can_impose(case):
            self._step(case, Event.REIMPOSE, decision=row, note=note)
            self.report.imposed[want.value] += 1
        else:
            self._step(case, Event.PROPOSE, decision=row, note=note)
            self._not_imposed(case)

    def _new_evidence_note(self, case: Case, row: DecisionRow) -> str:
        if case.judged_evidence_hash and case.judged_evidence_hash != row.evidence_hash:
            when = (
                case.judged_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
                if case.judged_at
                else ""
            )
            return f"new evidence since {case.judged_by}'s decision of {when}".strip()
        if case.evidence_hash != row.evidence_hash:
            return "new evidence"
        return f"version {self.version}"


class _Numbers:
    """Case numbers ``FB-YYYY-000001``, ``FB-YYYY-000002``, ... after the highest one."""

    def __init__(self, session: Session, prefix: str) -> None:
        self.prefix = prefix
        like = Case.number.like(f"{prefix}%")
        longest = session.scalar(select(func.max(func.length(Case.number))).where(like))
        top = None
        if longest:
            top = session.scalar(
                select(func.max(Case.number)).where(like, func.length(Case.number) == longest)
            )
        self.next = int(top[len(prefix) :]) + 1 if top else 1

    def take(self) -> str:
        number = f"{self.prefix}{self.next:06d}"
        self.next += 1
        return number


__all__ = [
    "ENGINE",
    "EVIDENCE_RECHECKED",
    "EXPIRY_ACTOR",
    "FUNCTIONS",
    "KEEPS",
    "CaseError",
    "EnforceReport",
    "appeal_url",
    "check_token",
    "downgrade_measure",
    "enforce",
    "expire_due",
    "file_appeal",
    "issue_token",
    "lift_measure",
    "lift_person",
    "pause_directive",
    "resume_directive",
    "short_url",
    "uphold_measure",
]
