"""``fairban report transparency``: the period's transparency report (docs/reports.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from fairban.cli import app, out

report_app = typer.Typer(
    help="Reports for oversight: what was done, appealed and reversed, from the case store.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


def _day(option: str, text: str) -> date:
    from fairban.errors import InputError

    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(option, f"expected a day such as 2019-10-14, got {text!r}") from None


@report_app.command("transparency")
def transparency(
    since: Annotated[
        str, typer.Option("--from", help="First day (Beijing time) of the period, e.g. 2019-10-14.")
    ],
    until: Annotated[str, typer.Option("--to", help="Last day (Beijing time) of the period.")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="The folder to write the report into.")
    ],
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="The case store's URL [default: FAIRBAN_DATABASE_URL, else "
            "FAIRBAN_HOME/fairban.db].",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace OUT if it exists (once the new report is whole)."),
    ] = False,
) -> None:
    """Write the transparency report of a period: index.html (Chinese) and
    index.en.html (English), self-contained, with CSV and JSON beside them.

    Measures by platform, kind, ground and automation; appeals received and decided,
    time to decision, outcomes and reversals; directives paused by the circuit breaker;
    the audit log's signed checkpoint. Reads the case store, never migrates it; bad
    input is one line, exit status 2, nothing written.
    """
    from fairban.config import get_settings
    from fairban.db import database_url, open_database, session_factory
    from fairban.reports.numbers import Period, compute
    from fairban.reports.render import check_out_dir, write

    period = Period(_day("--from", since), _day("--to", until))
    check_out_dir(out_dir, force)
    settings = get_settings()
    # read only, never created: a report of a store that is not there is an error
    engine = open_database(db or database_url(settings))
    try:
        with session_factory(engine)() as session:
            report = compute(session, settings, period)
            session.rollback()  # the report writes nothing to the store
    finally:
        engine.dispose()
    written = write(report, out_dir, force=force)
    m, a = report.measures, report.appeals
    out.print(
        f"transparency report {period.start} to {period.end}: {m.total} measures, "
        f"{a.received} appeals received, {a.decided} decided, {len(report.breaker)} breaker trips; "
        f"{len(written)} files in {out_dir} (open {out_dir / 'index.html'})",
        markup=False,
        highlight=False,
    )
