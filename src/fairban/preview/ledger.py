"""The ledger: one row per account the report talks about, with fairban's decision,
the naive rule's verdict and where the account lives.

Rows are every account of the evidence on the directive's platforms plus any account
the decisions name that the evidence lacks. All the report's numbers are counts over
this table, so they add up by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fairban.contract import Directive, iter_batches
from fairban.geo.china import ChinaAdmin
from fairban.preview.decisions import checked_decisions
from fairban.preview.naive import NEVER, SOURCE_BITS, NaiveHits
from fairban.preview.scan import Scan, estimate_homes, scan_observations
from fairban.progress import SILENT, Progress

_BLANK = pa.scalar("", pa.string())


@dataclass(frozen=True)
class Ledger:
    """``table`` columns: account_id, platform, person_id, person (person_id, or the
    account itself when unknown), decided (has a decisions row), measure, risk,
    strength, reasons, home_lon, home_lat, home_gb, home_from ('engine', 'evidence' or
    ''), naive_touches, naive_sources (bit mask of ``SOURCE_BITS``), naive_first (UTC)."""

    table: pa.Table
    accounts_in_scope: int
    scan: Scan


def build_ledger(
    directive: Directive,
    data_dir: Path,
    decisions: pa.Table,
    *,
    progress: Progress = SILENT,
) -> Ledger:
    """Check ``decisions``, run the naive rule over the evidence, place homes."""
    decided = checked_decisions(decisions)
    accounts = _accounts(data_dir, progress)
    in_scope = pc.is_in(accounts.column("platform"), value_set=pa.array(directive.platforms))
    scoped = accounts.filter(in_scope)
    extra = decided.filter(
        pc.invert(pc.is_in(decided.column("account_id"), value_set=scoped.column("account_id")))
    )
    ids = pa.concat_arrays(
        [
            scoped.column("account_id").combine_chunks(),
            extra.column("account_id").combine_chunks(),
        ]
    )
    row = pc.index_in(ids, value_set=decided.column("account_id"))
    has_row = row.is_valid().to_numpy(zero_copy_only=False)
    take = pa.array(row.fill_null(0).to_numpy(zero_copy_only=False))

    def from_decisions(name: str, fallback: pa.Array[Any]) -> pa.Array[Any]:
        values = decided.column(name).take(take).combine_chunks() if len(decided) else fallback
        chosen: pa.Array[Any] = pc.if_else(pa.array(has_row), values, fallback)
        return chosen

    blank = pa.array([""] * len(ids))
    platform = pa.concat_arrays(
        [scoped.column("platform").combine_chunks(), extra.column("platform").combine_chunks()]
    )
    evidence_person = pa.concat_arrays(
        [
            scoped.column("person_id").combine_chunks().fill_null(""),
            extra.column("person_id").combine_chunks(),
        ]
    )
    # the engine's person_id where it gives one, else the evidence's
    engine_person = from_decisions("person_id", blank)
    person_id = pc.if_else(pc.equal(engine_person, _BLANK), evidence_person, engine_person)
    engine_lat = _floats(from_decisions("home_lat", pa.nulls(len(ids), pa.float64())))
    engine_lon = _floats(from_decisions("home_lon", pa.nulls(len(ids), pa.float64())))
    engine_gb = from_decisions("home_gb", blank).to_numpy(zero_copy_only=False).astype(str)
    engine_home = has_row & ((engine_gb != "") | np.isfinite(engine_lat))

    scan = scan_observations(data_dir, directive, ids, progress=progress)
    # a home is needed for every account the report counts by place: decided or hit
    needs_home = ~engine_home & (has_row | scan.naive.hit)
    wanted = np.flatnonzero(needs_home)
    lon, lat = estimate_homes(data_dir, directive, ids.take(wanted), progress=progress)
    home_lat = np.where(engine_home, engine_lat, np.nan)
    home_lon = np.where(engine_home, engine_lon, np.nan)
    home_lat[wanted], home_lon[wanted] = lat, lon
    found = ~engine_home & np.isfinite(home_lat)
    home_gb = np.where(engine_home, engine_gb, "").astype("<U6")
    if found.any():
        home_gb[found] = ChinaAdmin.default().locate(home_lon[found], home_lat[found], "city")
    home_from = np.where(engine_home, "engine", np.where(found, "evidence", ""))
    account_person = pc.utf8_replace_slice(ids, start=0, stop=0, replacement="account:")
    naive = scan.naive
    never = naive.first_us == NEVER
    table = pa.table(
        {
            "account_id": ids,
            "platform": from_decisions("platform", platform),
            "person_id": person_id,
            # an account with no known person counts as a person of its own
            "person": pc.if_else(pc.equal(person_id, _BLANK), account_person, person_id),
            "decided": pa.array(has_row),
            "measure": from_decisions("measure", pa.array(["none"] * len(ids))),
            "risk": from_decisions("risk", pa.nulls(len(ids), pa.float64())),
            "strength": from_decisions("strength", blank),
            "reasons": from_decisions("reasons", blank),
            "home_lon": pa.array(home_lon, pa.float64(), mask=~np.isfinite(home_lon)),
            "home_lat": pa.array(home_lat, pa.float64(), mask=~np.isfinite(home_lat)),
            "home_gb": pa.array(home_gb.tolist(), pa.string()),
            "home_from": pa.array(home_from.tolist(), pa.string()),
            "naive_touches": pa.array(naive.touches),
            "naive_sources": pa.array(naive.sources),
            "naive_first": pa.array(naive.first_us, pa.int64(), mask=never).cast(
                pa.timestamp("us", tz="UTC")
            ),
        }
    )
    return Ledger(table, len(scoped), scan)


#: the ledger's columns a new set of thresholds changes (the rest is the evidence's)
SCORED = ("measure", "risk", "strength", "reasons")


def save_ledger(ledger: Ledger, folder: Path) -> None:
    """Keep a ledger (its table and its scan's counts) for ``load_ledger``."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / ".ledger.parquet.partial"
    pq.write_table(ledger.table, partial)
    scan = ledger.scan
    meta = {
        "accounts_in_scope": ledger.accounts_in_scope,
        "observations": scan.observations,
        "in_window": scan.in_window,
        "touching": scan.touching,
    }
    (folder / "ledger.json").write_text(json.dumps(meta), encoding="utf-8")
    partial.replace(folder / "ledger.parquet")


def load_ledger(folder: Path) -> Ledger:
    """A ledger ``save_ledger`` kept; ``FileNotFoundError`` when there is none."""
    table = pq.read_table(folder / "ledger.parquet")
    meta = json.loads((folder / "ledger.json").read_text(encoding="utf-8"))
    naive = NaiveHits(table.num_rows)
    naive.touches = table.column("naive_touches").to_numpy(zero_copy_only=False).astype(np.int64)
    naive.sources = table.column("naive_sources").to_numpy(zero_copy_only=False).astype(np.uint8)
    first = table.column("naive_first").cast(pa.int64()).to_pylist()
    naive.first_us = np.array([NEVER if v is None else v for v in first], dtype=np.int64)
    scan = Scan(naive, meta["observations"], meta["in_window"], meta["touching"])
    return Ledger(table, int(meta["accounts_in_scope"]), scan)


def with_decisions(ledger: Ledger, decisions: pa.Table) -> Ledger:
    """The ledger under new decisions of the same accounts (a what-if: other thresholds
    over the same evidence): measure, risk, strength and reasons replaced."""
    decided = checked_decisions(decisions)
    table = ledger.table
    row = pc.index_in(table.column("account_id"), value_set=decided.column("account_id"))
    if not pc.all(pc.equal(row.is_valid(), table.column("decided"))).as_py():
        raise ValueError("the new decisions are not of the ledger's accounts")
    take = row.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    for name in SCORED:
        fresh = decided.column(name).take(take)
        chosen = pc.if_else(table.column("decided"), fresh, table.column(name))
        table = table.set_column(table.column_names.index(name), name, chosen)
    return Ledger(table, ledger.accounts_in_scope, ledger.scan)


def _accounts(data_dir: Path, progress: Progress) -> pa.Table:
    batches = list(
        iter_batches(
            data_dir, "accounts", columns=["account_id", "platform", "person_id"], progress=progress
        )
    )
    if not batches:
        schema = pa.schema(
            [("account_id", pa.string()), ("platform", pa.string()), ("person_id", pa.string())]
        )
        return schema.empty_table()
    return pa.Table.from_batches(batches)


def _floats(values: pa.Array[Any]) -> npt.NDArray[np.float64]:
    result: npt.NDArray[np.float64] = values.to_numpy(zero_copy_only=False).astype(np.float64)
    return result


def source_names(bits: int) -> str:
    """'gps;cell' for a mask of ``SOURCE_BITS``."""
    return ";".join(name for name, bit in SOURCE_BITS.items() if bits & bit)
