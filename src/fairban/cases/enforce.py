"""Enforcement: a targeting run's decisions brought into the case store, a stage at a
time (``fairban enforce``).

:func:`enforce` records the directive's version (``directives/flows.py``), opens a case
per account with a measure, asks ``cases/plan.py`` what each case goes through, and
carries the plan out through the funnel (``cases/flows.py``), in the caller's
transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from fairban import audit
from fairban.audit.actions import Action
from fairban.cases.decisions import (
    DecisionRow,
    DecisionRows,
    stage_label,
)
from fairban.cases.flows import ENGINE, Change, Followed, apply_change, case_payload, context
from fairban.cases.messaging import Context
from fairban.cases.models import Case, CaseEvent
from fairban.cases.plan import CaseView, Rollout, opened, plan
from fairban.cases.service import counts_of_directive
from fairban.cases.transitions import IMPOSING, IN_FORCE, CaseState, DeciderKind
from fairban.clock import BEIJING
from fairban.config import Settings
from fairban.contract import Directive
from fairban.directives.flows import load_version
from fairban.errors import InputError
from fairban.progress import SILENT, Progress

# advisory lock keys ('fb' 'ca'): one numbering of cases at a time on PostgreSQL
_LOCK_SPACE = 0x6662_6361
_LOCK_NUMBERS = 1

# --- carrying the plans out -------------------------------------------------------------


@dataclass(frozen=True)
class Changed:
    """One account whose measure in force changed in a run (``EnforceReport.changes``)."""

    account_id: str
    case: str
    event: str
    was: str
    measure: str
    why: str


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
    #: why measures ended (lift reasons: evidence_rechecked, evidence_aged_out, ...)
    lift_reasons: Counter[str] = field(default_factory=Counter)
    #: the measure in force changed, account by account: (account, case, event, measure
    #: before and after, or none, why)
    changes: list[Changed] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was (or would be) written."""
        return bool(sum(self.steps.values())) or self.new_version or self.amended_from is not None

    @property
    def stage_label(self) -> str:
        return stage_label(self.stage)

    def count(self, tally: Iterable[str]) -> None:
        """Add a plan's tally (:class:`Plan`) to the report."""
        for item in tally:
            name, _, what = item.partition(":")
            if what:
                counter: Counter[str] = getattr(self, name)
                counter[what] += 1
            else:
                setattr(self, name, getattr(self, name) + 1)

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
    settings: Settings,
    dry_run: bool = False,
    now: datetime | None = None,
    window_moved: bool = False,
    progress: Progress = SILENT,
) -> EnforceReport:
    """Turn a targeting run's decisions into cases and enforce a stage of them.

    Records the directive (a new version when its canonical content changed: an
    amendment), opens a ``proposed`` case per account with a measure, and brings every
    case of the directive in line with ``decisions`` (:func:`plan`): measures that no
    longer hold are lifted (``directive_amended`` when the version changed, else
    ``evidence_rechecked``), weaker ones downgraded, and new or stronger ones imposed
    on the accounts whose ``stage_bucket`` is below ``stage`` x 10,000, unless the
    directive is paused. An account missing from ``decisions`` has measure ``none``.
    Stages only grow: a smaller stage never takes a measure back, and the directive's
    record keeps the largest stage reached. After the directive's ``until`` every case
    ends (``directive_ended``); with ``window_moved`` (a standing directive judged on a
    later window, ``fairban daily``) a measure on an account the decisions no longer list
    ends as ``evidence_aged_out``.

    Idempotent: the same directive, decisions and stage a second time write nothing.
    ``dry_run`` does all of it inside a savepoint that is rolled back: the report says
    exactly what would happen and nothing is written. Never commits.
    """
    if not 0 < stage <= 1:
        raise ValueError(f"stage {stage} is not in (0, 1]")
    ctx = context(session, settings, now)
    if not dry_run:
        return _Enforcement(ctx, directive, decisions, stage, actor, progress, window_moved).run()
    savepoint = session.begin_nested()
    try:
        run = _Enforcement(ctx, directive, decisions, stage, actor, progress, window_moved)
        report = run.run()
    finally:
        savepoint.rollback()
    report.dry_run = True
    return report


class _Enforcement:
    """One run of :func:`enforce`: the directive's version, then each account's plan."""

    def __init__(
        self,
        ctx: Context,
        directive: Directive,
        decisions: DecisionRows,
        stage: float,
        actor: str,
        progress: Progress,
        window_moved: bool = False,
    ) -> None:
        self.window_moved = window_moved
        self.ctx = ctx
        self.session = ctx.session
        self.directive = directive
        self.decisions = decisions
        self.stage = stage
        self.actor = actor
        self.progress = progress

    def run(self) -> EnforceReport:
        d = self.directive
        for row in self.decisions:
            if row.platform not in d.platforms:
                raise InputError(
                    f"{self.decisions.source.name} row {row.row}",
                    f"platform {row.platform!r} is not one of the directive's platforms "
                    f"({', '.join(d.platforms)})",
                )
        loaded = load_version(self.session, d, actor=self.actor, now=self.ctx.now)
        record = loaded.record
        self.rollout = Rollout(
            d.id,
            record.current_version,
            record.paused,
            self.stage,
            ended=d.until is not None and self.ctx.now > d.until,
            window_moved=self.window_moved,
        )
        if record.stage is None or self.stage > record.stage:
            record.stage = self.stage  # stages only grow
        self.report = EnforceReport(
            directive_id=d.id,
            version=record.current_version,
            amended_from=loaded.previous,
            new_version=loaded.new_content,
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
                self._carry_out(row, existing.get(row.account_id))
                advance(1)
            for case in gone:
                self._carry_out(None, case)
                advance(1)
        report = self.report
        report.notices, report.messages = self.ctx.notices, self.ctx.messages
        if report.changed:
            audit.append(
                self.session,
                actor=self.actor,
                action=Action.DIRECTIVE_ENFORCE,
                subject=f"directive:{d.id}",
                payload=report.summary(),
            )
        report.states = {
            (s.value, m.value): n for (s, m), n in counts_of_directive(self.session, d.id).items()
        }
        return report

    def _lock_numbers(self) -> None:
        # two enforce runs (of any directives) must not hand out the same case number
        if self.session.connection().dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(:space, :key)"),
                {"space": _LOCK_SPACE, "key": _LOCK_NUMBERS},
            )

    def _kind(self, account_id: str) -> str | None:
        if self.decisions.kinds is None:
            return None
        return self.decisions.kind_of(account_id)

    def _carry_out(self, row: DecisionRow | None, case: Case | None) -> None:
        kind = None if row is None else self._kind(row.account_id)
        view = None if case is None else case_view(case)
        planned = plan(view, row, self.rollout, kind=kind)
        if planned.open:
            assert row is not None
            case = self._open(row, kind)
        self.report.count(planned.tally)
        for step in planned.steps:
            assert case is not None
            followed = None
            if step.follow:
                assert row is not None
                followed = Followed(row, self.rollout.version, kind)
            change = Change(
                step.event,
                self.actor,
                DeciderKind.AUTOMATIC,
                note=step.note,
                decision=followed,
                version=self.rollout.version if step.to_version else None,
                impose_days=self.directive.measure_days if step.event in IMPOSING else None,
                lift_reason=step.lift_reason,
            )
            before = case.measure if case.state in IN_FORCE else None
            apply_change(self.ctx, case, change)
            self.report.steps[step.event.value] += 1
            after = case.measure if case.state in IN_FORCE else None
            if after != before:
                if step.lift_reason and after is None:
                    self.report.lift_reasons[step.lift_reason] += 1
                why = step.lift_reason or step.note
                self.report.changes.append(
                    Changed(
                        case.account_id,
                        case.number,
                        step.event.value,
                        str(before or "none"),
                        str(after or "none"),
                        why,
                    )
                )

    def _open(self, row: DecisionRow, kind: str | None) -> Case:
        view = opened(row, self.rollout, kind)
        now, version = self.ctx.now, self.rollout.version
        case = Case(
            number=self.numbers.take(),
            directive_id=self.directive.id,
            directive_version=version,
            account_id=row.account_id,
            platform=row.platform,
            person_id=row.person_id,
            account_kind=view.account_kind,
            state=CaseState.PROPOSED,
            measure=view.measure,
            risk=row.risk,
            reasons=row.reasons,
            evidence=row.evidence,
            evidence_hash=row.evidence_hash,
            decided_by=ENGINE,
            decided_by_kind=DeciderKind.AUTOMATIC,
            decided_at=now,
            stage_bucket=view.stage_bucket,
            created_at=now,
            updated_at=now,
        )
        self.session.add(case)
        self.session.flush()
        note = f"decided under version {version}"
        self.session.add(
            CaseEvent(
                case_id=case.id,
                at=now,
                from_state=None,
                to_state=CaseState.PROPOSED,
                measure=view.measure,
                actor=self.actor,
                actor_kind=DeciderKind.AUTOMATIC,
                note=note,
            )
        )
        audit.append(
            self.session,
            actor=self.actor,
            action=Action.CASE_DECISION_RECORD,
            subject=f"case:{case.number}",
            payload={
                "event": "open",
                "to": CaseState.PROPOSED.value,
                "measure": view.measure.value,
                "stage_bucket": case.stage_bucket,
                "note": note,
                **case_payload(case),
            },
        )
        self.report.steps["open"] += 1
        return case


def case_view(case: Case) -> CaseView:
    """What planning reads of a stored case."""
    return CaseView(
        state=case.state,
        measure=case.measure,
        evidence_hash=case.evidence_hash,
        directive_version=case.directive_version,
        stage_bucket=case.stage_bucket,
        reasons=case.reasons,
        risk=case.risk,
        platform=case.platform,
        person_id=case.person_id,
        account_kind=case.account_kind,
        judged_evidence_hash=case.judged_evidence_hash,
        judged_by=case.judged_by,
        judged_at=case.judged_at,
        evidence=case.evidence,
    )


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


__all__ = ["EnforceReport", "case_view", "enforce"]
