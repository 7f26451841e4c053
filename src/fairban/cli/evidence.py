"""``fairban validate``, ``simulate``, ``target`` and ``preview``: the commands over an
evidence folder or store (registered on the main app)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fairban.cli import DataOption, QuietOption, RichProgress, app, err, out
from fairban.errors import InputError


@app.command()
def validate(
    directive: Annotated[Path, typer.Argument(help="The directive YAML file.")],
    data: DataOption,
    max_errors: Annotated[
        int, typer.Option(help="Show at most this many errors, then a count.", min=1)
    ] = 20,
    quiet: QuietOption = False,
) -> None:
    """Check a directive and an evidence folder against the data contract.

    Prints a summary (rows per table, time range, platforms, sources, each area's name and
    size) or the errors: file, row or key and what is wrong, the first MAX_ERRORS then a
    count. Exit status 0 when valid, 2 when not. Streams: memory does not grow with the
    number of observations.
    """
    from fairban.contract import load_directive, validate_evidence
    from fairban.targeting.scoring import Thresholds

    spec = load_directive(directive)
    Thresholds.for_directive(spec)  # tiers that do not increase, as target says
    report = validate_evidence(data, progress=RichProgress(quiet), max_errors=max_errors)
    if not report.ok:
        for line in report.errors.lines():
            err.print(line, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)

    out.print(f"[bold]Directive[/] {spec.id}: {spec.title}")
    out.print(
        f"  window {spec.window_start:%Y-%m-%d %H:%M %z} .. {spec.window_end:%Y-%m-%d %H:%M %z}"
        f" ({spec.lookback_days} days); platforms {', '.join(spec.platforms)}"
    )
    areas = Table("area", "km²", title="Areas", title_justify="left")
    for area in spec.areas:
        areas.add_row(area.name, f"{area.km2:,.1f}")
    out.print(areas)

    tables = Table("table", "format", "files", "rows", title="Evidence", title_justify="left")
    for summary in report.tables.values():
        tables.add_row(summary.name, summary.format, f"{summary.files:,}", f"{summary.rows:,}")
    out.print(tables)
    if report.ts_min and report.ts_max:
        out.print(f"time range {report.ts_min:%Y-%m-%d %H:%M}Z .. {report.ts_max:%Y-%m-%d %H:%M}Z")
    out.print("platforms  " + _counts(report.platforms))
    out.print("sources    " + _counts(report.sources))
    out.print("kinds      " + _counts(report.interaction_kinds))
    if report.ip_placed:
        out.print(f"IP-only observations placed with ip2region: {report.ip_placed:,}")
    if report.ip_unplaced:
        from fairban.targeting.run import unplaced_line

        out.print(unplaced_line(report.ip_unplaced), markup=False, highlight=False)
    unknown = report.unknown_accounts
    if unknown:
        out.print(
            f"[yellow]warning[/]: {unknown:,} accounts seen in observations are not in accounts"
        )
    out.print("[green]valid[/]")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to create.")],
    accounts: Annotated[
        int, typer.Option("--accounts", "-n", min=100, help="About this many accounts.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same world.")] = 1,
    ip_error: Annotated[
        float, typer.Option(min=0.0, help="Multiplier on IP geolocation errors (1 = realistic).")
    ] = 1.0,
    border_spill: Annotated[
        float,
        typer.Option(
            min=0.0, help="Multiplier on cross-border cell-tower service (1 = realistic)."
        ),
    ] = 1.0,
    gps_rate: Annotated[
        float, typer.Option(min=0.0, help="Multiplier on the share of GPS fixes (1 = realistic).")
    ] = 1.0,
    days: Annotated[
        int,
        typer.Option(min=7, max=180, help="Days simulated before the directive (its window)."),
    ] = 180,
    after: Annotated[
        int,
        typer.Option(
            min=0,
            max=366,
            help="Go on for this many days after the directive: OUT/days/DAY/ holds each "
            "day's evidence, OUT/truth/DAY.csv its truth.",
        ),
    ] = 0,
    lookback: Annotated[
        int, typer.Option(min=1, max=366, help="The directive's lookback_days.")
    ] = 180,
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Generate a realistic world with known truth, from real geography.

    Writes OUT/directive.yaml and OUT/areas.geojson (the 2019 directive), OUT/evidence/
    (the evidence folder, Parquet partitioned by day) and OUT/truth.csv (every account's
    role). With `--after K` the world goes on for K days after the directive (a new
    operator, a compound that moves, a mule who stops, workers who go home): each day
    is an evidence folder of its own in OUT/days/, for `fairban daily --inbox`, with its
    truth in OUT/truth/. Deterministic for a seed.
    """
    from fairban.world import WorldConfig, simulate_world

    config = WorldConfig(
        accounts=accounts,
        seed=seed,
        ip_error=ip_error,
        border_spill=border_spill,
        gps_rate=gps_rate,
        days=days,
        after=after,
        lookback=lookback,
    )
    summary = simulate_world(config, out_dir, force=force, progress=RichProgress(quiet))
    out.print(summary.render())


class TargetEngine(StrEnum):
    """``fairban target --engine``: the same feature definitions, two SQL engines.

    ``targeting.run.Engine`` by value; kept here so that ``--help`` imports no targeting."""

    duckdb = "duckdb"
    spark = "spark"


@app.command()
def target(
    directive: Annotated[Path, typer.Argument(help="The directive YAML file.")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="Evidence folder (accounts, observations, interactions, confirmed): "
            "judged over the directive's own window.",
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            "-s",
            help="Or an evidence store (fairban ingest): judged over "
            "(as-of - lookback_days, as-of].",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="With --store: the end of the window (with its offset); default: the end "
            "of the store's latest day.",
        ),
    ] = None,
    *,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for decisions.csv and decisions.parquet.")
    ],
    force: Annotated[
        bool, typer.Option(help="Accept areas that look like a mistake (empty or huge).")
    ] = False,
    engine: Annotated[
        TargetEngine,
        typer.Option(
            help="What runs the feature SQL: duckdb on this machine, or spark (needs the "
            "'spark' extra and Java 17+; docs/scale.md)."
        ),
    ] = TargetEngine.duckdb,
    master: Annotated[
        str,
        typer.Option(
            help="Spark master for --engine spark: local[N] (N cores here), "
            "spark://HOST:PORT (a standalone cluster) or k8s://https://HOST:PORT."
        ),
    ] = "local[2]",
    quiet: QuietOption = False,
) -> None:
    """Find the accounts that really run fraud from the directive's areas.

    Writes OUT/decisions.csv and OUT/decisions.parquet: one row per in-scope account the
    evidence links to the directive (measure none, monitor, restrict or suspend, a risk
    in [0, 1] and reasons with stable codes). The evidence is validated first: bad input
    changes nothing in OUT. Both engines give the same decisions. From an evidence store
    (--store), the decisions are those --data gives over the same evidence and window.
    """
    if (data is None) == (store is None):
        raise InputError("fairban target", "give the evidence as --data FOLDER or --store STORE")
    if store is not None:
        _target_from_store(directive, store, as_of, out_dir, force, engine, quiet)
        return
    if as_of is not None:
        raise InputError("--as-of", "judges an evidence store: give --store with it")
    from fairban.config import get_settings
    from fairban.targeting.run import run_target

    assert data is not None
    settings = get_settings()
    summary = run_target(
        directive,
        data,
        out_dir,
        force=force,
        progress=RichProgress(quiet),
        engine=engine.value,
        master=master,
        duckdb_memory_limit=settings.duckdb_memory_limit,
        spark_driver_memory=settings.spark_driver_memory,
    )
    out.print(summary.render())


def _target_from_store(
    directive: Path,
    store: Path,
    as_of: str | None,
    out_dir: Path,
    force: bool,
    engine: TargetEngine,
    quiet: bool,
) -> None:
    from fairban.cli.store import parse_instant
    from fairban.config import get_settings
    from fairban.contract import load_directive
    from fairban.store.judge import judge
    from fairban.store.layout import Store
    from fairban.targeting.run import check_areas, summarise, write_decisions

    if engine is not TargetEngine.duckdb:
        raise InputError("--engine", "an evidence store is judged with duckdb for now")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(str(out_dir), "exists and is not a folder")
    spec = load_directive(directive)
    check_areas(spec, force)
    judged = judge(
        Store(store),
        spec,
        as_of=parse_instant(as_of, "--as-of"),
        memory_limit=get_settings().duckdb_memory_limit,
        progress=RichProgress(quiet),
    )
    write_decisions(judged.result, out_dir)
    out.print(f"Judged from {store} as of {judged.as_of.isoformat()}")
    out.print(summarise(judged.result, spec, out_dir).render())


@app.command()
def preview(
    directive: Annotated[Path, typer.Argument(help="The directive YAML file.")],
    data: DataOption,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the report.")],
    truth: Annotated[
        Path | None,
        typer.Option(
            help="A simulator's truth.csv for precision and recall per role "
            "[default: truth.csv beside the evidence folder, if there is one]"
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace OUT if it exists; accept areas that look wrong.")
    ] = False,
    thresholds: Annotated[
        Path | None,
        typer.Option(
            help="A YAML file of thresholds (the directive's 'thresholds' keys) to try over "
            "the directive's own: re-scored from the features a first preview kept, "
            "without reading the evidence again."
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Dry-run a directive and write its impact report; nothing is enforced.

    OUT/index.html (self-contained, works offline) and the CSVs behind it: counts by
    measure, platform, province, prefecture and strength of evidence, a map of the areas
    and the affected accounts, and what the naive presence rule of 2019 would have hit
    beside what fairban would do. The first preview of a directive over a folder keeps
    its features and the report's evidence tallies under FAIRBAN_HOME/preview; a later
    one with other thresholds (--thresholds, or the directive's own) re-scores from them
    in seconds.
    """
    import time

    from fairban.config import get_settings
    from fairban.contract import load_directive
    from fairban.preview import write_report
    from fairban.preview.ledger import load_ledger, with_decisions
    from fairban.preview.whatif import kept_for, with_thresholds
    from fairban.targeting.backends.duckdb import DuckDBBackend
    from fairban.targeting.engine import keep_scored, rescore
    from fairban.targeting.run import check_areas, prepare, run_engine
    from fairban.targeting.scoring import Thresholds

    settings = get_settings()
    if truth is None and (data.parent / "truth.csv").is_file():
        truth = data.parent / "truth.csv"
    spec = with_thresholds(load_directive(directive), thresholds)
    kept = kept_for(settings.home.expanduser(), spec, data)
    if kept.complete:
        check_areas(spec, force)
        Thresholds.for_directive(spec)  # tiers that do not increase fail before any work
        started = time.perf_counter()
        result = rescore(
            spec,
            kept.scored,
            memory_limit=settings.duckdb_memory_limit,
            progress=RichProgress(quiet),
        )
        seconds = time.perf_counter() - started
        summary = write_report(
            spec,
            data,
            result.decisions,
            out_dir,
            truth=truth,
            force=force,
            progress=RichProgress(quiet),
            ledger=with_decisions(load_ledger(kept.ledger), result.decisions),
        )
        out.print(
            f"Re-scored in {seconds:.2f} s from the features kept in {kept.folder} "
            "(the evidence was not read again)"
        )
        out.print(summary.render())
        return
    Thresholds.for_directive(spec)
    backend = DuckDBBackend(memory_limit=settings.duckdb_memory_limit)
    try:
        prepare(directive, data, force=force, progress=RichProgress(quiet), backend=backend)
        result = run_engine(spec, data, progress=RichProgress(quiet), backend=backend)
        keep_scored(backend, result, kept.scored)
    finally:
        backend.close()
    summary = write_report(
        spec,
        data,
        result.decisions,
        out_dir,
        truth=truth,
        force=force,
        progress=RichProgress(quiet),
        keep_ledger=kept.ledger,
    )
    out.print(summary.render())
