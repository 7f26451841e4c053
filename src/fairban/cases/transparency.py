"""The cases' decisions as statements of reasons in the EU DSA Transparency Database's
shape (``notices.dsa``), one file per platform: the database files each statement under
the platform of the API token that submits it.

A *decision* is a restrict or suspend put in force: imposed, or changed from another
measure (a downgrade from suspend to restrict is a decision of its own). Every decision
applied in the period gets its statement, whatever became of it since: a decision lifted
or expired since carries the day it ended as its end date and says how it ended. Each
statement is made from the same facts as the case's notice, the appeal link masked (a
statement is public), and is checked against the database's rules; a statement that
breaks one is reported and skipped, never a reason to drop the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from fairban.cases.links import TOKEN_MASK, appeal_url, short_url
from fairban.cases.messaging import notice_facts
from fairban.cases.models import Case, CaseEvent
from fairban.cases.transitions import IN_FORCE, CaseState, DeciderKind
from fairban.clock import BEIJING
from fairban.config import Settings
from fairban.directives.models import DirectiveRecord, DirectiveVersion
from fairban.measures import VISIBLE, Measure
from fairban.notices import statement_of_reasons, validate_statement
from fairban.notices.i18n import Tr
from fairban.notices.reasons import platform_name


@dataclass(frozen=True)
class Decision:
    """One restrict or suspend put in force on a case, and how it ended, if it did."""

    case: Case
    measure: Measure
    at: datetime
    automated: bool
    ended: tuple[datetime, str] | None


def _ending(event: CaseEvent) -> str:
    """How a decision ended, in words fit for a public database (no reviewer's notes)."""
    by = "a person's decision" if event.actor_kind == DeciderKind.PERSON else "the automated check"
    if event.to_state == CaseState.EXPIRED:
        return "it reached the end of its term"
    if event.to_state in IN_FORCE and event.measure is not None:
        lighter = "monitoring only" if event.measure == Measure.MONITOR else event.measure.value
        return f"replaced by {lighter}, on {by}"
    return f"lifted, on {by}"


def decisions_of(case: Case) -> list[Decision]:
    """The case's decisions, from its events in order."""
    out: list[Decision] = []
    current: CaseEvent | None = None
    for event in case.events:
        in_force = event.to_state in IN_FORCE and event.measure in VISIBLE
        if current is not None and (not in_force or event.measure != current.measure):
            out.append(_decision(case, current, (event.at, _ending(event))))
            current = None
        if in_force and current is None:
            current = event
    if current is not None:
        out.append(_decision(case, current, None))
    return out


def _decision(case: Case, event: CaseEvent, ended: tuple[datetime, str] | None) -> Decision:
    assert event.measure is not None
    return Decision(case, event.measure, event.at, event.actor_kind == DeciderKind.AUTOMATIC, ended)


def _beijing_day(at: datetime) -> date:
    return at.astimezone(BEIJING).date()


@dataclass
class DsaExport:
    """What an export found: statements by platform, and those refused with why."""

    statements: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def write(self, folder: Path) -> dict[str, Path]:
        """``<platform>.jsonl`` per platform (one statement a line, the file whole or not
        at all) and ``rejected.jsonl`` when any statement broke a rule."""
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        files = dict(self.statements)
        stale = folder / "rejected.jsonl"
        if self.rejected:
            files["rejected"] = self.rejected
        elif stale.exists():
            stale.unlink()  # an earlier export's refusals are not this one's
        for name, rows in files.items():
            path = folder / f"{name}.jsonl"
            partial = path.with_name(path.name + ".partial")
            with partial.open("w", encoding="utf-8", newline="\n") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            partial.replace(path)
            written[name] = path
        return written


def dsa_export(
    session: Session,
    settings: Settings,
    *,
    start: date | None = None,
    end: date | None = None,
    platforms: Sequence[str] | None = None,
    directive_id: str | None = None,
    territorial_scope: Sequence[str] | None = None,
    puid_prefix: str | None = None,
) -> DsaExport:
    """A statement for every decision applied from ``start`` to ``end`` (Beijing days,
    inclusive; open when None) on ``platforms`` (all when None), by platform and case
    number. ``territorial_scope`` overrides the directive's; ``puid_prefix`` defaults to
    the platform's name."""
    query = (
        select(Case, DirectiveRecord, DirectiveVersion)
        .join(DirectiveRecord, DirectiveRecord.id == Case.directive_id)
        .join(
            DirectiveVersion,
            (DirectiveVersion.directive_id == Case.directive_id)
            & (DirectiveVersion.version == Case.directive_version),
        )
        .options(selectinload(Case.events))
        .order_by(Case.platform, Case.number)
    )
    if directive_id is not None:
        query = query.where(Case.directive_id == directive_id)
    if platforms:
        query = query.where(Case.platform.in_(list(platforms)))
    export = DsaExport({name: [] for name in platforms or ()})
    contents: dict[int, dict[str, Any]] = {}
    english = Tr("en")
    for case, directive, version in session.execute(query):
        content = contents.setdefault(version.id, json.loads(version.content))
        evidence_from = datetime.fromisoformat(content["issued_at"]) - timedelta(
            days=int(content["lookback_days"])
        )
        scope = territorial_scope or content.get("territorial_scope")
        for decision in decisions_of(case):
            day = _beijing_day(decision.at)
            if (start is not None and day < start) or (end is not None and day > end):
                continue
            facts = notice_facts(
                case,
                directive,
                noticed=decision.measure,
                decided_at=decision.at,
                automated=decision.automated,
                appeal_url=appeal_url(settings, case, TOKEN_MASK),
                short_url=short_url(settings, case),
                answer_by=decision.at + timedelta(hours=settings.answer_hours),
            )
            where = {"platform": case.platform, "case": case.number}
            try:
                statement = statement_of_reasons(
                    facts,
                    platform_name=platform_name(case.platform, english),
                    puid_prefix=puid_prefix or case.platform,
                    territorial_scope=scope,
                    evidence_from=evidence_from,
                    ended=decision.ended,
                )
            except ValueError as e:
                export.rejected.append({**where, "errors": [str(e)]})
                continue
            errors = validate_statement(statement)
            if errors:
                export.rejected.append({**where, "puid": statement["puid"], "errors": errors})
                continue
            export.statements.setdefault(case.platform, []).append(statement)
    return export


def dsa_statements(session: Session, settings: Settings, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every valid statement of ``dsa_export`` (same arguments), platform by platform."""
    for rows in dsa_export(session, settings, **kwargs).statements.values():
        yield from rows
