"""Validating a whole folder into a report: the row checks of every table, the
cross-row checks (unique account ids), and the statistics the summary prints."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fairban.contract.evidence.discovery import _discover
from fairban.contract.evidence.slices import _mask, _Raw
from fairban.contract.evidence.streaming import _scan, _work
from fairban.contract.schema import STRING, TABLES
from fairban.errors import ErrorList, InputError
from fairban.progress import SILENT, Progress


@dataclass
class TableSummary:
    """What was read of one table."""

    name: str
    format: str
    files: int
    rows: int


@dataclass
class ValidationReport:
    """The outcome of ``validate_evidence``: statistics, and every problem found.

    ``ip_placed`` counts IP-only observations placed from their address,
    ``ip_unplaced`` those kept without a position, by why (``geo.iplocate.Unplaced``'s
    words: IPv6, private or reserved, unknown range). ``unknown_accounts`` counts
    distinct observation account ids absent from ``accounts``: a warning, not an error.
    """

    tables: dict[str, TableSummary] = field(default_factory=dict)
    ts_min: datetime | None = None
    ts_max: datetime | None = None
    platforms: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    interaction_kinds: dict[str, int] = field(default_factory=dict)
    ip_placed: int = 0
    ip_unplaced: dict[str, int] = field(default_factory=dict)
    errors: ErrorList = field(default_factory=ErrorList)
    unknown_accounts: int = 0

    @property
    def ok(self) -> bool:
        """True when the evidence holds no error (warnings do not count)."""
        return not self.errors


def validate_evidence(
    data_dir: Path,
    *,
    progress: Progress = SILENT,
    max_errors: int = 20,
    batch_rows: int = 1_000_000,
    tables: Collection[str] | None = None,
) -> ValidationReport:
    """Check a whole evidence folder, streaming, and report on it.

    Keeps the first ``max_errors`` errors in the order found (tables in contract order,
    rows in file order, duplicate account ids right after ``accounts``) and counts the
    rest. Beyond ``iter_batches``' checks: account_id must be unique in ``accounts``.
    With ``tables``, only those tables' rows are read (the folder's layout is still
    checked whole; ``unknown_accounts`` needs both accounts and observations).
    Never raises ``InputError``: every problem is in ``report.errors``.
    """
    report = ValidationReport(errors=ErrorList(limit=max_errors))
    found = _discover(data_dir, report.errors)
    if tables is not None:
        found = {name: files for name, files in found.items() if name in tables}
    accounts = _AccountIds()
    observed = _DistinctIds()
    stats = _Stats()
    for name, files in found.items():
        table = TABLES[name]
        summary = TableSummary(name, files.format, len(files.paths), 0)
        report.tables[name] = summary
        with progress.stage(f"Validating {name}", total=_work(files)) as advance:
            for scanned in _scan(files, table, table.names, batch_rows, advance, report.errors):
                batch = scanned.batch
                summary.rows += batch.num_rows
                report.ip_placed += scanned.placement.placed
                for why, rows in scanned.placement.unplaced.items():
                    report.ip_unplaced[why] = report.ip_unplaced.get(why, 0) + rows
                if name == "accounts":
                    accounts.add(batch.column("account_id"), scanned.raw)
                    stats.count(report.platforms, batch.column("platform"))
                elif name == "observations":
                    observed.add(batch.column("account_id"))
                    stats.count(report.sources, batch.column("source"))
                    stats.span(batch.column("ts"))
                elif name == "interactions":
                    stats.count(report.interaction_kinds, batch.column("kind"))
                    stats.span(batch.column("ts"))
        if name == "accounts":
            accounts.report_duplicates(report.errors)
    report.ts_min, report.ts_max = stats.ts_min, stats.ts_max
    if "accounts" in found and "observations" in found:
        report.unknown_accounts = observed.count_outside(accounts.unique())
    return report


class _Stats:
    """Running counts and the time span, batch by batch."""

    def __init__(self) -> None:
        self.ts_min: datetime | None = None
        self.ts_max: datetime | None = None

    def count(self, into: dict[str, int], values: pa.Array[Any]) -> None:
        counts = pc.value_counts(values.drop_null())
        for value, number in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        ):
            into[str(value)] = into.get(str(value), 0) + int(number or 0)

    def span(self, ts: pa.Array[Any]) -> None:
        low, high = pc.min_max(ts).values()
        if low.is_valid:
            low_dt, high_dt = low.as_py(), high.as_py()
            self.ts_min = low_dt if self.ts_min is None else min(self.ts_min, low_dt)
            self.ts_max = high_dt if self.ts_max is None else max(self.ts_max, high_dt)


class _AccountIds:
    """account_id of every accounts row with where it was, to find duplicates at the end.

    Holds one string column of ``accounts`` (small next to observations) plus 8 bytes
    a row; duplicates are found with a hash aggregation, not a Python loop.
    """

    def __init__(self) -> None:
        self._ids: list[pa.Array[Any]] = []
        self._rows: list[npt.NDArray[np.int64]] = []  # global ordinal of each kept id
        self._slices: list[tuple[int, str, int]] = []  # (first ordinal, file, first row)
        self._next = 0

    def add(self, ids: pa.Array[Any], raw: _Raw) -> None:
        valid = _mask(ids.is_valid())
        self._ids.append(ids.drop_null())
        self._rows.append(self._next + np.flatnonzero(valid))
        self._slices.append((self._next, raw.where, raw.first_row))
        self._next += len(ids)

    def _table(self) -> pa.Table:
        ordinals = np.concatenate(self._rows) if self._rows else np.zeros(0, np.int64)
        ids = pa.chunked_array(self._ids, STRING)
        return pa.table({"id": ids, "ordinal": pa.array(ordinals, pa.int64())})

    def unique(self) -> pa.Array[Any]:
        return _unique(self._ids)

    def _where(self, ordinal: int) -> tuple[str, int]:
        starts = [start for start, _, _ in self._slices]
        index = int(np.searchsorted(starts, ordinal, side="right")) - 1
        start, where, first_row = self._slices[index]
        return where, first_row + ordinal - start

    def report_duplicates(self, errors: ErrorList) -> None:
        table = self._table()
        if not len(table):
            return
        groups = table.group_by("id").aggregate([("ordinal", "min"), ("ordinal", "count")])
        repeated = groups.filter(pc.greater(groups["ordinal_count"], pa.scalar(1, pa.int64())))
        if not len(repeated):
            return
        later = pc.and_(
            pc.is_in(table["id"], value_set=repeated["id"]),
            pc.invert(pc.is_in(table["ordinal"], value_set=repeated["ordinal_min"])),
        )
        hits = np.flatnonzero(later.to_numpy())
        room = max(errors.limit - len(errors.kept), 0)
        firsts = dict(
            zip(repeated["id"].to_pylist(), repeated["ordinal_min"].to_pylist(), strict=True)
        )
        ids, ordinals = table["id"], table["ordinal"]
        for hit in hits[:room]:
            account = ids[int(hit)].as_py()
            where, row = self._where(int(ordinals[int(hit)].as_py()))
            first_where, first_row = self._where(int(firsts[account] or 0))
            first = f"row {first_row}" if first_where == where else f"{first_where} row {first_row}"
            errors.add(InputError(f"{where} row {row}", f"account_id {account!r} repeats {first}"))
        errors.total += len(hits) - min(len(hits), room)


class _DistinctIds:
    """Distinct ids seen across batches, compacted as they grow (bounded by distinct ids)."""

    def __init__(self) -> None:
        self._chunks: list[pa.Array[Any]] = []
        self._size = 0
        self._compacted = 0

    def add(self, ids: pa.Array[Any]) -> None:
        unique = ids.drop_null().unique()
        self._chunks.append(unique)
        self._size += len(unique)
        # merge once the chunks hold twice the distinct ids: memory stays within ~3x those
        if self._size > 2 * max(self._compacted, 1 << 16):
            self._compact()

    def _compact(self) -> None:
        merged = _unique(self._chunks)
        self._chunks = [merged]
        self._size = self._compacted = len(merged)

    def count_outside(self, known: pa.Array[Any]) -> int:
        self._compact()
        seen = self._chunks[0]
        return int(len(seen) - np.count_nonzero(_mask(pc.is_in(seen, value_set=known))))


def _unique(chunks: list[pa.Array[Any]]) -> pa.Array[Any]:
    return pa.chunked_array(chunks, STRING).combine_chunks().unique()
