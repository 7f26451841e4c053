"""Windows kept merged: the contact pairs of a judgement's whole days, combined once and
carried to the next day's window by the days that enter and leave it.

A daily judgement's window moves by one day: 179 of its 180 days are those of the day
before. Merging every day's pairs again (24 million pair-days into 6.3 million pairs at
10^8 observations, a grouping that spills past DuckDB's memory limit) was the largest
step of the daily judgement. The store keeps the merged table instead
(``windows/pairs/<first>_<last>/g<N>.parquet``, in the pairs rollup's own columns) with
the generation of each day it was made from, and the next window is made from it:

- a pair that none of the leaving or entering days holds keeps its row as it is;
- a pair that a leaving day holds is merged again from the window's days (its first
  contact may have been in the day that left: the minimum of what remains is not known
  from the merged row);
- a pair that only entering days hold is its merged row combined with those days' rows.

Every value is a minimum, a maximum or a sum of integers, so the result is the merge of
the window's days exactly (``tests/unit/store/test_windows.py`` checks it row for row,
day after day). A kept window whose days were replaced since (a late delivery) is not
carried: the window is merged again from its days. So is one that shares less than
three quarters of its days with the new window.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fairban.progress import SILENT, Progress
from fairban.store.layout import Change, Store
from fairban.store.parquet import read as _read
from fairban.targeting.backends.duckdb import DuckDBBackend

#: windows kept per table: the daily one, and room for a shadow version's or another
#: directive's lookback beside it
KEEP = 3
#: a kept window is carried forward when the days it does not share with the new one
#: (leaving and entering) are at most this share of the new window's days
CARRY_SHARE = 0.25

_SUMS = ("n_message", "n_call", "n_friend_add", "n_transfer", "n_payment")
_KEY = "a.src IS NOT DISTINCT FROM b.src AND a.dst IS NOT DISTINCT FROM b.dst"


def merge_sql(source: str) -> str:
    """``source``'s pair rows (the pairs rollup's columns) merged per (src, dst), in the
    same columns: what a window's days combine to."""
    sums = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in _SUMS)
    return f"""
SELECT src, dst, min(first_add) AS first_add, min(first_talk) AS first_talk,
       max(last_talk) AS last_talk, {sums}
FROM {source}
GROUP BY src, dst
"""


def carried_sql(base: Path, leaving: list[Path], entering: list[Path], days: list[Path]) -> str:
    """The window of ``days`` (their pairs files) from the kept window ``base``, which
    differs from it by the ``leaving`` days' files and the ``entering`` days' files."""
    left = (
        _read(leaving) if leaving else "(SELECT NULL::VARCHAR AS src, NULL::VARCHAR AS dst LIMIT 0)"
    )
    new = _read(entering) if entering else None
    entered_only = (
        f"""SELECT DISTINCT a.src, a.dst FROM {new} a
        ANTI JOIN touched_left b ON {_KEY}"""
        if new
        else "SELECT src, dst FROM touched_left LIMIT 0"
    )
    with_new = f"SELECT * FROM base UNION ALL SELECT * FROM {new}" if new else "SELECT * FROM base"
    return f"""
WITH base AS (SELECT * FROM {_read([base])}),
touched_left AS (SELECT DISTINCT src, dst FROM {left}),
touched_new AS ({entered_only}),
touched AS (SELECT * FROM touched_left UNION ALL SELECT * FROM touched_new),
kept AS (SELECT a.* FROM base a ANTI JOIN touched b ON {_KEY}),
again AS ({merge_sql(f"(SELECT a.* FROM {_read(days)} a SEMI JOIN touched_left b ON {_KEY})")}),
added AS ({merge_sql(f"(SELECT a.* FROM ({with_new}) a SEMI JOIN touched_new b ON {_KEY})")})
SELECT * FROM kept UNION ALL SELECT * FROM again UNION ALL SELECT * FROM added
"""


def pairs_window(
    store: Store,
    days: tuple[date, ...],
    *,
    memory_limit: str | None = None,
    progress: Progress = SILENT,
) -> Path | None:
    """The file of the pairs of ``days`` (store days the store holds, in order) merged
    into one table: a kept one if it is of these days' generations, else one made now
    (carried from a kept window where that is cheaper) and kept. None for no days."""
    if not days:
        return None
    with store.change() as change:
        manifest = change.manifest
        gens = {d.isoformat(): manifest.days[d.isoformat()] for d in days}
        name = f"pairs/{days[0].isoformat()}_{days[-1].isoformat()}"
        for entry in manifest.windows.values():
            if entry["table"] == "pairs" and entry["days"] == gens:
                change.abandon()
                return store.root / str(entry["file"])
        base = _base(change, gens)
        files = store.day_files("pairs", list(days))
        if not files:
            change.abandon()
            return None
        out = change.staging("window-pairs") / "pairs.parquet"
        db = DuckDBBackend(memory_limit=memory_limit)
        try:
            label = "Contact pairs of the window (kept, carried by the day)"
            if base is None:
                sql = merge_sql(_read(files))
                label = "Contact pairs of the window (merged, kept)"
            else:
                leaving = [d for d in base["days"] if d not in gens]
                entering = [d for d in gens if d not in base["days"]]
                sql = carried_sql(
                    store.root / base["file"],
                    store.day_files("pairs", [date.fromisoformat(d) for d in leaving]),
                    store.day_files("pairs", [date.fromisoformat(d) for d in entering]),
                    files,
                )
            with progress.stage(label, total=None):
                db.con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
        finally:
            db.close()
        stored = change.put_window("pairs", days[0], days[-1], out)
        manifest.windows[name] = {
            "table": "pairs",
            "days": gens,
            "file": stored,
            "made": change.generation,
        }
        _prune(change, "pairs")
        return store.root / stored


def _base(change: Change, gens: dict[str, int]) -> dict[str, Any] | None:
    """The kept pairs window to carry to ``gens``' days, or None to merge them anew: one
    whose every day still has the generation it was made from, closest to the new one."""
    best: tuple[int, dict[str, Any]] | None = None
    for entry in change.manifest.windows.values():
        if entry["table"] != "pairs":
            continue
        days: dict[str, int] = entry["days"]
        if any(change.manifest.days.get(d) != g for d, g in days.items()):
            continue  # a day replaced since (or gone): its rows in the window are stale
        differ = sum(1 for d in days if d not in gens) + sum(1 for d in gens if d not in days)
        if differ <= CARRY_SHARE * len(gens) and (best is None or differ < best[0]):
            best = (differ, entry)
    return None if best is None else best[1]


def _prune(change: Change, table: str) -> None:
    """Keep the ``KEEP`` most recently made windows of ``table``."""
    windows = change.manifest.windows
    mine = sorted((w["made"], k) for k, w in windows.items() if w["table"] == table)
    for _, key in mine[:-KEEP]:
        del windows[key]
