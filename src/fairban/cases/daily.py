"""The daily cycle of a standing directive (``fairban daily``): ingest what has arrived,
judge the directive as of the end of the latest day, enforce the difference.

One run, for cron, a systemd timer or a Kubernetes CronJob (``docs/store.md``):

1. **Ingest.** Each evidence folder in the inbox that the store has not taken yet is
   ingested (``store/ingest.py``): checked whole, added by its rows' own days.
2. **Judge.** The directive is judged from the store over
   ``(as_of - lookback_days, as_of]`` (``store/judge.py``); ``as_of`` is the end of the
   latest store day unless given. The decisions are kept in
   ``STORE/judgements/<directive>/<as_of>/``, as ``fairban target`` writes them.
3. **Enforce the difference.** ``cases.enforce`` brings the directive's cases in line
   with the new decisions at the stage the directive's rollout has reached: new fraud
   accounts get measures with notices and webhooks; a measure whose evidence has aged
   out of the window (``evidence_aged_out``) or that the new evidence no longer
   supports (``evidence_rechecked``) is lifted with a notice saying so; after the
   directive's ``until`` every measure it imposed ends (``directive_ended``). A person's
   decision still outranks the engine, the kill switch holds new measures back, and
   the circuit breaker's pause holds too.

The day takes effect as of ``as_of``: notices are dated then and a measure's
``measure_days`` count from it. Each step is all or nothing (an ingest, a judgement's
files, one enforcement transaction), and enforcing the same decisions twice changes
nothing, so a run that dies half-way is simply run again: what it did is not done twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from fairban import audit
from fairban.audit.actions import Action
from fairban.cases.decisions import Account, read_decisions
from fairban.cases.enforce import EnforceReport, enforce
from fairban.cases.shadow import ShadowDay, is_shadow_content, judge_shadow, shadow_directive
from fairban.config import Settings
from fairban.contract import Directive
from fairban.directives.models import DirectiveRecord
from fairban.directives.service import get_directive
from fairban.errors import FairbanError
from fairban.progress import SILENT, Progress
from fairban.store.ingest import IngestReport, ingest
from fairban.store.judge import Judged, judge
from fairban.store.layout import Store
from fairban.targeting.run import write_decisions


class DailyError(FairbanError):
    """A daily run that cannot go on (one line)."""

    exit_code = 2


@dataclass
class DailyReport:
    """What one daily run did: the folders ingested, the judgement, the enforcement."""

    directive: Directive
    ingested: list[IngestReport] = field(default_factory=list)
    judged: Judged | None = None
    decisions_dir: Path | None = None
    enforced: EnforceReport | None = None
    #: the version in shadow, judged beside the live one (``cases/shadow.py``)
    shadow: ShadowDay | None = None


def inbox_folders(store: Store, inbox: Path | None) -> list[Path]:
    """The evidence folders in ``inbox`` (each a folder holding ``accounts``) that the
    store has not ingested yet, oldest name first."""
    if inbox is None:
        return []
    if not inbox.is_dir():
        raise DailyError(f"--inbox {inbox}: not a folder")
    taken = set(store.manifest.deliveries)
    candidates = (
        [inbox] if _is_evidence(inbox) else sorted(p for p in inbox.iterdir() if p.is_dir())
    )
    return [p for p in candidates if _is_evidence(p) and str(p.resolve()) not in taken]


def _is_evidence(folder: Path) -> bool:
    return any((folder / n).exists() for n in ("accounts.csv", "accounts.parquet", "accounts"))


def run_daily(
    session: Session,
    store: Store,
    directive: Directive,
    *,
    settings: Settings,
    actor: str,
    inbox: Path | None = None,
    as_of: datetime | None = None,
    stage: float | None = None,
    progress: Progress = SILENT,
) -> DailyReport:
    """One daily run (module docstring): with ``stage``, the rollout grows to it first
    (a stage never shrinks). When the directive has a version in shadow, it is judged
    after the live run and recorded (``cases/shadow.py``). The caller commits."""
    report = DailyReport(directive)
    record = session.get(DirectiveRecord, directive.id)
    if record is None or record.stage is None:
        raise DailyError(
            f"directive {directive.id!r} has no rollout yet: enforce a first stage "
            f"(`fairban enforce {directive.source.name} --decisions DIR --stage 1%`), "
            "then the daily run carries it on at that stage"
        )
    if is_shadow_content(session, record, directive):
        raise DailyError(
            f"{directive.source.name} is version {record.shadow_version} of {directive.id!r}, "
            f"in shadow: run the daily cycle with the live directive, or "
            f"`fairban shadow promote {directive.id}` to enforce this one"
        )
    for folder in inbox_folders(store, inbox):
        report.ingested.append(
            ingest(store, folder, memory_limit=settings.duckdb_memory_limit, progress=progress)
        )
    judged = judge(
        store, directive, as_of=as_of, memory_limit=settings.duckdb_memory_limit, progress=progress
    )
    report.judged = judged
    out = decisions_dir(store, directive, judged.as_of)
    write_decisions(judged.result, out)
    report.decisions_dir = out
    accounts = stored_accounts(store)
    rows = read_decisions(out, directive, accounts=accounts)
    report.enforced = enforce(
        session,
        directive,
        rows,
        stage=max(stage or 0.0, record.stage),
        actor=actor,
        settings=settings,
        now=judged.as_of,
        window_moved=True,
        progress=progress,
    )
    if record.shadow_version is not None:
        report.shadow = judge_shadow(
            session,
            store,
            record,
            as_of=judged.as_of,
            settings=settings,
            actor=actor,
            accounts=accounts,
            progress=progress,
        )
    return report


def promote(
    session: Session,
    store: Store,
    directive_id: str,
    *,
    stage: float,
    settings: Settings,
    actor: str,
    as_of: datetime | None = None,
    progress: Progress = SILENT,
) -> tuple[int, int, DailyReport]:
    """Make a directive's shadow version current and enforce it through the daily run
    from ``store``: the new version's rollout starts over at ``stage`` (measures in
    force stay, as a stage never takes one back; what the new version no longer
    supports is lifted as ``directive_amended``), and ``fairban daily --stage`` grows it
    from there. Writes ``directive:shadow:promote``, then the version's load and the
    enforcement, each its own audit entry. Returns (version, previous, the day's report).
    The caller commits."""
    get_directive(session, directive_id)  # the one-line error for an unknown id
    record = session.get(DirectiveRecord, directive_id, with_for_update=True)
    assert record is not None
    version, directive = shadow_directive(session, record)
    previous = record.current_version
    record.shadow_version = None
    record.stage = stage  # the new version's rollout begins at its own first stage
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=Action.DIRECTIVE_SHADOW_PROMOTE,
        subject=f"directive:{directive_id}",
        payload={"version": version, "previous": previous, "stage": stage},
    )
    report = run_daily(
        session, store, directive, settings=settings, actor=actor, as_of=as_of, progress=progress
    )
    return version, previous, report


def decisions_dir(store: Store, directive: Directive, as_of: datetime) -> Path:
    """Where a daily run keeps its judgement's decisions."""
    stamp = as_of.astimezone(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    return store.root / "judgements" / directive.id / stamp


def stored_accounts(store: Store) -> dict[str, Account]:
    """The store's accounts (platform, person, kind), as ``enforce --data`` reads them."""
    path = store.whole_file("accounts")
    if path is None:
        return {}
    table = pq.read_table(path, columns=["account_id", "platform", "person_id", "kind"])
    return {
        a: Account(p, person or None, kind or "personal")
        for a, p, person, kind in zip(
            *(table.column(c).to_pylist() for c in table.column_names), strict=True
        )
    }
