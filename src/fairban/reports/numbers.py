"""The numbers of a transparency report, read from the case store for one period.

The period is a span of Beijing days, both ends included, as in ``cases export-dsa``:
what the report counts is what happened within it (a measure applied, an appeal filed
or decided, a breaker trip, an audit entry written), whatever became of it since.

A *measure* is a decision of ``fairban.cases.transparency``: a restrict or suspend put
in force (imposed, re-imposed, or changed to another visible measure), the unit the DSA
statements of reasons are made of, so the report's counts and the statements agree.
"""

from __future__ import annotations

import base64
import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from fairban.appeals.models import Alert, Appeal, AppealState
from fairban.audit import AuditEntry
from fairban.audit.actions import Action
from fairban.audit.checkpoint import open_note
from fairban.audit.heads import HeadStore, audit_dir, publish_database, root_of, signing_key
from fairban.cases.models import Case, NoticeRecord
from fairban.cases.transparency import decisions_of, dsa_export
from fairban.clock import BEIJING
from fairban.config import Settings
from fairban.directives.models import DirectiveRecord, DirectiveVersion
from fairban.errors import InputError
from fairban.measures import Measure
from fairban.platforms.models import OutboxMessage
from fairban.platforms.webhooks import MessageKind

MEASURES = (Measure.RESTRICT.value, Measure.SUSPEND.value)
OUTCOMES = (AppealState.GRANTED.value, AppealState.DOWNGRADED.value, AppealState.UPHELD.value)
#: outcomes that take a measure back, wholly or in part (DSA art. 15(1)(d): reversed)
REVERSING = (AppealState.GRANTED.value, AppealState.DOWNGRADED.value)


@dataclass(frozen=True)
class Period:
    """Beijing days ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InputError("--to", f"{self.end} is before --from {self.start}")

    @property
    def since(self) -> datetime:
        """The first instant of the period, in UTC."""
        return datetime.combine(self.start, time(), BEIJING).astimezone(UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period, in UTC."""
        return datetime.combine(self.end + timedelta(days=1), time(), BEIJING).astimezone(UTC)

    def holds(self, at: datetime | None) -> bool:
        return at is not None and self.since <= at < self.until


def median_p90(values: list[float]) -> tuple[float | None, float | None]:
    """The median (the mean of the two middle values when their number is even) and the
    90th percentile by nearest rank (the smallest value with 90% at or below it)."""
    if not values:
        return None, None
    ordered = sorted(values)
    return statistics.median(ordered), ordered[math.ceil(0.9 * len(ordered)) - 1]


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


@dataclass
class MeasureRow:
    platform: str
    measure: str
    automated: bool
    decisions: int


@dataclass
class Measures:
    """Restrictions and suspensions applied in the period (DSA art. 15(1)(a), (c))."""

    total: int = 0
    people: int = 0
    automated: int = 0
    rows: list[MeasureRow] = field(default_factory=list)
    by_platform: dict[str, dict[str, int]] = field(default_factory=dict)
    by_measure: dict[str, int] = field(default_factory=dict)
    #: reason codes of weight > 0 the measures rest on; a measure counts under each
    by_ground: dict[str, int] = field(default_factory=dict)
    #: the same measures, by how they have ended since (``in_force`` when not)
    by_ending: dict[str, int] = field(default_factory=dict)


@dataclass
class Appeals:
    """Complaints through the internal complaint-handling system (DSA art. 15(1)(d),
    art. 20; PRC Anti-Telecom Fraud Law art. 32(3))."""

    received: int = 0
    received_by_ground: dict[str, int] = field(default_factory=dict)
    decided: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    #: ``automatic`` (the re-check) or ``person`` -> outcome -> appeals
    by_decider: dict[str, dict[str, int]] = field(default_factory=dict)
    reversed: int = 0
    reversal_rate: float | None = None
    median_hours: float | None = None
    p90_hours: float | None = None
    within_deadline: int = 0
    open_at_end: int = 0
    overdue_at_end: int = 0


@dataclass
class BreakerTrip:
    directive: str
    at: str
    granted: int
    decided: int
    message: str


@dataclass
class Pause:
    directive: str
    at: str
    actor: str
    reason: str


@dataclass
class Order:
    """A directive (an authority's order, DSA art. 15(1)(a)) with measures in the period."""

    directive: str
    title: str
    issuer: str
    legal_basis: str
    issued_at: str
    versions: int
    measures: int
    #: hours from the first version loaded to its first measure applied (ever)
    hours_to_effect: float | None
    paused: bool


@dataclass
class Deliveries:
    """Notices to people and lifts to platforms (principles 6 and 7)."""

    notices_by_kind: dict[str, int] = field(default_factory=dict)
    notices_by_locale: dict[str, int] = field(default_factory=dict)
    lifts_sent: int = 0
    lifts_delivered: int = 0
    lift_median_seconds: float | None = None
    lift_p90_seconds: float | None = None


@dataclass
class Statements:
    """DSA statements of reasons of the period (art. 24(5)), as ``cases export-dsa``."""

    by_platform: dict[str, int] = field(default_factory=dict)
    refused: int = 0


@dataclass
class AuditHead:
    """The audit log: the period's entries and a signed checkpoint of the head."""

    entries_in_period: int
    first_id: int | None
    last_id: int | None
    #: the root of the log's first ``last_id`` entries (its state when the period ended)
    root_at_end: str | None
    checkpoint: str
    checkpoint_size: int
    verifier_key: str


@dataclass
class Report:
    period_from: str
    period_to: str
    generated_at: str
    measures: Measures
    appeals: Appeals
    orders: list[Order]
    breaker: list[BreakerTrip]
    pauses: list[Pause]
    deliveries: Deliveries
    statements: Statements
    audit: AuditHead
    safeguards: dict[str, Any]


def _ending(words: str | None) -> str:
    """A decision's ending as a code, from the words ``cases.transparency`` says it in."""
    if words is None:
        return "in_force"
    if words.startswith("replaced"):
        return "replaced"
    return "expired" if "end of its term" in words else "lifted"


def _measures(session: Session, period: Period) -> tuple[Measures, Counter[str]]:
    out = Measures()
    people: set[str] = set()
    per_directive: Counter[str] = Counter()
    rows: Counter[tuple[str, str, bool]] = Counter()
    grounds: Counter[str] = Counter()
    endings: Counter[str] = Counter()
    cases = session.scalars(select(Case).options(selectinload(Case.events)).order_by(Case.id))
    for case in cases:
        codes = [r["code"] for r in json.loads(case.reasons) if float(r.get("weight", 0)) > 0]
        for decision in decisions_of(case):
            if not period.holds(decision.at):
                continue
            rows[(case.platform, decision.measure.value, decision.automated)] += 1
            grounds.update(codes)
            people.add(case.person_id or f"account:{case.account_id}")
            per_directive[case.directive_id] += 1
            endings[_ending(decision.ended[1] if decision.ended else None)] += 1
    for (platform, measure, automated), n in sorted(rows.items()):
        out.rows.append(MeasureRow(platform, measure, automated, n))
        by = out.by_platform.setdefault(platform, dict.fromkeys(MEASURES, 0))
        by[measure] += n
        out.by_measure[measure] = out.by_measure.get(measure, 0) + n
        out.total += n
        out.automated += n if automated else 0
    out.by_measure = {m: out.by_measure.get(m, 0) for m in MEASURES}
    out.by_ground = dict(sorted(grounds.items(), key=lambda kv: (-kv[1], kv[0])))
    out.by_ending = dict(sorted(endings.items(), key=lambda kv: (-kv[1], kv[0])))
    out.people = len(people)
    return out, per_directive


def _appeals(session: Session, period: Period) -> Appeals:
    out = Appeals()
    grounds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    deciders: dict[str, Counter[str]] = {}
    waits: list[float] = []
    for appeal in session.scalars(select(Appeal).where(Appeal.filed_at < period.until)):
        if period.holds(appeal.filed_at):
            out.received += 1
            grounds.update(json.loads(appeal.grounds))
        decided = appeal.decided_at
        if decided is not None and period.holds(decided):
            out.decided += 1
            outcomes[appeal.state.value] += 1
            who = "automatic" if (appeal.decided_by or "").startswith("fairban:") else "person"
            deciders.setdefault(who, Counter())[appeal.state.value] += 1
            waits.append(_hours(decided - appeal.filed_at))
            out.within_deadline += decided <= appeal.answer_by
        if decided is None or decided >= period.until:
            out.open_at_end += 1
            out.overdue_at_end += appeal.answer_by < period.until
    out.received_by_ground = dict(sorted(grounds.items(), key=lambda kv: (-kv[1], kv[0])))
    out.by_outcome = {o: outcomes.get(o, 0) for o in OUTCOMES}
    out.by_decider = {
        who: {o: c.get(o, 0) for o in OUTCOMES} for who, c in sorted(deciders.items())
    }
    out.reversed = sum(outcomes.get(o, 0) for o in REVERSING)
    out.reversal_rate = out.reversed / out.decided if out.decided else None
    out.median_hours, out.p90_hours = median_p90(waits)
    return out


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _breaker_and_pauses(session: Session, period: Period) -> tuple[list[BreakerTrip], list[Pause]]:
    """The breaker's trips (its alerts, timed by the flow that tripped it) and the
    operators' pauses (their audit entries: the breaker's own pauses are its trips)."""
    from fairban.appeals.breaker import BREAKER_ACTOR

    # the n-th trip entry of a directive is its n-th alert: both are written together
    counts: dict[str, list[dict[str, Any]]] = {}
    for entry in session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == Action.DIRECTIVE_BREAKER_TRIP)
        .order_by(AuditEntry.id)
    ):
        counts.setdefault(entry.subject.removeprefix("directive:"), []).append(
            json.loads(entry.payload)
        )
    trips: list[BreakerTrip] = []
    seen: Counter[str] = Counter()
    for alert in session.scalars(
        select(Alert).where(Alert.kind == "circuit_breaker").order_by(Alert.id)
    ):
        directive = alert.directive_id or ""
        n = seen[directive]
        seen[directive] += 1
        if not period.holds(alert.created_at):
            continue
        payloads = counts.get(directive, [])
        payload = payloads[n] if n < len(payloads) else {}
        trips.append(
            BreakerTrip(
                directive,
                _iso(alert.created_at),
                int(payload.get("granted", 0)),
                int(payload.get("decided", 0)),
                alert.message,
            )
        )
    pauses = [
        Pause(
            entry.subject.removeprefix("directive:"),
            _iso(entry.at),
            entry.actor,
            str(json.loads(entry.payload).get("reason", "")),
        )
        for entry in session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.action == Action.DIRECTIVE_PAUSE,
                AuditEntry.actor != BREAKER_ACTOR,
                AuditEntry.at >= period.since,
                AuditEntry.at < period.until,
            )
            .order_by(AuditEntry.id)
        )
    ]
    return trips, pauses


def _orders(session: Session, per_directive: Counter[str]) -> list[Order]:
    out: list[Order] = []
    for record in session.scalars(select(DirectiveRecord).order_by(DirectiveRecord.id)):
        if not per_directive.get(record.id):
            continue
        versions = list(
            session.scalars(
                select(DirectiveVersion)
                .where(DirectiveVersion.directive_id == record.id)
                .order_by(DirectiveVersion.version)
            )
        )
        content = json.loads(versions[-1].content) if versions else {}
        first_applied = min(
            (
                d.at
                for case in session.scalars(
                    select(Case)
                    .where(Case.directive_id == record.id)
                    .options(selectinload(Case.events))
                )
                for d in decisions_of(case)
            ),
            default=None,
        )
        hours = (
            _hours(first_applied - versions[0].loaded_at)
            if first_applied is not None and versions
            else None
        )
        out.append(
            Order(
                record.id,
                record.title,
                record.issuer,
                record.legal_basis,
                str(content.get("issued_at", "")),
                len(versions),
                per_directive[record.id],
                hours,
                record.paused,
            )
        )
    return out


def _deliveries(session: Session, period: Period) -> Deliveries:
    out = Deliveries()
    kinds: Counter[str] = Counter()
    locales: Counter[str] = Counter()
    for notice in session.scalars(
        select(NoticeRecord).where(
            NoticeRecord.created_at >= period.since, NoticeRecord.created_at < period.until
        )
    ):
        kinds[notice.measure] += 1
        locales[notice.locale] += 1
    out.notices_by_kind = dict(sorted(kinds.items()))
    out.notices_by_locale = dict(sorted(locales.items()))
    waits: list[float] = []
    for message in session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == MessageKind.LIFT,
            OutboxMessage.created_at >= period.since,
            OutboxMessage.created_at < period.until,
        )
    ):
        out.lifts_sent += 1
        if message.delivered_at is not None:
            out.lifts_delivered += 1
            waits.append((message.delivered_at - message.created_at).total_seconds())
    out.lift_median_seconds, out.lift_p90_seconds = median_p90(waits)
    return out


def _statements(session: Session, settings: Settings, period: Period) -> Statements:
    export = dsa_export(session, settings, start=period.start, end=period.end)
    return Statements(
        {p: len(rows) for p, rows in sorted(export.statements.items())}, len(export.rejected)
    )


def _audit(session: Session, settings: Settings, period: Period, now: datetime) -> AuditHead:
    ids = list(
        session.scalars(
            select(AuditEntry.id)
            .where(AuditEntry.at >= period.since, AuditEntry.at < period.until)
            .order_by(AuditEntry.id)
        )
    )
    # signed first: a log that fails verification stops the report here
    note = publish_database(session, settings, now)
    key = signing_key(settings).verifier
    head = open_note(note, key)
    root = None
    if ids:
        # the leaves just signed cover the whole log, in its order
        size = session.scalar(select(func.count()).where(AuditEntry.id <= ids[-1])) or 0
        leaves = HeadStore(audit_dir(settings)).leaves()
        root = base64.b64encode(root_of(leaves, size)).decode("ascii")
    return AuditHead(
        len(ids),
        ids[0] if ids else None,
        ids[-1] if ids else None,
        root,
        note,
        head.size,
        str(key),
    )


def compute(
    session: Session, settings: Settings, period: Period, now: datetime | None = None
) -> Report:
    """Every number of the report for ``period``; signs a checkpoint of the audit log."""
    now = now or datetime.now(UTC)
    measures, per_directive = _measures(session, period)
    trips, pauses = _breaker_and_pauses(session, period)
    return Report(
        period_from=period.start.isoformat(),
        period_to=period.end.isoformat(),
        generated_at=_iso(now),
        measures=measures,
        appeals=_appeals(session, period),
        orders=_orders(session, per_directive),
        breaker=trips,
        pauses=pauses,
        deliveries=_deliveries(session, period),
        statements=_statements(session, settings, period),
        audit=_audit(session, settings, period, now),
        safeguards={
            "breaker_threshold": settings.breaker_threshold,
            "breaker_window_hours": settings.breaker_window_s / 3600,
            "breaker_min_decided": settings.breaker_min_decided,
            "answer_hours": settings.answer_hours,
        },
    )
