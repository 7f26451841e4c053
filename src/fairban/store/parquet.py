"""Writing the store's Parquet files with DuckDB: one file per store day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb


def file_list(paths: list[Path]) -> str:
    """A DuckDB list literal of file paths."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def read(paths: list[Path]) -> str:
    """DuckDB's reader of these store files (the store's ``day=`` folders are no
    columns: each file already is one day)."""
    return f"read_parquet({file_list(paths)}, hive_partitioning = false)"


#: rows a chunk of days is written from at most (``day_chunks``): DuckDB's partitioned
#: writes and the rollups' GROUP BYs over one chunk stay inside its memory limit, where
#: 180 days at 10^8 observations spilled (pairs 158 s for 1.5 s at 10^7)
CHUNK_ROWS = 8_000_000


def day_chunks(
    days: list[date], rows: dict[date, int], limit: int | None = None
) -> list[list[date]]:
    """``days`` cut into runs of consecutive days of at most ``limit`` rows each
    (``CHUNK_ROWS`` by default; a day with more is a run of its own)."""
    limit = CHUNK_ROWS if limit is None else limit
    out: list[list[date]] = []
    held = 0
    for day in sorted(days):
        n = rows.get(day, 0)
        if out and held + n <= limit and (day - out[-1][-1]).days == 1:
            out[-1].append(day)
            held += n
        else:
            out.append([day])
            held = n
    return out


def write_by_day(
    con: duckdb.DuckDBPyConnection, sql: str, folder: Path, days: list[date]
) -> dict[date, Path]:
    """Write ``sql``'s rows (which carry a ``store_day`` column, left out of the files)
    as one Parquet file per day of ``days``; a day without rows gets an empty file of
    the same columns, so that every day of the store has every table."""
    con.execute(
        f"COPY ({sql}) TO '{folder}' "
        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (store_day), OVERWRITE_OR_IGNORE)"
    )
    written: dict[date, Path] = {}
    for part in sorted(folder.glob("store_day=*")):
        files = sorted(part.glob("*.parquet"))
        day = date.fromisoformat(part.name.split("=", 1)[1])
        if len(files) == 1:
            written[day] = files[0]
        elif files:  # DuckDB may write several files per partition: one per day here
            one = part / "day.parquet"
            con.execute(
                f"COPY (SELECT * FROM {read(files)}) TO '{one}' (FORMAT parquet, COMPRESSION zstd)"
            )
            written[day] = one
    for day in days:
        if day not in written:
            empty = folder / f"empty-{day.isoformat()}.parquet"
            con.execute(
                f"COPY (SELECT * EXCLUDE (store_day) FROM ({sql}) WHERE FALSE) TO '{empty}' "
                "(FORMAT parquet)"
            )
            written[day] = empty
    return {d: written[d] for d in days}
