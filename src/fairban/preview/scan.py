"""Streaming passes over the observations: the naive rule's hits, then a home for the
accounts the report must place and the engine did not.

Two passes rather than one: the second reads only the accounts that need a home
(typically a few percent), so its memory follows them, not the whole population.
Memory is bounded by the batch (``iter_batches``) plus a few arrays per account.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fairban.contract import Directive, iter_batches
from fairban.preview.homes import NightHomes
from fairban.preview.naive import SOURCE_BITS, NaiveHits, PresenceRule
from fairban.progress import SILENT, Progress

_COLUMNS = ("account_id", "ts", "lat", "lon", "accuracy_m", "source")
_SOURCE_NAMES = pa.array(list(SOURCE_BITS))
_SOURCE_VALUES = np.array(list(SOURCE_BITS.values()), dtype=np.uint8)
_IP_BIT = SOURCE_BITS["ip"]


@dataclass
class Scan:
    """What the naive pass found, per account index of the ``account_ids`` it was given."""

    naive: NaiveHits
    observations: int = 0
    in_window: int = 0
    touching: int = 0


@dataclass(frozen=True)
class _Rows:
    """The rows of one batch that belong to known accounts and lie in the window."""

    account: npt.NDArray[np.int64]
    ts_us: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    accuracy_m: npt.NDArray[np.float64]
    source_bits: npt.NDArray[np.uint8]


def _rows(
    data_dir: Path,
    directive: Directive,
    account_ids: pa.Array[Any],
    batch_rows: int,
    progress: Progress,
    counts: list[int],
) -> Iterator[_Rows]:
    """Each batch's rows of ``account_ids`` in the window (account = index in
    ``account_ids``); ``counts`` gets [rows read, rows kept] added."""
    start_us = round(directive.window_start.timestamp() * 1_000_000)
    end_us = round(directive.window_end.timestamp() * 1_000_000)
    for batch in iter_batches(
        data_dir, "observations", columns=_COLUMNS, batch_rows=batch_rows, progress=progress
    ):
        counts[0] += batch.num_rows
        index = pc.index_in(batch.column("account_id"), value_set=account_ids)
        account = index.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        ts_us = batch.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
        # the window is (issued_at - lookback_days, issued_at]
        rows = np.flatnonzero((account >= 0) & (ts_us > start_us) & (ts_us <= end_us))
        if rows.size == 0:
            continue
        counts[1] += rows.size
        source = pc.index_in(batch.column("source"), value_set=_SOURCE_NAMES)
        yield _Rows(
            account=account[rows],
            ts_us=ts_us[rows],
            lon=_floats(batch, "lon")[rows],
            lat=_floats(batch, "lat")[rows],
            accuracy_m=_floats(batch, "accuracy_m")[rows],
            source_bits=_SOURCE_VALUES[source.fill_null(0).to_numpy(zero_copy_only=False)][rows],
        )


def scan_observations(
    data_dir: Path,
    directive: Directive,
    account_ids: pa.Array[Any],
    *,
    batch_rows: int = 1_000_000,
    progress: Progress = SILENT,
) -> Scan:
    """The naive rule over every observation of ``account_ids`` (the accounts in scope)
    in the directive's window; other rows are skipped."""
    rule = PresenceRule(directive.areas)
    naive = NaiveHits(len(account_ids))
    counts = [0, 0]
    touching = 0
    for rows in _rows(data_dir, directive, account_ids, batch_rows, progress, counts):
        hit = rule.touching(rows.lon, rows.lat, rows.accuracy_m)
        touching += int(hit.sum())
        naive.add(rows.account[hit], rows.source_bits[hit], rows.ts_us[hit])
    return Scan(naive, counts[0], counts[1], touching)


def estimate_homes(
    data_dir: Path,
    directive: Directive,
    account_ids: pa.Array[Any],
    *,
    batch_rows: int = 1_000_000,
    progress: Progress = SILENT,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Longitude and latitude of the home of each of ``account_ids`` (see ``homes``),
    NaN where the window holds nothing to place it by."""
    homes = NightHomes()
    if len(account_ids):
        for rows in _rows(data_dir, directive, account_ids, batch_rows, progress, [0, 0]):
            homes.add(
                rows.account,
                rows.lon,
                rows.lat,
                rows.accuracy_m,
                rows.source_bits == _IP_BIT,
                rows.ts_us,
            )
    return homes.homes(len(account_ids))


def _floats(batch: pa.RecordBatch, name: str) -> npt.NDArray[np.float64]:
    values: npt.NDArray[np.float64] = (
        batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    )
    return values
