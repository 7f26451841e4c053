"""``fairban target``: validate, run, and write the decisions (all or nothing)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fairban.contract import Directive, discover, load_directive, validate_evidence
from fairban.errors import FairbanError, InputError
from fairban.progress import SILENT, Progress
from fairban.targeting.backends.base import Backend
from fairban.targeting.engine import DECISION_COLUMNS, TargetResult, target
from fairban.targeting.scoring import Thresholds

#: an area larger than this is almost surely a mistake (Myanmar is 676,578 km²)
MAX_AREA_KM2 = 500_000.0
MIN_AREA_KM2 = 0.01
DEFAULT_MASTER = "local[2]"


class Engine(StrEnum):
    """What runs the feature SQL: DuckDB on this machine, or Spark (``fairban[spark]``)."""

    DUCKDB = "duckdb"
    SPARK = "spark"


def open_backend(
    engine: Engine | str = Engine.DUCKDB,
    master: str = DEFAULT_MASTER,
    *,
    duckdb_memory_limit: str | None = None,
    spark_driver_memory: str | None = None,
) -> Backend:
    """A backend for ``engine``; Spark starts on ``master`` (``local[N]``,
    ``spark://HOST:PORT``, ``k8s://...``). The memory limits are the entry point's
    settings (``Settings.duckdb_memory_limit``, ``Settings.spark_driver_memory``);
    None leaves the engine's own default. Raises a one-line ``FairbanError`` when the
    Spark engine cannot run here (no pyspark, no Java 17)."""
    if Engine(engine) is Engine.SPARK:
        from fairban.targeting.backends.spark import SparkBackend  # needs fairban[spark]

        return SparkBackend(master, driver_memory=spark_driver_memory)
    from fairban.targeting.backends.duckdb import DuckDBBackend

    return DuckDBBackend(memory_limit=duckdb_memory_limit)


@dataclass
class TargetSummary:
    out_dir: Path
    directive: Directive
    counts: dict[str, int]
    by_platform: dict[tuple[str, str], int]
    persons: dict[str, int]
    #: IP-only observations kept without a position, by why
    ip_unplaced: dict[str, int] = field(default_factory=dict)

    def render(self) -> str:
        d = self.directive
        lines = [
            f"Directive {d.id}: {d.title}",
            f"  accounts linked to the areas: {sum(self.counts.values()):,}",
        ]
        for m in ("suspend", "restrict", "monitor", "none"):
            platforms = ", ".join(
                f"{p} {n:,}" for (mm, p), n in sorted(self.by_platform.items()) if mm == m
            )
            people = self.persons.get(m, 0)
            lines.append(
                f"  {m:<9} {self.counts.get(m, 0):>7,} accounts, {people:,} people"
                + (f" ({platforms})" if platforms else "")
            )
        if self.ip_unplaced:
            lines.append("  " + unplaced_line(self.ip_unplaced))
        lines.append(f"Decisions written to {self.out_dir / 'decisions.csv'} (and .parquet)")
        return "\n".join(lines)


def unplaced_line(ip_unplaced: Mapping[str, int]) -> str:
    """The summary's line on IP-only observations kept without a position."""
    whys = ", ".join(f"{why} {n:,}" for why, n in sorted(ip_unplaced.items(), key=lambda w: -w[1]))
    return (
        f"IP-only observations whose address cannot be placed, kept without a position: "
        f"{sum(ip_unplaced.values()):,} ({whys})"
    )


def check_areas(directive: Directive, force: bool) -> None:
    """Refuse areas that are empty or cover more than a country, unless forced."""
    if force:
        return
    for area in directive.areas:
        if area.km2 < MIN_AREA_KM2:
            raise InputError(
                f"{directive.source.name} area '{area.name}'",
                f"covers {area.km2:.4f} km², which is empty for practical purposes "
                "(use --force if this is intended)",
            )
        if area.km2 > MAX_AREA_KM2:
            raise InputError(
                f"{directive.source.name} area '{area.name}'",
                f"covers {area.km2:,.0f} km², more than a whole country such as Myanmar; "
                "a directive names fraud areas, not countries (use --force if this is intended)",
            )


@dataclass
class EvidenceCheck:
    """How ``check_evidence`` checked each table, and what the summaries report of it.

    ``checked_by``: each table present, in contract order, and ``"aggregate"`` (one
    scan by the backend proved it) or ``"validator"`` (the row-precise streaming
    validator read it). ``ip_unplaced``: IP-only observations kept without a position,
    by why (``geo.iplocate.Unplaced``'s words)."""

    checked_by: dict[str, str] = field(default_factory=dict)
    ip_unplaced: dict[str, int] = field(default_factory=dict)


@dataclass
class Prepared:
    """A directive ready to run, and how its evidence was checked."""

    directive: Directive
    evidence: EvidenceCheck


def check_evidence(
    data_dir: Path, *, backend: Backend | None = None, progress: Progress = SILENT
) -> EvidenceCheck:
    """Check the evidence folder against the contract, each table the fastest way its
    format allows; raise the validator's first error, the same one line as
    ``validate_evidence``'s first.

    With a backend, each table is first checked by one aggregate scan (Parquet with
    the contract's physical types); a table it cannot prove (CSV, other physical
    types, a broken rule) goes through the streaming validator alone, which names its
    first bad row. Tables are taken in contract order and the first error ends the
    check, so the error is the one the validator would report for the whole folder."""
    found = discover(data_dir)  # a missing table or a bad folder: the validator's message
    check = EvidenceCheck()
    opened = False
    if backend is not None:
        with progress.stage("Checking the evidence", total=None):
            try:
                backend.open_evidence(data_dir)
                opened = True
            except backend.errors:
                opened = False  # e.g. a CSV the engine cannot read: the validator says why
    for name in found:
        if opened and backend is not None:
            with progress.stage(f"Checking {name}", total=None):
                fast = backend.check_table(name)
            if fast.proven:
                check.checked_by[name] = "aggregate"
                _add(check.ip_unplaced, fast.ip_unplaced)
                continue
        report = validate_evidence(data_dir, progress=progress, max_errors=1, tables=[name])
        report.errors.raise_first()
        check.checked_by[name] = "validator"
        _add(check.ip_unplaced, report.ip_unplaced)
    return check


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


def prepare(
    directive_path: Path,
    data_dir: Path,
    *,
    force: bool = False,
    progress: Progress = SILENT,
    backend: Backend | None = None,
) -> Prepared:
    """Load and check the directive and the evidence (``check_evidence``); raise on
    the first problem."""
    directive = load_directive(directive_path)
    check_areas(directive, force)
    Thresholds.for_directive(directive)  # bad tiers fail before any work
    return Prepared(directive, check_evidence(data_dir, backend=backend, progress=progress))


def run_engine(
    directive: Directive,
    data_dir: Path,
    *,
    progress: Progress = SILENT,
    backend: Backend | None = None,
) -> TargetResult:
    return target(directive, data_dir, progress=progress, backend=backend)


def run_target(
    directive_path: Path,
    data_dir: Path,
    out_dir: Path,
    *,
    force: bool = False,
    progress: Progress = SILENT,
    engine: Engine | str = Engine.DUCKDB,
    master: str = DEFAULT_MASTER,
    duckdb_memory_limit: str | None = None,
    spark_driver_memory: str | None = None,
) -> TargetSummary:
    """Validate, run and write the decisions; the memory limits as ``open_backend``'s."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(str(out_dir), "exists and is not a folder")
    backend = open_backend(
        engine,
        master,
        duckdb_memory_limit=duckdb_memory_limit,
        spark_driver_memory=spark_driver_memory,
    )
    try:
        prepared = prepare(
            directive_path, data_dir, force=force, progress=progress, backend=backend
        )
        directive = prepared.directive
        result = run_engine(directive, data_dir, progress=progress, backend=backend)
    except backend.errors as error:
        if Engine(engine) is Engine.DUCKDB:
            raise
        from fairban.targeting.backends.spark import driver_log

        # a JVM stack trace is no message: its first line, and where the rest is
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FairbanError(f"spark failed: {first} (its log: {driver_log()})") from error
    finally:
        backend.close()
    write_decisions(result, out_dir)
    return summarise(result, directive, out_dir, prepared.evidence)


def write_decisions(result: TargetResult, out_dir: Path) -> None:
    """decisions.csv and decisions.parquet with the contract's columns, written next to
    their final names and renamed into place only when both are complete."""
    table = result.decisions.select(list(DECISION_COLUMNS))
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_csv = out_dir / ".decisions.csv.partial"
    tmp_parquet = out_dir / ".decisions.parquet.partial"
    try:
        pacsv.write_csv(table, tmp_csv)
        pq.write_table(table, tmp_parquet)
        os.replace(tmp_csv, out_dir / "decisions.csv")
        os.replace(tmp_parquet, out_dir / "decisions.parquet")
    finally:
        tmp_csv.unlink(missing_ok=True)
        tmp_parquet.unlink(missing_ok=True)


def summarise(
    result: TargetResult,
    directive: Directive,
    out_dir: Path,
    evidence: EvidenceCheck | None = None,
) -> TargetSummary:
    d = result.decisions
    measures = [str(m) for m in d.column("measure").to_pylist()]
    platforms = [str(p) for p in d.column("platform").to_pylist()]
    persons = [str(p or "") for p in d.column("person_id").to_pylist()]
    people: dict[str, set[str]] = {}
    for m, p in zip(measures, persons, strict=True):
        if p:
            people.setdefault(m, set()).add(p)
    return TargetSummary(
        out_dir=out_dir,
        directive=directive,
        counts=dict(Counter(measures)),
        by_platform=dict(Counter(zip(measures, platforms, strict=True))),
        persons={m: len(s) for m, s in people.items()},
        ip_unplaced=dict(evidence.ip_unplaced) if evidence is not None else {},
    )


__all__ = [
    "DEFAULT_MASTER",
    "Engine",
    "EvidenceCheck",
    "Prepared",
    "TargetSummary",
    "check_areas",
    "check_evidence",
    "open_backend",
    "prepare",
    "run_engine",
    "run_target",
    "unplaced_line",
    "write_decisions",
]
