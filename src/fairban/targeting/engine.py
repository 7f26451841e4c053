"""The targeting run: directive + evidence -> explained, graded decisions.

presence stage   observations near an area (SQL pre-filter pushed to the scan),
                 then exact probabilities in Python (fairban.geo.presence)
feature steps    SQL in one dialect (targeting.features.PIPELINE), run by the backend
scoring          pass 1 on each account's own evidence; pass 2 adds money from the
                 accounts judged in pass 1 (collectors, cash-out terminals);
                 pass 3 links the other accounts of the same person (monitor)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fairban.contract import Directive
from fairban.errors import InputError
from fairban.measures import DECISION_MEASURES
from fairban.progress import SILENT, Progress
from fairban.targeting import features as feature_sql
from fairban.targeting.backends.base import Backend
from fairban.targeting.reasons import explain, to_json
from fairban.targeting.scoring import Scored, Thresholds, as_columns, score, strength

MAX_PASSES = 4
DECISION_COLUMNS = ("account_id", "platform", "person_id", "measure", "risk", "reasons")
#: the table ``near``: the pre-filter's columns, the likeliest area, p and signed distance
#: (exact near an edge, a lower bound of the same sign elsewhere)
_NEAR_FIELDS: list[pa.Field[Any]] = [
    pa.field("account_id", pa.string()),
    pa.field("ts", pa.timestamp("us", tz="UTC")),
    pa.field("lat", pa.float64()),
    pa.field("lon", pa.float64()),
    pa.field("accuracy_m", pa.float64()),
    pa.field("source", pa.string()),
    pa.field("cell_id", pa.string()),
    pa.field("device_id", pa.string()),
    pa.field("area", pa.int32()),
    pa.field("p", pa.float64()),
    pa.field("dist_m", pa.float64()),
]
NEAR_SCHEMA = pa.schema(_NEAR_FIELDS)

if TYPE_CHECKING:
    from fairban.geo.presence import AreaIndex
    from fairban.targeting.backends.duckdb import DuckDBBackend


@dataclass
class TargetResult:
    """Decisions (the contract's columns plus report columns) and run statistics."""

    decisions: pa.Table
    features: pa.Table
    observations_near: int

    def counts(self) -> dict[str, int]:
        values = self.decisions.column("measure").to_pylist()
        return {m: values.count(m) for m in DECISION_MEASURES}


def target(
    directive: Directive,
    data_dir: Path,
    *,
    thresholds: Thresholds | None = None,
    progress: Progress = SILENT,
    backend: Backend | None = None,
) -> TargetResult:
    """Run the directive over the evidence folder. Pure: reads, writes nothing.

    ``backend`` runs the SQL (DuckDB on this machine when None); the engine, the
    feature SQL and the Python stages are the same whichever runs it."""
    # the geometry (shapely, scipy) only where evidence is read: a re-score needs none
    import shapely

    from fairban.geo.presence import AreaIndex

    t = thresholds or Thresholds.for_directive(directive)
    db: Backend
    if backend is None:
        from fairban.targeting.backends.duckdb import DuckDBBackend

        db = DuckDBBackend()
    else:
        db = backend
    window = feature_sql.Window(directive.window_start, directive.window_end)
    db.open_evidence(data_dir, window)
    names = [a.name for a in directive.areas]
    index = AreaIndex(names, [a.geometry for a in directive.areas])
    prefilter = index.sql_prefilter()
    envelope = _envelope(index)

    with progress.stage("Presence near the areas", total=None) as advance:
        observations_near = db.map_batches(
            "near",
            feature_sql.prefilter_sql(window, prefilter, envelope),
            PresenceProbability(index, tuple(shapely.to_wkb(a.geometry) for a in directive.areas)),
            NEAR_SCHEMA,
            advance,
        )
    pipeline = feature_sql.steps(window, directive.platforms, prefilter)
    try:
        return decide(
            db,
            directive,
            pipeline,
            thresholds=t,
            progress=progress,
            observations_near=observations_near,
        )
    finally:
        if backend is None:
            db.close()


def decide(
    db: Backend,
    directive: Directive,
    pipeline: Sequence[feature_sql.Step],
    *,
    thresholds: Thresholds | None = None,
    progress: Progress = SILENT,
    observations_near: int = 0,
) -> TargetResult:
    """The feature steps and the scoring, once the backend holds the inputs the steps
    read (the evidence views and ``near``; or, judging from an evidence store, the
    store's rollups in their place): what ``target`` does after the presence stage."""
    with progress.stage("Evidence signals", total=len(pipeline)) as advance:
        for step in pipeline:
            db.create(step.name, step.sql)
            advance(1)
    return score_features(
        db, directive, thresholds=thresholds, progress=progress, observations_near=observations_near
    )


#: the feature tables scoring reads: a judgement kept with them can be scored again
#: with other thresholds without the evidence (``score_features``)
SCORED_TABLES = ("features", "money_edges", "device_pairs", "linked")
#: columns a kept table must have that older versions of it lack
KEPT_COLUMNS = {"features": ("home_gb",), "device_pairs": ("stays",)}
#: the kept tables' version: a cache of kept judgements keys on it (2: ``stays``;
#: 3: ``features`` ordered, with ``home_gb``; ``money_edges`` and ``linked`` cut to
#: what the later passes read)
KEPT_VERSION = 3


def score_features(
    db: Backend,
    directive: Directive,
    *,
    thresholds: Thresholds | None = None,
    progress: Progress = SILENT,
    observations_near: int = 0,
    features: pa.Table | None = None,
    home_gb: pa.ChunkedArray[Any] | None = None,
) -> TargetResult:
    """Risk, measure and reasons of every linked account, from the feature tables the
    backend holds (``SCORED_TABLES``): the engine's last part, and a what-if's whole.

    ``features``: the table ``features`` already read, ordered by ``account_id`` (a
    kept judgement's); ``home_gb``: its accounts' home provinces, in its order (kept
    with it, so that the provinces' polygons are not loaded again)."""
    t = thresholds or Thresholds.for_directive(directive)
    names = [a.name for a in directive.areas]
    with progress.stage("Scoring", total=MAX_PASSES) as advance:
        # ordered here: the later passes are matched to these rows by position
        feats = features
        if feats is None:
            feats = db.query("SELECT * FROM features ORDER BY account_id")
        cols = as_columns(feats)
        final = score(cols, t)
        advance(1)
        # later passes: evidence that depends on accounts already judged (money from
        # mules, cash-out, phones shared with suspects), until nothing changes
        judged = _judged(cols, final)
        # who adds strangers is each account's own evidence, and all the money an
        # account received is too: the same in every pass
        db.register("reaching", _reaching(cols, final))
        db.create("money_in", feature_sql.money_in_total_sql())
        for _ in range(MAX_PASSES - 1):
            db.register("suspects", judged)
            extra = db.query(feature_sql.second_pass_sql("suspects", "reaching", "money_in"))
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

    area = feats.column("area").cast(pa.int64())
    person = feats.column("person_id").cast(pa.string()).fill_null(pa.scalar("", pa.string()))
    decisions = pa.table(
        {
            "account_id": feats.column("account_id"),
            "platform": feats.column("platform"),
            "person_id": person,
            "measure": pa.array(final.measure.tolist(), pa.string()),
            "risk": pa.array(final.risk.astype(float), pa.float64()),
            "reasons": pa.array(_reasons(cols, final, names, links, t), pa.string()),
            "strength": pa.array(strength(final).tolist(), pa.string()),
            "home_lat": feats.column("home_lat"),
            "home_lon": feats.column("home_lon"),
            "home_gb": pa.array(_home_gb(feats), pa.string()) if home_gb is None else home_gb,
            "area": pc.take(pa.array(names, pa.string()), area),
        }
    )
    return TargetResult(decisions=decisions, features=feats, observations_near=observations_near)


def keep_scored(db: Backend, result: TargetResult, folder: Path) -> None:
    """Write what scoring reads (``SCORED_TABLES``) to ``folder`` as Parquet, for
    ``rescore``: ``result``'s features (ordered) with their home provinces, and of the
    other tables what the later passes read (money to linked accounts, their ids)."""
    import pyarrow.parquet as pq

    tables = {
        "features": lambda: result.features.append_column(
            "home_gb", result.decisions.column("home_gb")
        ),
        "money_edges": lambda: db.query(
            "SELECT src, dst, n, amount FROM money_edges "
            "WHERE dst IN (SELECT account_id FROM linked)"
        ),
        "device_pairs": lambda: db.query("SELECT * FROM device_pairs"),
        "linked": lambda: db.query("SELECT account_id FROM linked"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name in SCORED_TABLES:
        partial = folder / f".{name}.parquet.partial"
        pq.write_table(tables[name](), partial)
        partial.replace(folder / f"{name}.parquet")


def rescore(
    directive: Directive,
    folder: Path,
    *,
    thresholds: Thresholds | None = None,
    memory_limit: str | None = None,
    progress: Progress = SILENT,
) -> TargetResult:
    """The decisions of a kept judgement (``keep_scored``) under other thresholds: no
    evidence is read. ``FileNotFoundError`` when ``folder`` keeps none."""
    import pyarrow.parquet as pq

    from fairban.targeting.backends.duckdb import DuckDBBackend

    schemas = {}
    for name in SCORED_TABLES:
        path = folder / f"{name}.parquet"
        if not path.is_file():
            raise FileNotFoundError(path)
        schemas[name] = pq.read_schema(path)
        missing = set(KEPT_COLUMNS.get(name, ())) - set(schemas[name].names)
        if missing:
            raise InputError(
                str(path),
                f"kept by an older fairban (no column {', '.join(sorted(missing))}): "
                "judge again (fairban target) to keep a judgement this one can re-score",
            )
    db = DuckDBBackend(memory_limit=memory_limit)
    try:
        # the features by Arrow, in their kept order (a query would have to sort them);
        # the rest into DuckDB's own tables once, not decoded again by every pass
        kept = pq.ParquetFile(folder / "features.parquet").read()  # no pyarrow.dataset
        features = kept.drop_columns(["home_gb"])
        # the later passes read of the features their accounts alone
        db.register("features", features.select(["account_id"]))
        for name in SCORED_TABLES[1:]:
            db.open_files(f"kept_{name}", [folder / f"{name}.parquet"], schemas[name])
            db.create(name, f"SELECT * FROM kept_{name}")
        return score_features(
            db,
            directive,
            thresholds=thresholds,
            progress=progress,
            features=features,
            home_gb=kept.column("home_gb"),
        )
    finally:
        db.close()


class PresenceProbability:
    """The presence stage's geometry for one Arrow batch of pre-filtered observations:
    keeps the rows with p > 0 and adds ``area``, ``p`` and ``dist_m`` (``NEAR_SCHEMA``).
    ``dist_m`` is exact only near an edge: where ``AreaIndex.probability`` decides p
    without the exact distance (deep inside, far outside, a huge disc) it is a lower
    bound of the same sign, so ``dist_m > 0`` still means inside.

    Picklable (given ``wkb``, the areas' geometries) for backends that run it in
    other processes or on other machines: it travels as the areas' names and WKB and
    rebuilds its ``AreaIndex`` once per process there."""

    def __init__(self, index: AreaIndex, wkb: tuple[bytes, ...] = ()) -> None:
        self.index = index
        self.wkb = wkb

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        lat = batch.column("lat").to_numpy(zero_copy_only=False)
        lon = batch.column("lon").to_numpy(zero_copy_only=False)
        acc = batch.column("accuracy_m").to_numpy(zero_copy_only=False)
        normal = pc.is_in(batch.column("source"), value_set=_gps_wifi())
        area, p, dist = self.index.probability(
            lat, lon, acc, normal=normal.to_numpy(zero_copy_only=False)
        )
        keep = pa.array(p > 0.0)
        given = [NEAR_SCHEMA.field(i) for i in range(8)]  # the pre-filter's own columns
        columns = [batch.column(f.name).filter(keep).cast(f.type) for f in given]
        kept = np.asarray(keep)
        columns += [
            pa.array(area[kept], pa.int32()),
            pa.array(p[kept], pa.float64()),
            pa.array(dist[kept], pa.float64()),
        ]
        return pa.RecordBatch.from_arrays(columns, schema=NEAR_SCHEMA)

    def __reduce__(self) -> tuple[Any, ...]:
        if len(self.wkb) != len(self.index.areas):
            raise TypeError("PresenceProbability travels only with its areas' WKB")
        # WKB keeps every double exactly; the index is prepared again where it lands
        return (_presence_probability, (tuple(self.index.names), self.wkb))


@functools.cache
def _presence_probability(names: tuple[str, ...], wkb: tuple[bytes, ...]) -> PresenceProbability:
    import shapely

    from fairban.geo.presence import AreaIndex

    geometries = [shapely.from_wkb(g) for g in wkb]
    return PresenceProbability(AreaIndex(names, geometries), wkb)


@functools.cache
def _gps_wifi() -> pa.Array[Any]:
    from fairban.geo.presence import NORMAL_SOURCES

    return pa.array(NORMAL_SOURCES)


def _presence_stage(
    db: DuckDBBackend,
    index: AreaIndex,
    window: feature_sql.Window,
    prefilter: str,
    progress: Progress,
) -> pa.Table:
    """The presence stage on this machine, its ``near`` table returned (benchmarks)."""
    probability = PresenceProbability(index)
    sql = feature_sql.prefilter_sql(window, prefilter, _envelope(index))
    with progress.stage("Presence near the areas", total=None) as advance:
        db.map_batches("near", sql, probability, NEAR_SCHEMA, advance)
    return db.query("SELECT * FROM near")


def _envelope(index: AreaIndex) -> str:
    """The pre-filter's constant bounds (``features.envelope_sql``) for these areas."""
    from fairban.geo.presence import M_PER_DEG

    return feature_sql.envelope_sql([(*a.bounds, M_PER_DEG * a.cos_min) for a in index.areas])


def _judged(cols: dict[str, np.ndarray], scored: Scored) -> pa.Table:
    """Accounts under restrict or suspend, and whether they are mules or operators
    (under a measure for their own outreach or phone farm: not for phones shared with
    operators, so that no chain of phones judges itself)."""
    s = scored.signals
    hit = np.isin(scored.measure, ["restrict", "suspend"])
    operator = hit & (s["outreach"] | s["outreach_weak"] | s["device_farm"])
    kind = np.where(s["mule"], "mule", np.where(operator, "operator", "other"))
    return pa.table(
        {
            "account_id": pa.array(cols["account_id"][hit].tolist(), pa.string()),
            "kind": pa.array(kind[hit].tolist(), pa.string()),
        }
    )


def _reaching(cols: dict[str, np.ndarray], scored: Scored) -> pa.Table:
    """Accounts whose own evidence shows outreach to strangers (weak or not)."""
    s = scored.signals
    reaching = s["outreach"] | s["outreach_weak"]
    return pa.table({"account_id": pa.array(cols["account_id"][reaching].tolist(), pa.string())})


def _person_links(cols: dict[str, np.ndarray], scored: Scored) -> np.ndarray:
    """For each account: how many other accounts of its person are under measures."""
    persons = np.asarray(cols["person_id"], dtype=object)
    hit = np.isin(scored.measure, ["restrict", "suspend"])
    known = (persons != None) & (persons != "")  # noqa: E711 (elementwise, not identity)
    if not known.any():
        return np.zeros(len(persons), dtype=np.int64)
    # accounts under measures per person, by each account's person (numpy, not a loop:
    # a what-if re-scores 10^5 linked accounts)
    _, person = np.unique(persons[known].astype(str), return_inverse=True)
    per_person = np.bincount(person, weights=hit[known]).astype(np.int64)
    links = np.zeros(len(persons), dtype=np.int64)
    links[known] = per_person[person] - hit[known]
    return links


def _home_gb(feats: pa.Table) -> list[str]:
    from fairban.geo.china import ChinaAdmin

    lat = np.asarray(feats.column("home_lat").to_numpy(zero_copy_only=False), dtype=float)
    lon = np.asarray(feats.column("home_lon").to_numpy(zero_copy_only=False), dtype=float)
    ok = ~np.isnan(lat)
    out = np.full(len(lat), "", dtype=object)
    if ok.any():
        out[ok] = ChinaAdmin.default().locate(lon[ok], lat[ok])
    return [str(x) for x in out]


def _reasons(
    cols: dict[str, np.ndarray], scored: Scored, areas: list[str], links: np.ndarray, t: Thresholds
) -> list[str]:
    """The reasons (JSON) of every account: ``[]`` for those under no measure (most of
    them), ``explain``'s for the others, over their rows alone with Python numbers (a
    numpy scalar costs ten times a float to read, and explain reads dozens a row)."""
    out = ["[]"] * len(scored.risk)
    rows = np.flatnonzero(scored.measure != "none")
    if not rows.size:
        return out
    sub_cols = {name: _picked(values, rows) for name, values in cols.items()}
    sub = Scored(
        risk=_picked(scored.risk, rows),
        measure=_picked(scored.measure, rows),
        signals={name: _picked(v, rows) for name, v in scored.signals.items()},
        harms={name: _picked(v, rows) for name, v in scored.harms.items()},
    )
    sub_links = links[rows].tolist()
    for j, i in enumerate(rows.tolist()):
        out[i] = to_json(explain(sub_cols, sub, areas, j, int(sub_links[j]), t))
    return out


def _picked(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values[rows]``; numbers and booleans as Python objects (the same values)."""
    picked: np.ndarray = values[rows]
    return picked.astype(object) if picked.dtype.kind in "biuf" else picked
