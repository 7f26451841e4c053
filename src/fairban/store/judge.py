"""Judging a directive from the store: ``fairban target DIRECTIVE --store STORE``.

The window ``(as_of - lookback_days, as_of]`` is cut into store days
(``store/days.py``). The engine's feature steps then run as they do over an evidence
folder, except the four that read raw rows, which read the days' rollups instead
(``store/rollups.py``): ``contact_pairs``, ``win_money``, ``device_days`` and ``home``;
and the presence stage, whose rows (``near``) the store keeps per directive version. A
partial day at either end of the window is rolled up from its raw rows, cut at the
window's instants. Every rollup combines across days exactly, so the decisions are those
of ``fairban target --data`` over the same evidence and window (tests check it).

The rollups that depend on the directive's areas are made the first time a version is
judged, for every day of its window, and then once for each new or changed day. The
whole days' pairs are read merged, from a window the store keeps and carries from day
to day (``store/windows.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import shapely
from shapely.geometry import mapping

from fairban.contract import TABLES, Directive
from fairban.digests import canonical_json, sha256_hex
from fairban.geo.presence import AreaIndex
from fairban.progress import SILENT, Progress
from fairban.store import rollups, windows
from fairban.store.days import STORE_DAY, Cut, cut, day_end, span
from fairban.store.layout import Store, StoreError
from fairban.store.parquet import day_chunks, write_by_day
from fairban.store.rollups import SCHEMAS
from fairban.targeting import features as feature_sql
from fairban.targeting.backends.base import Backend
from fairban.targeting.backends.duckdb import DuckDBBackend
from fairban.targeting.engine import (
    NEAR_SCHEMA,
    PresenceProbability,
    TargetResult,
    _envelope,
    decide,
    keep_scored,
)
from fairban.targeting.scoring import Thresholds

#: the feature steps that read raw rows, and what the store gives them instead
REPLACED = ("contact_pairs", "win_money", "device_days", "home")


def areas_key(directive: Directive) -> str:
    """What a directive version's rollups depend on: its areas (names and shapes)."""
    doc = [{"name": a.name, "geometry": mapping(a.geometry)} for a in directive.areas]
    return sha256_hex(canonical_json(doc))[:16]


@dataclass(frozen=True)
class Judged:
    """A judgement from the store: the engine's result, its window, and what it read."""

    result: TargetResult
    as_of: datetime
    window: feature_sql.Window
    days: Cut
    rollups_made: int


def latest_evidence(store: Store) -> datetime | None:
    """The end of the store's last day (the default ``as_of``), or None when empty."""
    days = store.days()
    return day_end(days[-1]) if days else None


def judge(
    store: Store,
    directive: Directive,
    *,
    as_of: datetime | None = None,
    thresholds: Thresholds | None = None,
    memory_limit: str | None = None,
    backend: Backend | None = None,
    keep: Path | None = None,
    progress: Progress = SILENT,
) -> Judged:
    """The directive's decisions over ``(as_of - lookback_days, as_of]`` from the store
    (``as_of`` by default the end of its latest day). ``backend`` runs the features
    (DuckDB here by default, or Spark: it reads the same files); the directive
    version's rollups are made with DuckDB whichever runs them. With ``keep``, the
    feature tables scoring reads are written there (``targeting.engine.rescore`` tries
    other thresholds on them)."""
    end = as_of or latest_evidence(store)
    if end is None:
        raise StoreError(f"{store.root}: the store holds no evidence yet (`fairban ingest`)")
    if end.utcoffset() is None:
        raise StoreError("--as-of must carry a time-zone offset, e.g. 2019-10-15T00:00:00+08:00")
    window = feature_sql.Window(end - timedelta(days=directive.lookback_days), end)
    days = cut(window)
    held = {d.isoformat() for d in store.days()}
    present = tuple(d for d in days.days if d.isoformat() in held)
    key = areas_key(directive)
    index = AreaIndex([a.name for a in directive.areas], [a.geometry for a in directive.areas])
    prefilter = index.sql_prefilter()
    made = _ensure_rollups(store, directive, key, index, present, memory_limit, progress)
    whole = tuple(d for d in days.whole if d.isoformat() in held)
    kept_pairs = windows.pairs_window(store, whole, memory_limit=memory_limit, progress=progress)
    db = backend or DuckDBBackend(memory_limit=memory_limit)
    try:
        near = _open(db, store, key, window, days, present, prefilter, kept_pairs)
        merged = kept_pairs is not None and not any(d in present for d in days.partial)
        pipeline = _pipeline(window, directive.platforms, prefilter, merged=merged)
        result = decide(
            db,
            directive,
            pipeline,
            thresholds=thresholds,
            progress=progress,
            observations_near=near,
        )
        if keep is not None:
            keep_scored(db, result, keep)
    finally:
        if backend is None:
            db.close()
    return Judged(result, end, window, days, made)


def _pipeline(
    window: feature_sql.Window, platforms: tuple[str, ...], prefilter: str, *, merged: bool
) -> list[feature_sql.Step]:
    """The engine's steps over the store; ``merged``: ``store_pairs`` is the window's
    pairs already merged (a kept window and no partial day), one row per pair."""
    pairs = rollups.merged_contact_pairs_sql if merged else rollups.contact_pairs_sql
    replaced = {
        "contact_pairs": pairs("store_pairs"),
        "win_money": f"SELECT src, dst, ts, kind, amount FROM store_money WHERE {window.where()}",
        "device_days": rollups.device_days_sql("store_devices"),
        "home": rollups.home_sql("store_nightcells"),
    }
    steps = []
    for step in feature_sql.steps(window, platforms, prefilter):
        steps.append(feature_sql.Step(step.name, replaced.get(step.name, step.sql)))
    for step in steps:  # nothing may read the raw rows the store does not open
        for raw in (" observations", " interactions"):
            if f"FROM{raw}" in " ".join(step.sql.split()):
                raise AssertionError(f"feature step {step.name} reads{raw} from the store")
    return steps


def _open(
    db: Backend,
    store: Store,
    key: str,
    window: feature_sql.Window,
    days: Cut,
    present: tuple[date, ...],
    prefilter: str,
    kept_pairs: Path | None,
) -> int:
    """The engine's inputs as tables over the store; returns the rows of ``near``.
    ``kept_pairs``: the window's whole days' pairs merged (``store/windows.py``)."""
    whole = [d for d in days.whole if d in present]
    partial = [d for d in days.partial if d in present]
    for table in ("accounts", "confirmed"):
        path = store.whole_file(table)
        db.open_files(table, [path] if path else [], TABLES[table].arrow_schema())
    files = store.manifest.versions[key]["files"]

    def version_files(table: str, of: list[date] | tuple[date, ...]) -> list[Path]:
        return [store.root / files[table][d.isoformat()] for d in of]

    def day_files(table: str, of: list[date]) -> None:
        db.open_files(f"days_{table}", store.day_files(table, of), SCHEMAS[table])

    db.open_files("days_near", version_files("near", present), SCHEMAS["near"])
    db.create("near", f"SELECT * FROM days_near WHERE {window.where()}")
    # the partial days' raw rows, cut at the window
    db.open_files(
        "raw_observations", store.day_files("observations", partial), SCHEMAS["observations"]
    )
    db.open_files(
        "raw_interactions", store.day_files("interactions", partial), SCHEMAS["interactions"]
    )
    cut_obs = f"(SELECT * FROM raw_observations WHERE {window.where()})"
    cut_int = f"(SELECT * FROM raw_interactions WHERE {window.where()})"
    if kept_pairs is not None:
        db.open_files("days_pairs", [kept_pairs], SCHEMAS["pairs"])
    else:
        day_files("pairs", whole)
    if partial:
        pairs = f"SELECT * FROM days_pairs UNION ALL {rollups.pairs_sql(cut_int)}"
        db.view("store_pairs", pairs)
    else:
        db.view("store_pairs", "SELECT * FROM days_pairs")
    day_files("money", [*whole, *partial])
    db.view("store_money", f"SELECT * FROM days_money WHERE {window.where()}")
    day_files("devices", whole)
    db.view("store_devices", f"SELECT * FROM days_devices UNION ALL {rollups.devices_sql(cut_obs)}")
    db.open_files("days_nightcells", version_files("nightcells", whole), SCHEMAS["nightcells"])
    db.view(
        "store_nightcells",
        f"SELECT * FROM days_nightcells UNION ALL {rollups.nightcells_sql(prefilter, cut_obs)}",
    )
    counted = db.query("SELECT count(*) AS n FROM near")
    return int(counted.column("n")[0].as_py())


def _ensure_rollups(
    store: Store,
    directive: Directive,
    key: str,
    index: AreaIndex,
    days: tuple[date, ...],
    memory_limit: str | None,
    progress: Progress,
) -> int:
    """Make the version's rollups of every day that lacks them (or whose raw rows
    changed since): one presence pass over those days' raw observations."""
    version = store.manifest.versions.get(key, {})
    made = version.get("days", {})
    stale = [d for d in days if made.get(d.isoformat()) != store.manifest.days[d.isoformat()]]
    if not stale:
        return 0
    with store.change() as change:
        db = DuckDBBackend(memory_limit=memory_limit)
        try:
            db.open_files(
                "observations", store.day_files("observations", stale), SCHEMAS["observations"]
            )
            prefilter = index.sql_prefilter()
            presence = PresenceProbability(
                index, tuple(shapely.to_wkb(a.geometry) for a in directive.areas)
            )
            candidates = f"""
SELECT account_id, ts, lat, lon, accuracy_m, source, cell_id, device_id FROM observations
WHERE lat IS NOT NULL AND {prefilter} AND {_envelope(index)}
"""
            with progress.stage("Presence near the areas (new days)", total=None) as advance:
                db.map_batches("near", candidates, presence, NEAR_SCHEMA, advance)
            prefix = f"versions/{key}/"
            entry = change.manifest.versions.setdefault(
                key,
                {
                    "directive_id": directive.id,
                    "areas": [a.name for a in directive.areas],
                    "days": {},
                    "files": {},
                },
            )
            rows = {
                d: store.manifest.rows.get(d.isoformat(), {}).get("observations", 0) for d in stale
            }
            # near holds the presence stage's few rows: one pass; the night cells group
            # every night position, so they go a chunk of days at a time (day_chunks),
            # each read through its time range
            parts = [("near", list(stale), f"SELECT *, {STORE_DAY} AS store_day FROM near")]
            for chunk in day_chunks(list(stale), rows):
                source = (
                    f"(SELECT *, {STORE_DAY} AS store_day FROM observations "
                    f"WHERE {span(chunk).where()})"
                )
                sql = rollups.nightcells_sql(prefilter, source, by="store_day")
                parts.append(("nightcells", chunk, sql))
            for n, (table, chunk, sql) in enumerate(parts):
                keep = ", ".join(f"DATE '{d.isoformat()}'" for d in chunk)
                part = f"SELECT * FROM ({sql}) WHERE store_day IN ({keep})"
                written = write_by_day(db.con, part, change.staging(f"{key}/{table}/c{n}"), chunk)
                for day, path in written.items():
                    name = change.put_day(table, day, path, prefix=prefix)
                    entry["files"].setdefault(table, {})[day.isoformat()] = name
            for day in stale:
                entry["days"][day.isoformat()] = store.manifest.days[day.isoformat()]
        finally:
            db.close()
    return len(stale)
