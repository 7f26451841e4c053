"""The targeting run: directive + evidence -> explained, graded decisions.

presence stage   observations near an area (SQL pre-filter pushed to the scan),
                 then exact probabilities in Python (fairban.geo.presence)
feature steps    SQL in one dialect (targeting.features), run by the backend
scoring          pass 1 on each account's own evidence; pass 2 adds money from the
                 accounts judged in pass 1 (collectors, cash-out terminals);
                 pass 3 links the other accounts of the same person (monitor)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fairban.contract import Directive
from fairban.geo.presence import NORMAL_SOURCES, AreaIndex
from fairban.progress import SILENT, Progress
from fairban.targeting import features as feature_sql
from fairban.targeting.backends.duckdb import DuckDBBackend
from fairban.targeting.reasons import explain, to_json
from fairban.targeting.scoring import Scored, Thresholds, as_columns, score, strength

MAX_PASSES = 4
GPS_WIFI = pa.array(NORMAL_SOURCES)
DECISION_COLUMNS = ("account_id", "platform", "person_id", "measure", "risk", "reasons")


@dataclass
class TargetResult:
    """Decisions (the contract's columns plus report columns) and run statistics."""

    decisions: pa.Table
    features: pa.Table
    observations_near: int

    def counts(self) -> dict[str, int]:
        values = self.decisions.column("measure").to_pylist()
        return {m: values.count(m) for m in ("none", "monitor", "restrict", "suspend")}


def target(
    directive: Directive,
    data_dir: Path,
    *,
    thresholds: Thresholds | None = None,
    progress: Progress = SILENT,
    backend: DuckDBBackend | None = None,
) -> TargetResult:
    """Run the directive over the evidence folder. Pure: reads, writes nothing."""
    t = thresholds or Thresholds.for_directive(directive)
    db = backend or DuckDBBackend()
    db.open_evidence(data_dir)
    window = feature_sql.Window(directive.window_start, directive.window_end)
    names = [a.name for a in directive.areas]
    index = AreaIndex(names, [a.geometry for a in directive.areas])
    prefilter = index.sql_prefilter()

    near = _presence_stage(db, index, window, prefilter, progress)
    db.register("near", near)
    pipeline = feature_sql.steps(window, directive.platforms, prefilter)
    with progress.stage("Evidence signals", total=len(pipeline)) as advance:
        for step in pipeline:
            db.create(step.name, step.sql)
            advance(1)

    with progress.stage("Scoring", total=MAX_PASSES) as advance:
        feats = db.query("SELECT * FROM features")
        cols = as_columns(feats)
        final = score(cols, t)
        advance(1)
        # later passes: evidence that depends on accounts already judged (money from
        # mules, cash-out, phones shared with suspects), until nothing changes
        judged = _judged(cols, final)
        for _ in range(MAX_PASSES - 1):
            db.register("suspects", judged)
            extra = db.query(feature_sql.second_pass_sql("suspects"))
            for name in extra.column_names[1:]:
                values = extra.column(name).to_numpy(zero_copy_only=False)
                cols[name] = np.nan_to_num(np.asarray(values, dtype=float))
            final = score(cols, t)
            advance(1)
            again = _judged(cols, final)
            if again.equals(judged):
                break
            judged = again
        links = _person_links(cols, final)
        final.measure = np.where((final.measure == "none") & (links > 0), "monitor", final.measure)
        final.risk = np.where((links > 0) & (final.risk < t.monitor), t.monitor, final.risk)

    reasons = [
        to_json(explain(cols, final, names, i, int(links[i])) if final.measure[i] != "none" else [])
        for i in range(len(final.risk))
    ]
    decisions = pa.table(
        {
            "account_id": feats.column("account_id"),
            "platform": feats.column("platform"),
            "person_id": pa.array(
                ["" if p is None else p for p in feats.column("person_id").to_pylist()],
                pa.string(),
            ),
            "measure": pa.array(final.measure.tolist(), pa.string()),
            "risk": pa.array(final.risk.astype(float), pa.float64()),
            "reasons": pa.array(reasons, pa.string()),
            "strength": pa.array(strength(final).tolist(), pa.string()),
            "home_lat": feats.column("home_lat"),
            "home_lon": feats.column("home_lon"),
            "home_gb": pa.array(_home_gb(feats), pa.string()),
            "area": pa.array(
                [None if a is None else names[int(a)] for a in feats.column("area").to_pylist()],
                pa.string(),
            ),
        }
    )
    if backend is None:
        db.close()
    return TargetResult(decisions=decisions, features=feats, observations_near=near.num_rows)


def _presence_stage(
    db: DuckDBBackend,
    index: AreaIndex,
    window: feature_sql.Window,
    prefilter: str,
    progress: Progress,
) -> pa.Table:
    parts: list[pa.Table] = []
    with progress.stage("Presence near the areas", total=None) as advance:
        for batch in db.batches(feature_sql.prefilter_sql(window, prefilter)):
            lat = batch.column("lat").to_numpy(zero_copy_only=False)
            lon = batch.column("lon").to_numpy(zero_copy_only=False)
            acc = batch.column("accuracy_m").to_numpy(zero_copy_only=False)
            normal = pc.is_in(batch.column("source"), value_set=GPS_WIFI)
            area, p, dist = index.probability(
                lat, lon, acc, normal=normal.to_numpy(zero_copy_only=False)
            )
            keep = p > 0.0
            t = pa.Table.from_batches([batch]).filter(pa.array(keep))
            t = t.append_column("area", pa.array(area[keep], pa.int32()))
            t = t.append_column("p", pa.array(p[keep], pa.float64()))
            t = t.append_column("dist_m", pa.array(dist[keep], pa.float64()))
            parts.append(t)
            advance(batch.num_rows)
    if not parts:
        return pa.table(
            {
                "account_id": pa.array([], pa.string()),
                "ts": pa.array([], pa.timestamp("us", tz="UTC")),
                "lat": pa.array([], pa.float64()),
                "lon": pa.array([], pa.float64()),
                "accuracy_m": pa.array([], pa.float64()),
                "source": pa.array([], pa.string()),
                "cell_id": pa.array([], pa.string()),
                "device_id": pa.array([], pa.string()),
                "area": pa.array([], pa.int32()),
                "p": pa.array([], pa.float64()),
                "dist_m": pa.array([], pa.float64()),
            }
        )
    return pa.concat_tables(parts)


def _judged(cols: dict[str, np.ndarray], scored: Scored) -> pa.Table:
    """Accounts under restrict or suspend after pass 1, and whether they are mules."""
    hit = np.isin(scored.measure, ["restrict", "suspend"])
    kind = np.where(scored.signals["mule"], "mule", "other")
    return pa.table(
        {
            "account_id": pa.array(cols["account_id"][hit].tolist(), pa.string()),
            "kind": pa.array(kind[hit].tolist(), pa.string()),
        }
    )


def _person_links(cols: dict[str, np.ndarray], scored: Scored) -> np.ndarray:
    """For each account: how many other accounts of its person are under measures."""
    persons = cols["person_id"]
    hit = np.isin(scored.measure, ["restrict", "suspend"])
    counts: dict[str, int] = {}
    for p, h in zip(persons, hit, strict=True):
        if p and h:
            counts[p] = counts.get(p, 0) + 1
    return np.array(
        [counts.get(p, 0) - (1 if h else 0) if p else 0 for p, h in zip(persons, hit, strict=True)]
    )


def _home_gb(feats: pa.Table) -> list[str]:
    from fairban.geo.china import ChinaAdmin

    lat = np.asarray(feats.column("home_lat").to_numpy(zero_copy_only=False), dtype=float)
    lon = np.asarray(feats.column("home_lon").to_numpy(zero_copy_only=False), dtype=float)
    ok = ~np.isnan(lat)
    out = np.full(len(lat), "", dtype=object)
    if ok.any():
        out[ok] = ChinaAdmin.default().locate(lon[ok], lat[ok])
    return [str(x) for x in out]
