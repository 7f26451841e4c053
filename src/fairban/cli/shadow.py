"""``fairban shadow``: a directive version judged beside the live one, compared, and
promoted (``cases/shadow.py``; docs/cases.md, "Shadow mode")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fairban.cli import RichProgress, app, out
from fairban.cli.cases import ActorOption, QuietOption, _actor, _database, _plain
from fairban.cli.store import StoreOption, parse_instant, show_daily

shadow_app = typer.Typer(
    help="A directive version in shadow: judged every day, recorded, never enforced, "
    "until promoted.",
    no_args_is_help=True,
)
app.add_typer(shadow_app, name="shadow")

DirectiveId = Annotated[str, typer.Argument(help="The directive's id.")]


@shadow_app.command("start")
def start(
    directive: Annotated[Path, typer.Argument(help="The new version's directive YAML file.")],
    actor: ActorOption = None,
) -> None:
    """Put a new version of a live directive in shadow.

    Its content is recorded as a version of the directive without becoming current:
    each `fairban daily` of the live directive then judges it too and records, per
    account, the measure it would hold, with no case, notice or webhook.
    """
    from fairban.clock import aware_now
    from fairban.contract import load_directive
    from fairban.directives.flows import start_shadow

    spec = load_directive(directive)
    with _database() as session:
        version = start_shadow(session, spec, actor=_actor(actor), now=aware_now(None))
        session.commit()
    _plain(
        f"Directive {spec.id}: version {version} in shadow; `fairban daily` judges it "
        f"beside the live version, `fairban shadow compare {spec.id}` shows the difference"
    )


@shadow_app.command("compare")
def compare(
    directive_id: DirectiveId,
    day: Annotated[
        str | None, typer.Option(help="Only this day (YYYY-MM-DD, Beijing time).")
    ] = None,
    version: Annotated[
        int | None, typer.Option(help="Another shadow version than the one in shadow now.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=0, help="Accounts listed per day (the counts are whole).")
    ] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="Every account of every day, as JSON.")
    ] = False,
) -> None:
    """Compare the shadow with live, day by day: who would be added, lifted or
    changed were the shadow promoted that day, and why (reason codes, lift reason)."""
    from fairban.cases.shadow import CHANGES, explain
    from fairban.cases.shadow import compare as run_compare

    with _database() as session:
        days = run_compare(session, directive_id, version=version, day=day)
        if as_json:
            doc = [
                {
                    "directive": d.directive_id,
                    "version": d.version,
                    "day": d.day,
                    "as_of": d.as_of.isoformat(),
                    "counts": {c: d.counts.get(c, 0) for c in (*CHANGES, "same")},
                    "accounts": [
                        {
                            "account_id": s.account_id,
                            "platform": s.platform,
                            "change": s.change,
                            "live": s.live_measure,
                            "shadow": s.measure,
                            "case": s.live_case,
                            "why": s.why,
                            "codes": json.loads(s.codes),
                            "live_codes": json.loads(s.live_codes),
                        }
                        for s in d.rows
                    ],
                }
                for d in days
            ]
            out.print_json(json.dumps(doc, ensure_ascii=False))
            return
        for d in days:
            c = d.counts
            _plain(
                f"{d.day} (as of {d.as_of.isoformat()}), shadow version {d.version}: "
                f"added {c['added']:,}, lifted {c['lifted']:,}, changed {c['changed']:,}, "
                f"same {c['same']:,}"
            )
            for s in d.rows[:limit]:
                sign = {"added": "+", "lifted": "-", "changed": "~"}[s.change]
                why = explain(s)
                was = f", was {s.live_measure}" if s.change != "added" else ""
                case = f" ({s.live_case}{was})" if s.live_case else ""
                _plain(f"  {sign} {s.measure:<8} {s.account_id}{case}: {why}")
            if len(d.rows) > limit:
                _plain(f"  ... and {len(d.rows) - limit:,} more (--limit, --json)")


@shadow_app.command("promote")
def promote(
    directive_id: DirectiveId,
    store: StoreOption,
    stage: Annotated[
        str,
        typer.Option(help="The new version's first stage: 1%, 10%, ... or all."),
    ] = "1%",
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Judge as of this instant; default: the latest store day."),
    ] = None,
    actor: ActorOption = None,
    quiet: QuietOption = False,
) -> None:
    """Make the shadow version current and enforce it, starting at --stage.

    Measures in force stay (a stage never takes one back); those the new version no
    longer supports are lifted as `directive_amended`, with notices and webhooks; new
    and stronger ones reach the stage's accounts. `fairban daily --stage 10%` (then
    all) grows the rollout. Each step is an audit entry.
    """
    from fairban.cases.daily import promote as run_promote
    from fairban.cases.decisions import parse_stage
    from fairban.config import get_settings
    from fairban.store.layout import Store

    share = parse_stage(stage)
    at = parse_instant(as_of, "--as-of")
    with _database() as session:
        version, previous, report = run_promote(
            session,
            Store(store),
            directive_id,
            stage=share,
            settings=get_settings(),
            actor=_actor(actor),
            as_of=at,
            progress=RichProgress(quiet),
        )
        session.commit()
    _plain(
        f"Directive {directive_id}: version {version} promoted (was {previous}), "
        f"enforced at stage {stage}"
    )
    show_daily(report)


@shadow_app.command("stop")
def stop(
    directive_id: DirectiveId,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")],
    actor: ActorOption = None,
) -> None:
    """End the shadow without promoting it (its recorded days stay for compare)."""
    from fairban.directives.flows import stop_shadow

    with _database() as session:
        version = stop_shadow(session, directive_id, actor=_actor(actor), reason=reason)
        session.commit()
    _plain(f"Directive {directive_id}: version {version} no longer in shadow")
