"""``fairban ingest`` and ``fairban daily``: the evidence store and a standing directive's
daily cycle (registered on the main app; docs/store.md)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fairban.cli import RichProgress, app, out
from fairban.cli.cases import ActorOption, QuietOption, _actor, _database, _plain
from fairban.errors import InputError

if TYPE_CHECKING:
    from fairban.cases.daily import DailyReport

StoreOption = Annotated[
    Path, typer.Option("--store", "-s", help="The evidence store folder (docs/store.md).")
]


def parse_instant(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 instant with an offset (``2019-10-15T00:00:00+08:00``), or None."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            option, f"expected a date and time such as 2019-10-15T00:00:00+08:00, got {text!r}"
        ) from None
    if at.utcoffset() is None:
        raise InputError(option, f"{text!r} has no time-zone offset (add +08:00 or Z)")
    return at


@app.command()
def ingest(
    evidence: Annotated[Path, typer.Argument(help="An evidence folder, as for --data.")],
    store: StoreOption,
    quiet: QuietOption = False,
) -> None:
    """Check an evidence folder against the contract and add it to the store, day by day.

    Each row goes to the day of its own timestamp (a late delivery lands on the right
    days); a day already in the store is merged, never doubled, so ingesting the same
    folder again changes nothing. Bad evidence refuses the whole folder with one line and
    leaves the store as it was. A new folder becomes a new store.
    """
    from fairban.config import get_settings
    from fairban.store.ingest import ingest as run_ingest
    from fairban.store.layout import MANIFEST, Store

    created = not (store / MANIFEST).exists()
    opened = Store(store, create=created)
    report = run_ingest(
        opened,
        evidence,
        memory_limit=get_settings().duckdb_memory_limit,
        progress=RichProgress(quiet),
    )
    if created:
        _plain(f"New evidence store at {store}")
    _plain(report.render())


@app.command()
def daily(
    directive: Annotated[Path, typer.Argument(help="The directive YAML file.")],
    store: StoreOption,
    inbox: Annotated[
        Path | None,
        typer.Option(
            help="A folder of evidence folders as platforms deliver them: each one the store "
            "has not ingested yet is ingested first."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Judge as of this instant (with its offset); default: the end of the latest "
            "day in the store.",
        ),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option(
            help="Grow the rollout to this share first (1%, 10%, ... or all); default: the "
            "stage it reached. A stage never shrinks."
        ),
    ] = None,
    actor: ActorOption = None,
    quiet: QuietOption = False,
) -> None:
    """One day of a standing directive: ingest what has arrived, judge the directive as
    of the latest evidence, and enforce the difference at the stage its rollout reached.
    A version in shadow (`fairban shadow start`) is judged too, and recorded only.

    New fraud accounts get measures with notices and webhooks; measures whose evidence
    aged out of the window, or that the new evidence no longer supports, are lifted with
    a notice that says why; after the directive's `until` every measure it imposed ends.
    A person's decision outranks the engine, and the kill switch holds new measures.
    Run it once a day (cron, a systemd timer, a Kubernetes CronJob: docs/store.md); a
    run that died half-way is finished by the next one, with nothing applied twice.
    """
    from fairban.cases.daily import run_daily
    from fairban.cases.decisions import parse_stage
    from fairban.config import get_settings
    from fairban.contract import load_directive
    from fairban.store.layout import Store

    spec = load_directive(directive)
    at = parse_instant(as_of, "--as-of")
    share = None if stage is None else parse_stage(stage)
    opened = Store(store)
    with _database() as session:
        report = run_daily(
            session,
            opened,
            spec,
            settings=get_settings(),
            actor=_actor(actor),
            inbox=inbox,
            as_of=at,
            stage=share,
            progress=RichProgress(quiet),
        )
        session.commit()
    show_daily(report)


def show_daily(report: DailyReport) -> None:
    """What a daily run did, for the operator: the day's decisions, who was caught, whose
    measure ended or changed and why, and the shadow's day when there is one."""
    for ingested in report.ingested:
        _plain(ingested.render())
    spec = report.directive
    judged, enforced = report.judged, report.enforced
    assert judged is not None
    assert enforced is not None
    counts = judged.result.counts()
    _plain(
        f"Directive {spec.id} as of {judged.as_of.isoformat()}: "
        f"window {judged.window.start.isoformat()} .. {judged.window.end.isoformat()}"
    )
    _plain(
        "  decisions: "
        + ", ".join(f"{m} {counts.get(m, 0):,}" for m in ("suspend", "restrict", "monitor"))
        + f" (in {report.decisions_dir})"
    )
    seen = ("restrict", "suspend")  # what the person notices
    caught = [c for c in enforced.changes if c.measure in seen and c.was not in seen]
    ended = [c for c in enforced.changes if c.was in seen and c.measure not in seen]
    moved = [c for c in enforced.changes if c.was in seen and c.measure in seen]
    _plain(
        f"  caught today: {len(caught):,}; ended today: {len(ended):,}; "
        f"changed today: {len(moved):,}"
    )
    why = _reasons_of(judged.result.decisions, {c.account_id for c in caught + moved})
    for c in caught:
        _plain(f"    + {c.measure:<8} {c.account_id} ({c.case}): {why.get(c.account_id, '')}")
    for c in ended:
        _plain(f"    - lifted   {c.account_id} ({c.case}, was {c.was}): {c.why}")
    for c in moved:
        _plain(
            f"    ~ {c.measure:<8} {c.account_id} ({c.case}, was {c.was}): "
            f"{why.get(c.account_id, c.why)}"
        )
    if enforced.held_paused:
        _plain(f"  {enforced.held_paused:,} new measures held by the kill switch")
    if enforced.outside_stage:
        _plain(f"  {enforced.outside_stage:,} new decisions outside the rollout's stage")
    notices = f"{enforced.notices:,} notice{'' if enforced.notices == 1 else 's'}"
    webhooks = f"{enforced.messages:,} webhook{'' if enforced.messages == 1 else 's'}"
    out.print(f"  {notices} and {webhooks} written")
    shadow = report.shadow
    if shadow is not None:
        n = shadow.counts
        _plain(
            f"  shadow version {shadow.version} on {shadow.day}: would add {n['added']:,}, "
            f"lift {n['lifted']:,}, change {n['changed']:,}; "
            f"{'recorded' if shadow.recorded else 'already recorded'} "
            f"(`fairban shadow compare {spec.id}`)"
        )


def _reasons_of(decisions: Any, accounts: set[str]) -> dict[str, str]:
    """The reason codes of each of ``accounts``' decisions, strongest first."""
    if not accounts:
        return {}
    out = {}
    for row in decisions.select(["account_id", "reasons"]).to_pylist():
        if row["account_id"] in accounts:
            reasons = sorted(json.loads(row["reasons"]), key=lambda r: -float(r["weight"]))
            out[row["account_id"]] = ", ".join(r["code"] for r in reasons)
    return out
