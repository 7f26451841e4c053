"""The operators' dashboard: the directives over time (measures imposed and lifted,
appeals filed and decided, the overturn rate, by Beijing day and by platform), the
outbox's health, appeals past or near their deadline, each directive's breaker and
rollout, and the shadow comparison; and the operator's steps from it (pause, resume,
the next stage), each through the service the CLI uses, with the operator's reason in
the audit log.

Pure reads of the case store, except :func:`pause`, :func:`resume` and
:func:`next_stage`, which work in the caller's transaction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban import audit
from fairban.appeals.breaker import BREAKER_ACTOR, grant_share
from fairban.appeals.models import OPEN_STATES, Appeal, AppealState
from fairban.audit.actions import Action
from fairban.cases.daily import DailyReport, run_daily
from fairban.cases.decisions import stage_label
from fairban.cases.models import Case, CaseEvent, ShadowCase
from fairban.cases.shadow import ShadowDay, compare, explain
from fairban.cases.transitions import IN_FORCE, CaseState
from fairban.clock import BEIJING
from fairban.config import Settings
from fairban.directives.content import directive_from_content
from fairban.directives.flows import ShadowError, pause_directive, resume_directive
from fairban.directives.models import DirectiveRecord
from fairban.directives.service import directive_version, get_directive
from fairban.platforms.models import OutboxMessage, OutboxState
from fairban.store.layout import Store

#: the rollout's ladder: the stage after the current one (fairban daily --stage)
STAGES = (0.01, 0.1, 0.5, 1.0)
#: an open appeal this close to its deadline is listed as due soon
DUE_SOON = timedelta(hours=6)
MIN_REASON = 10
#: the series of a day's row, in the order the tables and charts show them
SERIES = ("imposed", "lifted", "appeals", "decided", "overturned")


class StepError(ValueError):
    """An operator's step that cannot be taken (one line, shown on the dashboard)."""


@dataclass
class DayRow:
    day: date
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def overturn_rate(self) -> float | None:
        """Granted or downgraded among the appeals decided that day."""
        decided = self.counts["decided"]
        return self.counts["overturned"] / decided if decided else None


#: accounts of the latest shadow day listed on the dashboard
SHADOW_LISTED = 50


@dataclass
class DirectiveState:
    record: DirectiveRecord
    stage: str | None
    next_stage: str | None
    granted: int
    decided: int
    tripped: bool
    shadow: list[ShadowDay]
    #: the latest shadow day's accounts that differ from live, each with its why (the
    #: first :data:`SHADOW_LISTED`; ``fairban shadow compare`` lists them all)
    shadow_latest: list[tuple[ShadowCase, str]] = field(default_factory=list)

    @property
    def shadow_more(self) -> int:
        return len(self.shadow[-1].rows) - len(self.shadow_latest) if self.shadow else 0


@dataclass
class Dashboard:
    days: list[DayRow]
    #: platform -> the period's totals
    platforms: dict[str, Counter[str]]
    outbox_pending: int
    outbox_dead: int
    outbox_lag_s: float
    overdue: list[Appeal]
    due_soon: list[Appeal]
    directives: list[DirectiveState]
    breaker_window_h: int


def beijing_day(at: datetime) -> date:
    return at.astimezone(BEIJING).date()


def _next(stage: float | None) -> float | None:
    if stage is None:
        return None
    return next((s for s in STAGES if s > stage + 1e-9), None)


def dashboard(session: Session, settings: Settings, now: datetime, days: int = 14) -> Dashboard:
    """The last ``days`` Beijing days, today included."""
    last = beijing_day(now)
    first = last - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=BEIJING)
    rows = {first + timedelta(days=i): DayRow(first + timedelta(days=i)) for i in range(days)}
    platforms: dict[str, Counter[str]] = {}

    def count(at: datetime, platform: str, series: str) -> None:
        row = rows.get(beijing_day(at))
        if row is None:
            return
        row.counts[series] += 1
        platforms.setdefault(platform, Counter())[series] += 1

    events = session.execute(
        select(CaseEvent.at, CaseEvent.from_state, CaseEvent.to_state, Case.platform)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.at >= since)
    ).all()
    for at, before, after, platform in events:
        if after == CaseState.ACTIVE and before not in IN_FORCE:
            count(at, platform, "imposed")  # a measure came into force
        elif after == CaseState.LIFTED:
            count(at, platform, "lifted")
    appeals = session.execute(
        select(Appeal.filed_at, Appeal.decided_at, Appeal.state, Case.platform)
        .join(Case, Case.id == Appeal.case_id)
        .where((Appeal.filed_at >= since) | (Appeal.decided_at >= since))
    ).all()
    for filed, decided, state, platform in appeals:
        if filed >= since:
            count(filed, platform, "appeals")
        if decided is not None and decided >= since and state not in OPEN_STATES:
            count(decided, platform, "decided")
            if state in (AppealState.GRANTED, AppealState.DOWNGRADED):
                count(decided, platform, "overturned")
    outbox = dict(
        session.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
        ).all()
    )
    oldest = session.scalar(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.state == OutboxState.PENDING)
    )
    open_appeals = list(
        session.scalars(
            select(Appeal)
            .where(Appeal.state.in_(OPEN_STATES), Appeal.answer_by < now + DUE_SOON)
            .order_by(Appeal.answer_by)
        )
    )
    window = now - timedelta(seconds=settings.breaker_window_s)
    states = []
    for record in session.scalars(select(DirectiveRecord).order_by(DirectiveRecord.id)):
        granted, judged = grant_share(session, record.id, window)
        nxt = _next(record.stage)
        try:
            shadow = compare(session, record.id)
        except ShadowError:  # no shadow days
            shadow = []
        states.append(
            DirectiveState(
                record=record,
                stage=stage_label(record.stage) if record.stage is not None else None,
                next_stage=stage_label(nxt) if nxt is not None else None,
                granted=granted,
                decided=judged,
                tripped=record.paused and record.paused_by == BREAKER_ACTOR,
                shadow=shadow,
                shadow_latest=[(r, explain(r)) for r in shadow[-1].rows[:SHADOW_LISTED]]
                if shadow
                else [],
            )
        )
    return Dashboard(
        days=list(rows.values()),
        platforms=dict(sorted(platforms.items())),
        outbox_pending=int(outbox.get(OutboxState.PENDING, 0)),
        outbox_dead=int(outbox.get(OutboxState.DEAD, 0)),
        outbox_lag_s=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        overdue=[a for a in open_appeals if a.answer_by < now],
        due_soon=[a for a in open_appeals if a.answer_by >= now],
        directives=states,
        breaker_window_h=settings.breaker_window_s // 3600,
    )


def _reason(reason: str) -> str:
    reason = reason.replace("\x00", "").strip()
    if len(reason) < MIN_REASON:
        raise StepError(f"write the reason (at least {MIN_REASON} characters)")
    return reason


def pause(session: Session, directive_id: str, *, actor: str, reason: str, now: datetime) -> None:
    """``fairban pause`` from the console: the reason goes into the audit entry."""
    record = get_directive(session, directive_id)
    if record.paused:
        raise StepError("the directive is already paused")
    pause_directive(session, directive_id, actor=actor, reason=_reason(reason), now=now)


def resume(session: Session, directive_id: str, *, actor: str, reason: str, now: datetime) -> None:
    """``fairban resume`` from the console, the operator's reason in the audit entry."""
    record = get_directive(session, directive_id)
    if not record.paused:
        raise StepError("the directive is not paused")
    resume_directive(session, directive_id, actor=actor, reason=_reason(reason), now=now)


def next_stage(
    session: Session,
    directive_id: str,
    *,
    store_dir: str | None,
    settings: Settings,
    actor: str,
    reason: str,
    now: datetime,
) -> DailyReport:
    """``fairban daily --stage NEXT`` from the console: the live version judged from the
    store as of its latest day and enforced at the next stage of :data:`STAGES`; an
    audit entry says who asked for it and why, before the enforcement's own."""
    why = _reason(reason)
    record = get_directive(session, directive_id)
    if record.paused:
        raise StepError("the directive is paused: resume it first")
    stage = _next(record.stage)
    if stage is None:
        raise StepError(
            "the directive has no rollout yet" if record.stage is None else "already at all"
        )
    if not store_dir:
        raise StepError("no evidence store is configured (FAIRBAN_STORE_DIR)")
    version = directive_version(session, directive_id, record.current_version)
    if version is None:
        raise StepError("the live version is missing")
    audit.append(
        session,
        actor=actor,
        action=Action.DIRECTIVE_STAGE,
        subject=f"directive:{directive_id}",
        payload={"from": record.stage, "to": stage, "reason": why, "at": now.isoformat()},
    )
    return run_daily(
        session,
        Store(Path(store_dir)),
        directive_from_content(version.content),
        settings=settings,
        actor=actor,
        stage=stage,
    )
