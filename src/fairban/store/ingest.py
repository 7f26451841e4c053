"""``fairban ingest``: an evidence folder checked against the contract and added to the
store, day by day, with the day's rollups.

- **Checked first, whole.** The folder is checked as ``fairban target`` checks it (one
  aggregate scan per table where its format allows, the row-precise validator
  otherwise); any error refuses the whole folder with one line, and nothing in the
  store changes. Rows dated after the ingest's clock are refused the same way.
- **By their own timestamps.** Each row goes to the store day of its ``ts``
  (``store/days.py``), whatever day the folder was delivered: a late delivery lands
  on the right days.
- **Never doubled.** A day the store already holds is merged with the new rows as a
  multiset union: a row already there is not added again (re-ingesting a folder, or
  a day delivered twice, changes nothing), a new row is added; a delivery's own
  duplicate rows stay, as ``fairban target --data`` would count them.
- **Atomic.** New files take the next generation and the manifest is replaced in one
  rename (``store/layout.py``): the store is either as before or has every day of the
  folder. A changed day's directive-dependent rollups are made again when a directive
  is next judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fairban.contract import TABLES
from fairban.errors import InputError
from fairban.progress import SILENT, Progress
from fairban.store import rollups
from fairban.store.days import STORE_DAY, span
from fairban.store.layout import Change, Store
from fairban.store.parquet import day_chunks, read, write_by_day
from fairban.targeting.backends.duckdb import DuckDBBackend
from fairban.targeting.run import check_evidence, unplaced_line

#: rows may be stamped this far after the ingest's clock (clocks of platforms drift)
CLOCK_SKEW = timedelta(minutes=5)
#: the raw tables kept per day, and the rollups made of each day
RAW = ("observations", "interactions")


@dataclass
class IngestReport:
    """What one ingest did: days new, changed (merged with new rows) and unchanged;
    rows read per table; observations kept unplaced (an IP address no shipped
    database places); the store's size afterwards."""

    folder: Path
    days_new: list[date] = field(default_factory=list)
    days_changed: list[date] = field(default_factory=list)
    days_unchanged: list[date] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    rows_added: dict[str, int] = field(default_factory=dict)
    unplaced: dict[str, int] = field(default_factory=dict)
    accounts: int = 0
    store_bytes: int = 0
    store_observations: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.days_new or self.days_changed or self.accounts)

    @property
    def bytes_per_observation(self) -> float:
        return self.store_bytes / self.store_observations if self.store_observations else 0.0

    def render(self) -> str:
        span = sorted([*self.days_new, *self.days_changed, *self.days_unchanged])
        lines = [f"Ingested {self.folder}"]
        if span:
            lines.append(
                f"  days {span[0]} .. {span[-1]}: {len(self.days_new)} new, "
                f"{len(self.days_changed)} with new rows, "
                f"{len(self.days_unchanged)} unchanged"
            )
        lines.append(
            "  rows "
            + ", ".join(
                f"{t} {self.rows.get(t, 0):,} ({self.rows_added.get(t, 0):,} new)" for t in RAW
            )
        )
        if self.unplaced:
            lines.append("  " + unplaced_line(self.unplaced))
        lines.append(
            f"  store: {self.store_bytes / 2**20:,.1f} MiB, {self.store_observations:,} "
            f"observations, {self.bytes_per_observation:.1f} bytes per observation"
        )
        return "\n".join(lines)


def ingest(
    store: Store,
    folder: Path,
    *,
    now: datetime | None = None,
    memory_limit: str | None = None,
    progress: Progress = SILENT,
) -> IngestReport:
    """Add ``folder`` to ``store`` (module docstring). ``InputError`` for evidence that
    breaks the contract or is dated after ``now`` (+ 5 minutes); nothing changes then."""
    clock = now or datetime.now(UTC)
    report = IngestReport(folder)
    db = DuckDBBackend(memory_limit=memory_limit)
    try:
        checked = check_evidence(folder, backend=db, progress=progress)
        report.unplaced = dict(checked.ip_unplaced)
        db.open_evidence(folder)  # the views the days are read from (the check may not open them)
        _refuse_the_future(db, clock)
        con = db.con
        for table in RAW:
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            report.rows[table] = int(row[0]) if row else 0
        with store.change() as change:
            _days(db, store, change, report, progress)
            report.accounts = _accounts(db, store, change)
            confirmed = _confirmed(db, store, change)
            if not (report.changed or confirmed):
                change.abandon()  # the same evidence again: the store stays as it is
            change.manifest.deliveries[str(folder.resolve())] = {
                "ingested_at": clock.astimezone(UTC).isoformat(),
                "days": [d.isoformat() for d in sorted([*report.days_new, *report.days_changed])],
                "rows": report.rows,
            }
        store.reload()
        report.store_bytes = store.size_bytes()
        report.store_observations = sum(
            r.get("observations", 0) for r in store.manifest.rows.values()
        )
    finally:
        db.close()
    return report


def _refuse_the_future(db: DuckDBBackend, clock: datetime) -> None:
    limit = (clock + CLOCK_SKEW).astimezone(UTC)
    for table in RAW:
        row = db.con.execute(
            f"SELECT count(*), max(ts) FROM {table} WHERE ts > ?", [limit]
        ).fetchone()
        if row and row[0]:
            latest = row[1].astimezone(UTC).isoformat().replace("+00:00", "Z")
            raise InputError(
                table,
                f"{row[0]:,} rows are dated after the ingest's clock "
                f"({limit.isoformat().replace('+00:00', 'Z')}), the latest at {latest}: "
                "evidence from the future is refused (check the platform's clock)",
            )


def _days(
    db: DuckDBBackend, store: Store, change: Change, report: IngestReport, progress: Progress
) -> None:
    """Every day the folder holds: new days in one pass per table, days the store
    already holds merged one by one."""
    con = db.con
    counts: dict[date, dict[str, int]] = {}
    for table in RAW:
        for day, n in con.execute(
            f"SELECT {STORE_DAY} AS d, count(*) FROM {table} GROUP BY d"
        ).fetchall():
            counts.setdefault(day, dict.fromkeys(RAW, 0))[table] = int(n)
    held = {d for d in counts if d.isoformat() in store.manifest.rows}
    fresh = sorted(set(counts) - held)
    with progress.stage("Adding the days", total=len(counts)) as advance:
        if fresh:
            _fresh_days(db, change, fresh, counts)
            for day in fresh:
                report.days_new.append(day)
                for table in RAW:
                    report.rows_added[table] = report.rows_added.get(table, 0) + counts[day][table]
            advance(len(fresh))
        for day in sorted(held):
            _merge_day(db, store, change, report, day)
            advance(1)


def _fresh_days(
    db: DuckDBBackend, change: Change, days: list[date], counts: dict[date, dict[str, int]]
) -> None:
    """Days new to the store: each raw table and rollup written one file per day, in
    chunks of consecutive days (``day_chunks``), each chunk read through a time range
    that lets the reader skip the other days' row groups."""
    rows = {d: sum(counts[d].values()) for d in days}
    for n, chunk in enumerate(day_chunks(days, rows)):
        keep = ", ".join(f"DATE '{d.isoformat()}'" for d in chunk)
        with_day = {
            t: f"(SELECT *, {STORE_DAY} AS store_day FROM {t} WHERE {span(chunk).where()}) "
            f"WHERE store_day IN ({keep})"
            for t in RAW
        }
        sources = {
            "observations": f"SELECT * FROM {with_day['observations']}",
            "interactions": f"SELECT * FROM {with_day['interactions']}",
            "pairs": rollups.pairs_sql(
                f"(SELECT * FROM {with_day['interactions']})", by="store_day"
            ),
            "money": rollups.money_sql(
                f"(SELECT * FROM {with_day['interactions']})", by="store_day"
            ),
            "devices": rollups.devices_sql(
                f"(SELECT * FROM {with_day['observations']})", by="store_day"
            ),
        }
        for table, sql in sources.items():
            written = write_by_day(db.con, sql, change.staging(f"{table}/c{n}"), chunk)
            for day, path in written.items():
                change.manifest.files.setdefault(table, {})[day.isoformat()] = change.put_day(
                    table, day, path
                )
    for day in days:
        change.manifest.days[day.isoformat()] = change.generation
        change.manifest.rows[day.isoformat()] = counts[day]


def _merge_day(
    db: DuckDBBackend, store: Store, change: Change, report: IngestReport, day: date
) -> None:
    """Merge the folder's rows of a day the store holds, and roll the day up again."""
    con = db.con
    key = day.isoformat()
    old = store.manifest.rows.get(key, {})
    counts: dict[str, int] = {}
    added: dict[str, int] = {}
    for table in RAW:
        columns = ", ".join(TABLES[table].names)
        fresh = f"(SELECT {columns} FROM {table} WHERE {STORE_DAY} = DATE '{key}')"
        stored = f"(SELECT {columns} FROM {read(store.day_files(table, [day]))})"
        # a multiset union: what is stored, and what the new rows add to it
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE day_{table} AS SELECT * FROM {stored} "
            f"UNION ALL (SELECT * FROM {fresh} EXCEPT ALL SELECT * FROM {stored})"
        )
        row = con.execute(f"SELECT count(*) FROM day_{table}").fetchone()
        counts[table] = int(row[0]) if row else 0
        added[table] = counts[table] - old.get(table, 0)
        report.rows_added[table] = report.rows_added.get(table, 0) + added[table]
    if not any(added.values()):
        report.days_unchanged.append(day)
        return
    report.days_changed.append(day)
    folder = change.staging(f"day={key}")
    sources = {
        "observations": "SELECT * FROM day_observations",
        "interactions": "SELECT * FROM day_interactions",
        "pairs": rollups.pairs_sql("day_interactions"),
        "money": rollups.money_sql("day_interactions"),
        "devices": rollups.devices_sql("day_observations"),
    }
    for table, sql in sources.items():
        path = folder / f"{table}.parquet"
        con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
        change.manifest.files.setdefault(table, {})[key] = change.put_day(table, day, path)
    change.manifest.days[key] = change.generation
    change.manifest.rows[key] = counts


def _accounts(db: DuckDBBackend, store: Store, change: Change) -> int:
    """Every account delivered so far: the newest delivery's row wins. Returns how many
    accounts are new or changed."""
    con = db.con
    columns = ", ".join(TABLES["accounts"].names)
    old = store.whole_file("accounts")
    if old is None:
        merged = f"SELECT {columns} FROM accounts"
        changed_sql = "SELECT count(*) FROM accounts"
    else:
        stored = f"(SELECT {columns} FROM {read([old])})"
        merged = (
            f"SELECT {columns} FROM accounts UNION ALL "
            f"SELECT * FROM {stored} WHERE account_id NOT IN (SELECT account_id FROM accounts)"
        )
        changed_sql = (
            f"SELECT count(*) FROM (SELECT {columns} FROM accounts EXCEPT SELECT * FROM {stored})"
        )
    row = con.execute(changed_sql).fetchone()
    changed = int(row[0]) if row else 0
    if changed:
        path = change.staging("accounts") / "accounts.parquet"
        con.execute(f"COPY ({merged} ORDER BY account_id) TO '{path}' (FORMAT parquet)")
        change.put_whole("accounts", path)
    return changed


def _confirmed(db: DuckDBBackend, store: Store, change: Change) -> bool:
    con = db.con
    columns = ", ".join(TABLES["confirmed"].names)
    old = store.whole_file("confirmed")
    fresh = f"(SELECT {columns} FROM confirmed)"
    if old is None:
        merged = f"SELECT * FROM {fresh}"
    else:
        stored = f"(SELECT {columns} FROM {read([old])})"
        added = f"(SELECT * FROM {fresh} EXCEPT ALL SELECT * FROM {stored})"
        merged = f"SELECT * FROM {stored} UNION ALL {added}"
        row = con.execute(
            f"SELECT count(*) FROM ({fresh} EXCEPT ALL SELECT * FROM {stored})"
        ).fetchone()
        if not row or not row[0]:
            return False
    path = change.staging("confirmed") / "confirmed.parquet"
    con.execute(f"COPY ({merged}) TO '{path}' (FORMAT parquet)")
    change.put_whole("confirmed", path)
    return True
