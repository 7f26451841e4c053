"""Evidence stores for tests: a simulated world's evidence cut into deliveries."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb


def split(world: Path, out: Path, where: str) -> Path:
    """An evidence folder holding the world's observations and interactions for which
    the SQL condition ``where`` holds (on ``ts``), and all its accounts and
    confirmations, as one delivery."""
    out.mkdir(parents=True)
    con = duckdb.connect()
    src = world / "evidence"
    for table in ("observations", "interactions"):
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{src}/{table}/**/*.parquet', "
            f"hive_partitioning = false) WHERE {where}) TO '{out}/{table}.parquet' "
            "(FORMAT parquet)"
        )
    for name in ("accounts.parquet", "confirmed.parquet"):
        shutil.copy(src / name, out / name)
    con.close()
    return out


def up_to(world: Path, out: Path, end: datetime) -> Path:
    """The delivery of everything up to ``end`` (inclusive)."""
    return split(world, out, f"ts <= TIMESTAMPTZ '{end.isoformat()}'")


def the_day_before(world: Path, out: Path, end: datetime) -> Path:
    """The delivery of the 24 hours ending at ``end`` (a store day when ``end`` is a
    Beijing midnight)."""
    start = end - timedelta(days=1)
    return split(
        world,
        out,
        f"ts > TIMESTAMPTZ '{start.isoformat()}' AND ts <= TIMESTAMPTZ '{end.isoformat()}'",
    )
