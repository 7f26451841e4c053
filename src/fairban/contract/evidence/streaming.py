"""Streaming one table as canonical, validated batches: ``iter_batches`` and the
``_scan`` that both it and ``validate_evidence`` run over every file of a table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fairban.contract.evidence.checks import _canonical, _resolve
from fairban.contract.evidence.csv_reader import _read_csv
from fairban.contract.evidence.discovery import TableFiles, _find_table, _folder_problem
from fairban.contract.evidence.ip_only import _PLACED, _PLACEMENT_INPUTS, _Placement
from fairban.contract.evidence.parquet_reader import _read_parquet
from fairban.contract.evidence.slices import _Raw
from fairban.contract.schema import OBSERVATIONS, TABLES, Table
from fairban.errors import ErrorList, InputError
from fairban.progress import SILENT, Advance, Progress


def iter_batches(
    data_dir: Path,
    table: str,
    *,
    columns: Sequence[str] | None = None,
    batch_rows: int = 1_000_000,
    progress: Progress = SILENT,
) -> Iterator[pa.RecordBatch]:
    """Stream one table as validated batches of at most ``batch_rows`` rows.

    Batches have the canonical schema (``schema.Table.arrow_schema``) of ``columns``
    (default: every contract column, in contract order): absent optional columns are
    nulls, extra columns are dropped, ``accounts.kind`` defaults to ``personal`` and
    IP-only observations carry the position placed from their address (null lat and
    lon where it cannot be placed: IPv6, private or reserved ranges). Only the
    columns read are checked (plus those their checks need); cross-row checks, such as
    unique account ids, are ``validate_evidence``'s. Raises ``InputError`` at the first
    bad row, before yielding the batch that holds it. Yields nothing for an optional
    table that is absent. ``ValueError`` for a table or column the contract lacks.
    """
    spec = _table(table)
    names = tuple(columns) if columns is not None else spec.names
    for name in names:
        if not spec.has(name):
            raise ValueError(f"table {table!r} has no column {name!r}")
    read = _with_dependencies(spec, names)
    problem = _folder_problem(data_dir)
    if problem is not None:
        raise problem
    files = _find_table(data_dir, spec)
    if files is None:
        return
    with progress.stage(f"Reading {table}", total=_work(files)) as advance:
        for scanned in _scan(files, spec, read, batch_rows, advance, None):
            batch = scanned.batch
            yield batch if read == names else batch.select(list(names))


def _table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"no contract table {name!r} (known: {', '.join(TABLES)})") from None


def _with_dependencies(table: Table, names: tuple[str, ...]) -> tuple[str, ...]:
    wanted = set(names)
    if table is OBSERVATIONS and wanted & set(_PLACED):
        wanted |= set(_PLACEMENT_INPUTS)
    return tuple(n for n in table.names if n in wanted) if wanted != set(names) else names


def _work(files: TableFiles) -> float:
    """How much work a table is, in the unit its reader advances: bytes or rows."""
    if files.format == "csv":
        return float(sum(p.stat().st_size for p in files.paths))
    total = 0
    for path in files.paths:
        # an unreadable file is reported, with its name, when the reader gets there
        with contextlib.suppress(pa.ArrowException, OSError):
            total += pq.read_metadata(path).num_rows
    return float(total)


@dataclass(frozen=True)
class _Scanned:
    batch: pa.RecordBatch
    raw: _Raw
    placement: _Placement


def _scan(
    files: TableFiles,
    table: Table,
    read: tuple[str, ...],
    batch_rows: int,
    advance: Advance,
    errors: ErrorList | None,
) -> Iterator[_Scanned]:
    """Canonical batches of every file of a table.

    With ``errors`` None the first problem raises; otherwise problems are collected, a
    file-level problem (missing column, malformed CSV) ends that file only, and batches
    still come (values that could not be read are nulls) so statistics can go on.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    for path in files.paths:
        reader = _read_csv if files.format == "csv" else _read_parquet
        try:
            for raw in reader(files, path, table, read, batch_rows, advance):
                batch, problems, placement = _canonical(table, raw, read)
                room = 1 if errors is None else max(errors.limit - len(errors.kept), 0)
                found, total = _resolve(problems, room)
                if total and errors is None:
                    row, what = found[0]
                    raise InputError(f"{raw.where} row {raw.first_row + row}", what)
                if total and errors is not None:
                    for row, what in found:
                        errors.add(InputError(f"{raw.where} row {raw.first_row + row}", what))
                    errors.total += total - len(found)
                yield _Scanned(batch, raw, placement)
        except InputError as error:
            if errors is None:
                raise
            errors.add(error)
