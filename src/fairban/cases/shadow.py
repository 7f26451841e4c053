"""Shadow mode: a directive version judged every day beside the live one, recorded as
would-be measures, compared with what is live, and promoted when the operators choose.

A version goes in shadow with ``fairban shadow start`` (``directives/flows.py``:
:func:`~fairban.directives.flows.start_shadow`). Each ``fairban daily`` of the live
directive then judges the shadow version from the same store as of the same instant
(:func:`judge_shadow`) and asks the planner (``cases/plan.py``) what promoting it would
do to every account, at the full stage and regardless of the kill switch: the answer is
one :class:`~fairban.cases.models.ShadowCase` row per account whose would-be or live
measure is not none. Nothing else is written: no case, no notice, no outbox message.

:func:`compare` reads the days back (added, lifted, changed, with the planner's why and
the reason codes); ``cases/daily.py``'s :func:`~fairban.cases.daily.promote` makes the
shadow version current and enforces it through the daily run at a stage the operators
choose, from which ``fairban daily --stage`` grows it as any rollout.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fairban import audit
from fairban.audit.actions import Action
from fairban.cases.decisions import Account, DecisionRow, read_decisions
from fairban.cases.enforce import case_view
from fairban.cases.models import Case, ShadowCase
from fairban.cases.plan import Rollout, plan
from fairban.cases.transitions import IN_FORCE, Event
from fairban.clock import BEIJING
from fairban.config import Settings
from fairban.contract import Directive
from fairban.directives.content import directive_content, directive_from_content
from fairban.directives.flows import ShadowError
from fairban.directives.models import DirectiveRecord
from fairban.directives.service import directive_version, get_directive
from fairban.measures import NONE
from fairban.progress import SILENT, Progress
from fairban.store.judge import judge
from fairban.store.layout import Store
from fairban.targeting.run import write_decisions

#: how an account's measure would move on promotion
ADDED, LIFTED, CHANGED, SAME = "added", "lifted", "changed", "same"
CHANGES = (ADDED, LIFTED, CHANGED)


@dataclass
class ShadowDay:
    """One day a shadow version was judged: its accounts by change, and the rows that
    differ from live (``rows``, account order)."""

    directive_id: str
    version: int
    day: str
    as_of: datetime
    counts: Counter[str] = field(default_factory=Counter)
    rows: list[ShadowCase] = field(default_factory=list)
    #: whether this run wrote the day (False: the same day judged again, same answer)
    recorded: bool = True
    decisions_dir: Path | None = None


def shadow_directive(session: Session, record: DirectiveRecord) -> tuple[int, Directive]:
    """The version a record has in shadow, as a directive."""
    if record.shadow_version is None:
        raise ShadowError(f"directive {record.id!r} has no version in shadow")
    stored = directive_version(session, record.id, record.shadow_version)
    assert stored is not None  # start_shadow recorded it
    return stored.version, directive_from_content(stored.content)


def is_shadow_content(session: Session, record: DirectiveRecord, directive: Directive) -> bool:
    """Whether ``directive`` is the content a record has in shadow."""
    if record.shadow_version is None:
        return False
    stored = directive_version(session, record.id, record.shadow_version)
    return stored is not None and stored.content_hash == directive_content(directive)[1]


def day_of(as_of: datetime) -> str:
    """The last Beijing day a judgement as of ``as_of`` covers (an end at midnight is the
    day before)."""
    return (as_of - timedelta(microseconds=1)).astimezone(BEIJING).date().isoformat()


def judge_shadow(
    session: Session,
    store: Store,
    record: DirectiveRecord,
    *,
    as_of: datetime,
    settings: Settings,
    actor: str,
    accounts: dict[str, Account],
    progress: Progress = SILENT,
) -> ShadowDay:
    """Judge the record's shadow version as of ``as_of`` and record what promoting it
    would do to each account against the live cases as they stand (the live run of the
    day first). The same day judged again with the same answer writes nothing; a
    different answer replaces the day. Writes no case, notice or outbox message."""
    version, directive = shadow_directive(session, record)
    judged = judge(
        store, directive, as_of=as_of, memory_limit=settings.duckdb_memory_limit, progress=progress
    )
    out = shadow_dir(store, directive, version, judged.as_of)
    write_decisions(judged.result, out)
    rows = read_decisions(out, directive, accounts=accounts)
    day = ShadowDay(record.id, version, day_of(judged.as_of), judged.as_of, decisions_dir=out)
    rollout = Rollout(
        record.id,
        version,
        paused=False,  # what the version would do, not what the kill switch lets through
        stage=1.0,
        ended=directive.until is not None and judged.as_of > directive.until,
        window_moved=True,
    )
    cases = {
        c.account_id: c for c in session.scalars(select(Case).where(Case.directive_id == record.id))
    }
    listed = {r.account_id: r for r in rows}
    fresh: list[ShadowCase] = []
    for account in sorted(set(listed) | set(cases)):
        row, case = listed.get(account), cases.get(account)
        kind = rows.kind_of(account) if rows.kinds is not None and row is not None else None
        shadow = _would_be(day, rollout, row, case, kind)
        if shadow is not None:
            fresh.append(shadow)
    stored = _stored(session, day)
    if sorted(map(_key, stored)) == sorted(map(_key, fresh)):
        day.recorded = False
        fresh = stored
    else:
        session.execute(
            delete(ShadowCase).where(
                ShadowCase.directive_id == day.directive_id,
                ShadowCase.version == version,
                ShadowCase.day == day.day,
            )
        )
        session.add_all(fresh)
        session.flush()
    day.counts = Counter(s.change for s in fresh)
    day.rows = [s for s in fresh if s.change != SAME]
    if day.recorded:
        audit.append(
            session,
            actor=actor,
            action=Action.DIRECTIVE_SHADOW_JUDGE,
            subject=f"directive:{record.id}",
            payload={
                "version": version,
                "live": record.current_version,
                "day": day.day,
                "as_of": judged.as_of.astimezone(UTC).isoformat(),
                "decisions": len(rows),
                **{c: day.counts.get(c, 0) for c in (*CHANGES, SAME)},
            },
        )
    return day


def _would_be(
    day: ShadowDay,
    rollout: Rollout,
    row: DecisionRow | None,
    case: Case | None,
    kind: str | None,
) -> ShadowCase | None:
    """The planner's answer for one account, as a shadow row (None: nothing either way)."""
    planned = plan(None if case is None else case_view(case), row, rollout, kind=kind)
    before = case.measure.value if case is not None and case.state in IN_FORCE else NONE
    after, why = before, ""
    for item in planned.tally:
        name, _, what = item.partition(":")
        if name == "imposed":
            after = what
        elif name == "lifted":
            after = NONE
        elif name == "downgraded":
            after = what.split(" to ")[-1]
        elif name == "kept_by_person":
            why = "kept_by_person"
    decision = NONE if row is None else row.measure
    if before == NONE and after == NONE and decision == NONE:
        return None
    step = next((s for s in planned.steps if s.lift_reason), None)
    # the step that says why (a lift reason, "new evidence", a revision), not the
    # generic "enforced at stage ..."
    notes = [s.note for s in planned.steps if s.event != Event.ENFORCE]
    if step is not None:
        why = str(step.lift_reason)
    elif not why and notes:
        why = notes[-1]
    change = (
        SAME
        if after == before
        else ADDED
        if before == NONE
        else LIFTED
        if after == NONE
        else CHANGED
    )
    return ShadowCase(
        directive_id=day.directive_id,
        version=day.version,
        day=day.day,
        as_of=day.as_of,
        account_id=(row.account_id if row is not None else case.account_id if case else ""),
        platform=row.platform if row is not None else case.platform if case else "",
        decision=decision,
        measure=after,
        live_measure=before,
        live_case=None if case is None else case.number,
        change=change,
        why=why,
        codes=json.dumps(_codes(row.reasons if row is not None else "[]")),
        live_codes=json.dumps(_codes(case.reasons if case is not None else "[]")),
        risk=0.0 if row is None else row.risk,
    )


def _codes(reasons: str) -> list[str]:
    """A decision's reason codes, strongest first."""
    items = sorted(json.loads(reasons or "[]"), key=lambda r: -float(r.get("weight", 0)))
    return [str(r["code"]) for r in items]


def _key(s: ShadowCase) -> tuple[str, ...]:
    return (s.account_id, s.decision, s.measure, s.live_measure, s.change, s.why, s.codes)


def _stored(session: Session, day: ShadowDay) -> list[ShadowCase]:
    return list(
        session.scalars(
            select(ShadowCase).where(
                ShadowCase.directive_id == day.directive_id,
                ShadowCase.version == day.version,
                ShadowCase.day == day.day,
            )
        )
    )


def shadow_dir(store: Store, directive: Directive, version: int, as_of: datetime) -> Path:
    """Where a shadow judgement's decisions are kept (beside the live ones)."""
    stamp = as_of.astimezone(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    return store.root / "judgements" / directive.id / f"shadow-v{version}" / stamp


def compare(
    session: Session, directive_id: str, *, version: int | None = None, day: str | None = None
) -> list[ShadowDay]:
    """The recorded shadow days of a directive, oldest first: by default those of the
    version in shadow now (or the last one recorded); ``day`` (``YYYY-MM-DD``) only that
    one."""
    record = get_directive(session, directive_id)
    if version is None:
        version = record.shadow_version
    if version is None:
        version = session.scalar(
            select(ShadowCase.version)
            .where(ShadowCase.directive_id == directive_id)
            .order_by(ShadowCase.as_of.desc(), ShadowCase.version.desc())
            .limit(1)
        )
    if version is None:
        raise ShadowError(
            f"directive {directive_id!r} has no shadow days: `fairban shadow start` a version, "
            "then `fairban daily` judges it each day"
        )
    query = select(ShadowCase).where(
        ShadowCase.directive_id == directive_id, ShadowCase.version == version
    )
    if day is not None:
        query = query.where(ShadowCase.day == day)
    days: dict[str, ShadowDay] = {}
    for s in session.scalars(query.order_by(ShadowCase.day, ShadowCase.account_id)):
        got = days.setdefault(s.day, ShadowDay(directive_id, version, s.day, s.as_of))
        got.counts[s.change] += 1
        if s.change != SAME:
            got.rows.append(s)
    if day is not None and not days:
        raise ShadowError(f"directive {directive_id!r} version {version} has no shadow day {day}")
    return list(days.values())


def explain(row: ShadowCase) -> str:
    """Why a row differs from live, as the CLI and the console say it: the shadow's
    reason codes; for a lift, the lift reason with the codes live rests on."""
    codes = json.loads(row.live_codes if row.change == LIFTED else row.codes)
    why = ", ".join(codes) or row.why
    if row.change == LIFTED and why != row.why:
        return f"{row.why} (live on {why})"
    return why


__all__ = [
    "ADDED",
    "CHANGED",
    "LIFTED",
    "SAME",
    "ShadowDay",
    "compare",
    "explain",
    "judge_shadow",
    "shadow_dir",
]
