"""``fairban enforce``, ``pause``, ``resume``, ``expire`` and ``fairban cases list|show``
(registered on the main app).

Each command opens the case store with ``migrate=True`` (a fresh machine needs no
separate ``db upgrade``), runs one flow in one transaction and commits it, or, on any
error, commits nothing.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.table import Table

from fairban.cli import RichProgress, app, out

if TYPE_CHECKING:  # SQLAlchemy is imported by the commands that use it: `fairban` starts fast
    from sqlalchemy.orm import Session

    from fairban.cases.enforce import EnforceReport

cases_app = typer.Typer(
    help="Cases: the measures on accounts, their timeline and notices.", no_args_is_help=True
)
app.add_typer(cases_app, name="cases")

ActorOption = Annotated[
    str | None,
    typer.Option("--actor", help="Who is acting, for the audit log (default: operator:LOGIN)."),
]
E = TypeVar("E", bound=StrEnum)
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _actor(actor: str | None) -> str:
    if actor and actor.strip():
        return actor.strip()
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container): still someone
        return "operator:unknown"


@contextmanager
def _database() -> Iterator[Session]:
    # the flush hooks that keep queued appeals' stored group keys and priorities in step
    # when a command here imposes, lifts, expires or re-decides their cases
    from fairban.appeals import grouping as _grouping  # noqa: F401
    from fairban.appeals import ordering as _ordering  # noqa: F401
    from fairban.config import get_settings
    from fairban.db import database_url, open_database, session_factory

    engine = open_database(database_url(get_settings()), migrate=True)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _at(at: datetime | None) -> str:
    return "—" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def _plain(text: str) -> None:
    out.print(text, markup=False, highlight=False)


# --- enforce --------------------------------------------------------------------------


@app.command()
def enforce(
    directive: Annotated[Path, typer.Argument(help="The directive YAML file.")],
    decisions: Annotated[
        Path,
        typer.Option(
            "--decisions",
            help="The folder `fairban target --out` wrote (decisions.csv), or the file.",
        ),
    ],
    stage: Annotated[
        str,
        typer.Option(help="The share of accounts to enforce: 1%, 10%, ... or all."),
    ] = "all",
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="The evidence folder: refuse accounts it lacks, and take account kinds "
            "(merchant) from it.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would happen; write nothing.")
    ] = False,
    actor: ActorOption = None,
    quiet: QuietOption = False,
) -> None:
    """Turn decisions into cases and enforce a stage of them.

    Records the directive (an amendment when its content changed), opens a case per
    account with a measure, lifts with notices what no longer holds, and imposes new
    measures on a stable random share of accounts (STAGE), unless the directive is
    paused. Running it again with the same input changes nothing. Bad input: one line,
    exit status 2, nothing written.
    """
    from fairban.cases.decisions import parse_stage, read_accounts, read_decisions
    from fairban.cases.enforce import enforce as run_enforce
    from fairban.config import get_settings
    from fairban.contract import load_directive

    share = parse_stage(stage)
    spec = load_directive(directive)
    accounts = read_accounts(data, progress=RichProgress(quiet)) if data is not None else None
    rows = read_decisions(decisions, spec, accounts=accounts)
    with _database() as session:
        report = run_enforce(
            session,
            spec,
            rows,
            stage=share,
            actor=_actor(actor),
            settings=get_settings(),
            dry_run=dry_run,
            progress=RichProgress(quiet),
        )
        if dry_run:
            session.rollback()
        else:
            session.commit()
    _print_enforce(spec.title, report)


def _print_enforce(title: str, r: EnforceReport) -> None:
    if r.dry_run:
        _plain("Dry run: nothing was written.")
    _plain(f"Directive {r.directive_id}: {title}")
    loaded = "would be loaded now" if r.dry_run else "loaded now"
    if r.new_version and r.amended_from is None:
        version = f"version {r.version} ({loaded})"
    elif r.amended_from is not None:
        kind = "new content" if r.new_version else "earlier content again"
        amends = "would amend" if r.dry_run else "amends"
        version = f"version {r.version} ({kind}; {amends} version {r.amended_from})"
    else:
        version = f"version {r.version}"
    _plain(f"  {version}; stage {r.stage_label}; {r.decisions:,} decisions from {r.source}")
    if r.paused:
        _plain(
            "  paused: decisions are recorded, no new measure is imposed "
            "(`fairban resume` lifts the switch)"
        )
    if not r.changed:
        _plain("Nothing changed: the cases already follow these decisions.")
        waiting = [
            f"{n:,} {what}"
            for n, what in (
                (r.held_paused, "held by the kill switch"),
                (r.outside_stage, "outside the stage"),
            )
            if n
        ]
        _plain("  no notices, no webhooks" + (f"; {', '.join(waiting)}" if waiting else ""))
    else:
        steps = Table("this run would" if r.dry_run else "this run")
        steps.add_column("accounts", justify="right")
        for label, count in _run_rows(r):
            if count:
                steps.add_row(label, f"{count:,}")
        out.print(steps)
        written = "would be written" if r.dry_run else "written"
        _plain(f"  {r.notices:,} notices and {r.messages:,} webhooks {written}")
    out.print(_states_table(r.states))


def _run_rows(r: EnforceReport) -> list[tuple[str, int]]:
    rows = [("new cases", r.steps["open"])]
    rows += [(f"imposed {m}", r.imposed[m]) for m in ("suspend", "restrict", "monitor")]
    rows += [(f"lifted {m}", r.lifted[m]) for m in ("suspend", "restrict", "monitor")]
    rows += [(f"downgraded {change}", n) for change, n in sorted(r.downgraded.items())]
    rows += [
        ("decision revised, measure kept", r.steps["revise"]),
        ("withdrawn before enforcement", r.steps["withdraw"]),
        ("held by the kill switch", r.held_paused),
        ("outside the stage (proposed)", r.outside_stage),
        ("kept: a person judged this evidence", r.kept_by_person),
        ("kept: lifted or expired on this evidence", r.kept_ended),
        ("unchanged", r.unchanged),
    ]
    return rows


def _states_table(states: dict[tuple[str, str], int]) -> Table:
    from fairban.cases.transitions import CaseState
    from fairban.measures import Measure

    present = [s.value for s in CaseState if any(st == s.value for st, _ in states)]
    table = Table("measure", title="Cases of the directive", title_justify="left")
    for name in (*present, "total"):
        table.add_column(name, justify="right")
    for measure in (m.value for m in Measure):
        counts = [states.get((s, measure), 0) for s in present]
        table.add_row(measure, *(f"{n:,}" for n in counts), f"{sum(counts):,}")
    totals = [sum(n for (st, _), n in states.items() if st == s) for s in present]
    table.add_row("total", *(f"{n:,}" for n in totals), f"{sum(totals):,}")
    return table


# --- the kill switch ------------------------------------------------------------------


def _pending(session: Session, directive_id: str) -> int:
    from sqlalchemy import func, select

    from fairban.platforms.models import OutboxMessage, OutboxState

    query = select(func.count()).where(
        OutboxMessage.directive_id == directive_id, OutboxMessage.state == OutboxState.PENDING
    )
    return int(session.scalar(query) or 0)


@app.command()
def pause(
    directive_id: Annotated[str, typer.Argument(help="The directive's id.")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
    actor: ActorOption = None,
) -> None:
    """The kill switch: no new measures under the directive, its pending webhooks held.

    Measures in force stay; `fairban enforce` still records decisions and lifts what no
    longer holds. `fairban resume` undoes it.
    """
    from fairban.directives.flows import pause_directive
    from fairban.directives.service import get_directive

    with _database() as session:
        record = get_directive(session, directive_id)
        if record.paused:
            _plain(
                f"Directive {directive_id} is already paused (since {_at(record.paused_at)}, "
                f"by {record.paused_by})"
            )
            return
        pause_directive(session, directive_id, actor=_actor(actor), reason=reason)
        held = _pending(session, directive_id)
        session.commit()
    _plain(f"Directive {directive_id} paused: no new measures; {held:,} pending webhooks held")


@app.command()
def resume(
    directive_id: Annotated[str, typer.Argument(help="The directive's id.")],
    actor: ActorOption = None,
) -> None:
    """Undo `fairban pause`: held webhooks go out; decisions recorded during the pause
    are imposed by the next `fairban enforce`."""
    from sqlalchemy import func, select

    from fairban.cases.models import Case
    from fairban.cases.transitions import CaseState
    from fairban.directives.flows import resume_directive
    from fairban.directives.service import get_directive

    with _database() as session:
        record = get_directive(session, directive_id)
        if not record.paused:
            _plain(f"Directive {directive_id} is not paused")
            return
        resume_directive(session, directive_id, actor=_actor(actor))
        held = _pending(session, directive_id)
        waiting = session.scalar(
            select(func.count()).where(
                Case.directive_id == directive_id, Case.state == CaseState.PROPOSED
            )
        )
        session.commit()
    _plain(
        f"Directive {directive_id} resumed: {held:,} pending webhooks go out; "
        f"{waiting or 0:,} proposed cases wait for `fairban enforce`"
    )


@app.command()
def expire(actor: ActorOption = None) -> None:
    """Lift, with notices, every measure whose expiry (the directive's measure_days)
    has passed."""
    from fairban.cases.flows import EXPIRY_ACTOR, expire_due
    from fairban.config import get_settings

    with _database() as session:
        count = expire_due(
            session, now=datetime.now(UTC), settings=get_settings(), actor=actor or EXPIRY_ACTOR
        )
        session.commit()
    _plain(f"{count:,} measures expired and lifted" if count else "No measure is past its expiry")


# --- cases list | show ------------------------------------------------------------------


@cases_app.command("list")
def cases_list(
    directive: Annotated[str | None, typer.Option(help="Only this directive's cases.")] = None,
    state: Annotated[
        list[str] | None,
        typer.Option(
            help="Only cases in this state (proposed, active, appealed, upheld, downgraded, "
            "lifted, expired); repeat for several."
        ),
    ] = None,
    measure: Annotated[
        list[str] | None, typer.Option(help="Only this measure (monitor, restrict, suspend).")
    ] = None,
    person: Annotated[str | None, typer.Option(help="Only this person's cases.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 100,
) -> None:
    """The cases, by number: account, measure, state, risk, directive."""
    from fairban.cases.service import list_cases
    from fairban.cases.transitions import CaseState
    from fairban.measures import Measure

    states = _choices(state, CaseState, "--state")
    measures = _choices(measure, Measure, "--measure")
    with _database() as session:
        found = list_cases(
            session,
            directive_id=directive,
            states=states,
            person_id=person,
            measures=measures,
            limit=limit + 1,
        )
    if not found:
        _plain("No cases match.")
        return
    shown = found[:limit]
    # columns that would say the same on every row are said once, above the table
    directives = {(c.directive_id, c.directive_version) for c in shown}
    if len(directives) == 1:
        ((one, version),) = directives
        _plain(f"Directive {one}, version {version}")
    expiring = any(c.expires_at is not None for c in shown)
    table = Table("case", "account", "person", "measure", "state")
    table.add_column("risk", justify="right")
    if len(directives) > 1:
        table.add_column("directive")
    if expiring:
        table.add_column("expires")
    for case in shown:
        cells = [
            case.number,
            case.account_id,
            case.person_id or "—",
            case.measure.value,
            case.state.value,
            f"{case.risk:.2f}",
        ]
        if len(directives) > 1:
            cells.append(f"{case.directive_id} v{case.directive_version}")
        if expiring:
            cells.append(_at(case.expires_at))
        table.add_row(*cells)
    out.print(table)
    if len(found) > limit:
        _plain(f"(the first {limit}; --limit shows more)")


def _choices(values: list[str] | None, kind: type[E], option: str) -> list[E] | None:
    """The enum members named (any case), or None for no filter; ``InputError`` names
    the option and the allowed values."""
    from fairban.errors import InputError

    if not values:
        return None
    allowed = [m.value for m in kind]
    chosen: list[E] = []
    for value in values:
        name = value.strip().lower()
        if name not in allowed:
            raise InputError(option, f"expected one of {', '.join(allowed)}, got {value!r}")
        chosen.append(kind(name))
    return chosen


def _day(option: str, text: str | None) -> date | None:
    from fairban.errors import InputError

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(option, f"expected a day such as 2019-10-14, got {text!r}") from None


@cases_app.command("export-dsa")
def cases_export_dsa(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="The folder to write PLATFORM.jsonl (and rejected.jsonl) into."
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option("--from", help="First day (Beijing time) of the period, e.g. 2019-10-14."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Last day (Beijing time) of the period.")
    ] = None,
    platform: Annotated[
        list[str] | None,
        typer.Option(help="Only this platform (repeat for more); each gets its own file."),
    ] = None,
    territorial_scope: Annotated[
        str | None,
        typer.Option(
            help="EEA country codes the measures apply in, comma-separated (e.g. DE,NL); "
            "default: the directive's territorial_scope, else none."
        ),
    ] = None,
    puid_prefix: Annotated[
        str | None,
        typer.Option(help="Prefix of each statement's puid (default: the platform's name)."),
    ] = None,
    directive: Annotated[str | None, typer.Option(help="Only this directive's cases.")] = None,
) -> None:
    """Every restrict or suspend applied in the period (in force, changed, lifted or
    expired since) as an EU DSA statement of reasons, one file per platform (the
    Transparency Database files each statement under the submitting platform). Each is
    checked against the database's rules; one that breaks a rule is written to
    rejected.jsonl with why, and the command exits 1."""
    from fairban.cases.transparency import dsa_export
    from fairban.config import get_settings
    from fairban.contract.directive import EEA_COUNTRY_CODES
    from fairban.errors import InputError

    start, end = _day("--from", since), _day("--to", until)
    if start and end and end < start:
        raise InputError("--to", f"{end} is before --from {start}")
    scope = None
    if territorial_scope is not None:
        scope = sorted({c.strip().upper() for c in territorial_scope.split(",") if c.strip()})
        wrong = [c for c in scope if c not in EEA_COUNTRY_CODES]
        if wrong or not scope:
            raise InputError(
                "--territorial-scope",
                f"expected EEA country codes ({', '.join(sorted(EEA_COUNTRY_CODES))}), "
                f"got {territorial_scope!r}",
            )
    with _database() as session:
        export = dsa_export(
            session,
            get_settings(),
            start=start,
            end=end,
            platforms=platform,
            directive_id=directive,
            territorial_scope=scope,
            puid_prefix=puid_prefix,
        )
    written = export.write(out_dir)
    # the audit log's head goes out with the statements (docs/audit.md)
    from fairban.cli.audit import write_database_checkpoint

    checkpoint = out_dir / "audit-log.checkpoint"
    write_database_checkpoint(checkpoint, get_settings())
    for name, rows in export.statements.items():
        _plain(f"{name}: {len(rows)} statements of reasons in {written[name]}")
    if not export.statements:
        _plain("No decision in the period: no statement written")
    _plain(f"the audit log's signed checkpoint: {checkpoint}")
    if export.rejected:
        _plain(
            f"{len(export.rejected)} statements broke the database's rules and were left out: "
            f"{written['rejected']}"
        )
        raise typer.Exit(1)


@cases_app.command("show")
def cases_show(
    number: Annotated[str, typer.Argument(help="The case number, e.g. FB-2019-000123.")],
    lang: Annotated[str, typer.Option(help="The notice's language: zh-CN, en or both.")] = "both",
) -> None:
    """One case: the measure, why, who decided, its timeline, webhooks and its latest
    notice (SMS and long form)."""
    from fairban.cases.service import get_case, messages_of, notices_of, timeline

    langs = {"both": ("zh-CN", "en"), "zh-cn": ("zh-CN",), "en": ("en",)}.get(lang.lower())
    if langs is None:
        from fairban.errors import InputError

        raise InputError("--lang", f"expected zh-CN, en or both, got {lang!r}")
    with _database() as session:
        case = get_case(session, number)
        events = timeline(session, case)
        messages = messages_of(session, case)
        notices = notices_of(session, case)

    _plain(f"Case {case.number}: {case.measure.value}, {case.state.value}")
    _plain(f"  account   {case.account_id} ({case.platform}, {case.account_kind})")
    _plain(f"  person    {case.person_id or '—'}")
    _plain(f"  directive {case.directive_id}, version {case.directive_version}")
    _plain(
        f"  decided   by {case.decided_by} ({case.decided_by_kind.value}) at {_at(case.decided_at)}"
    )
    if case.judged_by:
        _plain(
            f"  judged    by {case.judged_by} at {_at(case.judged_at)} "
            f"(evidence {case.judged_evidence_hash[:12] if case.judged_evidence_hash else '—'})"
        )
    _plain(
        f"  risk {case.risk:.3f}; stage bucket {case.stage_bucket}; expires "
        f"{_at(case.expires_at)}; evidence {case.evidence_hash[:12]}"
    )
    reasons = json.loads(case.reasons)
    if reasons:
        _plain("Reasons")
        for r in reasons:
            _plain(f"  {float(r.get('weight', 0)):+.1f} {r['code']}: {r.get('text', '')}")
    table = Table(title="Timeline", title_justify="left")
    table.add_column("at (UTC)", no_wrap=True)
    for name in ("from", "to", "measure", "by", "note"):
        table.add_column(name)
    for e in events:
        table.add_row(
            _at(e.at),
            e.from_state.value if e.from_state else "—",
            e.to_state.value,
            e.measure.value if e.measure else "—",
            f"{e.actor} ({e.actor_kind.value})",
            e.note,
        )
    out.print(table)
    if messages:
        hooks = Table(
            "#", "kind", "measure", "platform", "state", title="Webhooks", title_justify="left"
        )
        for m in messages:
            body = json.loads(m.payload)
            hooks.add_row(
                str(m.id), m.kind.value, str(body.get("measure")), m.platform, m.state.value
            )
        out.print(hooks)
    if not notices:
        _plain("No notice: monitor is never noticed, and no measure was imposed.")
        return
    for locale in langs:
        mine = [n for n in notices if n.locale == locale]
        if not mine:
            continue
        latest = mine[-1]
        count = f" (latest of {len(mine)})" if len(mine) > 1 else ""
        _plain("")
        _plain(f"Notice {latest.measure}, {locale}, {_at(latest.created_at)}{count}")
        _plain(f"SMS: {latest.sms}")
        _plain("")
        _plain(latest.long_text.rstrip())
