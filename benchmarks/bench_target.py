"""How fast `fairban target` runs, its presence stage against a spatial join and GeoPandas, and the floors.

    uv run --group bench python benchmarks/bench_target.py --world DIR [--rows-limit N]
        [--memory-limit 3GB] [--only KIND ...]

DIR is a simulated world (``fairban simulate --out DIR``: DIR/directive.yaml and
DIR/evidence/). Each measurement runs in its own process, so its peak RSS (its own
``VmHWM``) is its own:

1. presence, fairban: what the engine does. ``AreaIndex`` from the directive's areas,
   ``DuckDBBackend(memory_limit=...).open_evidence`` (the settings' limit, as ``fairban
   target``'s), the SQL pre-filter ``features.prefilter_sql`` streamed with
   ``backend.batches`` and ``index.probability`` on the candidates (the engine's own
   ``_presence_stage``, called as it is).
2. presence, DuckDB spatial: the standard point-in-polygon join, ``ST_Contains(area.geom,
   ST_Point(lon, lat))``, over the same Parquet files and window, with the spatial
   extension loaded from the ``duckdb-extension-spatial`` package's folder. The package
   is built for DuckDB 1.5.x and pins it; fairban uses DuckDB 2.0, which refuses the
   file. This run therefore happens in an isolated environment with the matching DuckDB
   (``uv run --isolated --no-project --with duckdb==V --with duckdb-extension-spatial==V``).
3. presence, GeoPandas: observations (lon, lat) read with pyarrow in batches of 10^6,
   ``geopandas.sjoin(points, areas, predicate="within")``. ``--rows-limit N`` stops it
   after N observations; its rows/s is then a sample's, extrapolated to the rest.
4. the whole engine, ``fairban.targeting.target(directive, evidence, backend=...)`` on a
   DuckDB with the settings' memory limit (all signals, no validation), timed step by
   step by wrapping the backend's methods from outside.
5. the command line, ``fairban target DIRECTIVE --data EVIDENCE --out TMP -q``
   (validation and writing the decisions included), run in-process by ``fairban.cli.main``.
6. with ``--memory-limit 3GB``: the engine again, on a backend whose DuckDB has that
   ``memory_limit`` (``--only engine-capped --memory-limit 3GB`` runs just that and 1).
7. floors: what the goals leave room for. Three bare DuckDB queries (fairban's DuckDB,
   the plain Parquet files, nothing of fairban's) that any engine built on this reader
   must at least do, each materialised as the engine's steps are: (a) the columns the
   presence stage returns, for the rows whose point lies in an area's bounding box
   (fewer rows than a correct presence stage keeps, no geometry); (b) one grouping of
   the window's observations by account, the least any per-account signal reads
   (home, devices); (c) one grouping of the window's interactions by (src, dst), the
   least "who dealt with whom" reads (outreach, social, mules).

Rows/s is over the observations in the directive's window (what each run has to look
at), the same count for every run, so the ratios are ratios of time. Prints markdown.

Only the standard library is imported at module level: the spatial run executes this
file in an environment that has DuckDB 1.5 and nothing of fairban.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: latest duckdb-extension-spatial on PyPI; the package pins duckdb to the same version
SPATIAL_VERSION = "1.5.5"
BATCH_ROWS = 1_000_000
GIB = 1024.0  # MiB
KINDS = ("presence", "spatial", "geopandas", "engine", "engine-capped", "cli", "floors")

Spec = dict[str, Any]
Result = dict[str, Any]


# --------------------------------------------------------------------------- children


def peak_rss_mib() -> float:
    """This process's peak resident memory since exec (Linux ``VmHWM``), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_presence(spec: Spec) -> Result:
    """The engine's presence stage, exactly: SQL pre-filter, then probabilities in Python."""
    from fairban.config import get_settings
    from fairban.contract import load_directive
    from fairban.geo.presence import AreaIndex
    from fairban.progress import SILENT
    from fairban.targeting import features
    from fairban.targeting.backends.duckdb import DuckDBBackend
    from fairban.targeting.engine import _presence_stage

    directive = load_directive(Path(spec["directive"]))
    started = time.perf_counter()
    index = AreaIndex([a.name for a in directive.areas], [a.geometry for a in directive.areas])
    backend = DuckDBBackend(memory_limit=get_settings().duckdb_memory_limit)
    backend.open_evidence(Path(spec["evidence"]))
    window = features.Window(directive.window_start, directive.window_end)

    candidates = 0
    python_seconds = 0.0
    batches = backend.batches
    probability = index.probability

    def counted(sql: str, batch_rows: int = BATCH_ROWS) -> Any:
        nonlocal candidates
        for batch in batches(sql, batch_rows):
            candidates += batch.num_rows
            yield batch

    def timed(*args: Any, **kwargs: Any) -> Any:
        nonlocal python_seconds
        t0 = time.perf_counter()
        try:
            return probability(*args, **kwargs)
        finally:
            python_seconds += time.perf_counter() - t0

    backend.batches = counted  # type: ignore[method-assign]
    index.probability = timed  # type: ignore[method-assign]
    near = _presence_stage(backend, index, window, index.sql_prefilter(), SILENT)
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()

    # not timed: how many observations there were to look at
    scanned = backend.con.execute(
        f"SELECT count(*) FROM observations WHERE {window.where()}"
    ).fetchone()
    total = backend.con.execute("SELECT count(*) FROM observations").fetchone()
    inside = int((near.column("dist_m").to_numpy() > 0).sum()) if near.num_rows else 0
    backend.close()
    return {
        "seconds": seconds,
        "peak_rss_mib": peak,
        "scanned": int(scanned[0]) if scanned else 0,
        "observations_total": int(total[0]) if total else 0,
        "candidates": candidates,
        "near": near.num_rows,
        "inside": inside,
        "python_seconds": python_seconds,
    }


def run_spatial(spec: Spec) -> Result:
    """The DuckDB spatial extension's point-in-polygon join (DuckDB 1.5, isolated env)."""
    import duckdb
    import duckdb_extension_spatial  # type: ignore[import-not-found,unused-ignore]

    folder = Path(duckdb_extension_spatial.__file__).parent
    extension = next(folder.rglob("*.duckdb_extension"))
    started = time.perf_counter()
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"LOAD {_quote(str(extension))}")
    con.execute("CREATE TEMP TABLE area_wkt (area INTEGER, wkt VARCHAR)")
    con.executemany("INSERT INTO area_wkt VALUES (?, ?)", list(enumerate(spec["areas_wkt"])))
    con.execute(
        "CREATE TEMP TABLE areas AS SELECT area, ST_GeomFromText(wkt) AS geom FROM area_wkt"
    )
    paths = "[" + ", ".join(_quote(p) for p in spec["observation_files"]) + "]"
    start, end = spec["window"]
    sql = f"""
SELECT o.account_id, o.ts, o.lat, o.lon, o.accuracy_m, o.source, o.cell_id, o.device_id,
       a.area
FROM read_parquet({paths}, union_by_name = true, hive_partitioning = false) o
JOIN areas a ON ST_Contains(a.geom, ST_Point(o.lon, o.lat))
WHERE o.ts > TIMESTAMPTZ '{start}' AND o.ts <= TIMESTAMPTZ '{end}' AND o.lat IS NOT NULL
"""
    plan = "\n".join(str(row[1]) for row in con.execute("EXPLAIN " + sql).fetchall())
    con.execute(f"CREATE TEMP TABLE near AS {sql}")
    seconds = time.perf_counter() - started
    row = con.execute("SELECT count(*) FROM near").fetchone()
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "inside": int(row[0]) if row else 0,
        "duckdb": duckdb.__version__,
        "extension": str(extension.relative_to(folder.parent)),
        "spatial_join_operator": "SPATIAL_JOIN" in plan,
    }


def run_geopandas(spec: Spec) -> Result:
    """``geopandas.sjoin(points, areas, predicate="within")`` over batches of 10^6 rows."""
    from datetime import datetime

    import geopandas as gpd
    import pyarrow as pa
    import pyarrow.dataset as pads
    import shapely

    limit = int(spec.get("rows_limit") or 0)
    started = time.perf_counter()
    areas = gpd.GeoDataFrame(
        {"area": list(range(len(spec["areas_wkt"])))},
        geometry=shapely.from_wkt(spec["areas_wkt"]),
        crs="EPSG:4326",
    )
    start, end = (datetime.fromisoformat(t) for t in spec["window"])
    ts = pads.field("ts")
    dataset = pads.dataset(spec["observation_files"], format="parquet")
    batches = dataset.to_batches(
        columns=["lon", "lat"],
        filter=(ts > pa.scalar(start)) & (ts <= pa.scalar(end)) & pads.field("lat").is_valid(),
        batch_size=BATCH_ROWS,
    )
    rows = inside = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def join(parts: list[pa.RecordBatch]) -> int:
        table = pa.Table.from_batches(parts)
        points = gpd.GeoDataFrame(
            geometry=gpd.points_from_xy(
                table.column("lon").to_numpy(), table.column("lat").to_numpy()
            ),
            crs="EPSG:4326",
        )
        return len(gpd.sjoin(points, areas, how="inner", predicate="within"))

    for batch in batches:
        if limit and rows + pending_rows + batch.num_rows > limit:
            batch = batch.slice(0, limit - rows - pending_rows)
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= BATCH_ROWS:
            inside += join(pending)
            rows += pending_rows
            pending, pending_rows = [], 0
        if limit and rows + pending_rows >= limit:
            break
    if pending_rows:
        inside += join(pending)
        rows += pending_rows
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "rows": rows,
        "inside": inside,
        "geopandas": gpd.__version__,
    }


class Peaks:
    """Peak RSS per part of a run: the kernel's high-water mark (``VmHWM``), read and
    reset (``clear_refs`` 5) at each boundary; ``overall`` keeps the whole run's peak."""

    def __init__(self) -> None:
        self.overall = 0.0
        self.mark()

    def mark(self) -> float:
        """The peak since the last mark; starts a new part."""
        peak = peak_rss_mib()
        self.overall = max(self.overall, peak)
        # where it cannot be reset, each part reports the peak so far
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        return peak


@dataclass
class Call:
    label: str
    start: float
    end: float = 0.0
    peak_before: float = 0.0  # peak RSS MiB of the gap before the call
    peak: float = 0.0  # peak RSS MiB during the call


def _instrument(log: list[Call], peaks: Peaks) -> None:
    """Time the engine's backend calls from outside, as a profiler would."""
    from fairban.geo.presence import AreaIndex
    from fairban.targeting.backends.duckdb import DuckDBBackend

    def wrap(cls: type, name: str, label: Callable[[tuple[Any, ...]], str], memory: bool) -> None:
        original = getattr(cls, name)

        @functools.wraps(original)
        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = Call(label(args), 0.0)
            if memory:
                call.peak_before = peaks.mark()
            call.start = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                call.end = time.perf_counter()
                if memory:
                    call.peak = peaks.mark()
                log.append(call)

        setattr(cls, name, timed)

    wrap(DuckDBBackend, "open_evidence", lambda a: "open evidence (views)", True)
    wrap(DuckDBBackend, "create", lambda a: f"step {a[0]}", True)
    wrap(DuckDBBackend, "register", lambda a: f"register {a[0]}", True)
    wrap(DuckDBBackend, "query", lambda a: "scoring queries (SQL)", True)
    wrap(AreaIndex, "probability", lambda a: "probability", False)


PRESENCE_SQL = "presence stage: DuckDB scan + pre-filter + Arrow"
PRESENCE_PY = "presence stage: probability (Python)"
REST = "rest (AreaIndex, scoring and reasons in Python, home province)"


def _breakdown(log: list[Call], started: float, ended: float, last_peak: float) -> list[Any]:
    """[part, seconds, peak RSS MiB] in order; what no call covers is Python in the engine."""
    seconds: dict[str, float] = {}
    peak: dict[str, float] = {}

    def add(key: str, s: float, p: float) -> None:
        seconds[key] = seconds.get(key, 0.0) + s
        peak[key] = max(peak.get(key, 0.0), p)

    opened = next((c.end for c in log if c.label.startswith("open evidence")), started)
    near = next((c for c in log if c.label == "register near"), None)
    probability = sum(c.end - c.start for c in log if c.label == "probability")
    rest_peak = last_peak
    for c in log:
        if c.label == "probability":
            continue
        if c.label.startswith("open evidence"):
            add(c.label, c.end - c.start, c.peak)
            if near is not None:
                add(PRESENCE_SQL, near.start - opened - probability, near.peak_before)
                add(PRESENCE_PY, probability, near.peak_before)
            continue
        if c is not near:
            rest_peak = max(rest_peak, c.peak_before)
        add(
            "scoring queries (SQL)" if c.label == "register suspects" else c.label,
            c.end - c.start,
            c.peak,
        )
    add(REST, ended - started - sum(seconds.values()), rest_peak)
    return [[k, seconds[k], peak[k]] for k in seconds]


def run_engine(spec: Spec, memory_limit: str | None = None) -> Result:
    """``fairban.targeting.target`` alone (all signals, no validation, nothing written),
    on a backend whose DuckDB has ``memory_limit`` (by default the settings', as
    ``fairban target``'s)."""
    from fairban.config import get_settings
    from fairban.contract import load_directive
    from fairban.targeting import target
    from fairban.targeting.backends.duckdb import DuckDBBackend

    log: list[Call] = []
    peaks = Peaks()
    _instrument(log, peaks)
    directive = load_directive(Path(spec["directive"]))
    started = time.perf_counter()
    backend = DuckDBBackend(memory_limit=memory_limit or get_settings().duckdb_memory_limit)
    result = target(directive, Path(spec["evidence"]), backend=backend)
    backend.close()
    ended = time.perf_counter()
    last_peak = peaks.mark()
    return {
        "seconds": ended - started,
        "peak_rss_mib": peaks.overall,
        "near": result.observations_near,
        "decisions": result.decisions.num_rows,
        "counts": result.counts(),
        "breakdown": _breakdown(log, started, ended, last_peak),
    }


def run_floors(spec: Spec) -> Result:
    """Lower bounds on this reader (see 7. in the module's docstring), timed one by one."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    start, end = spec["window"]
    window = f"ts > TIMESTAMPTZ '{start}' AND ts <= TIMESTAMPTZ '{end}'"

    def parquet(paths: list[str]) -> str:
        listed = "[" + ", ".join(_quote(p) for p in paths) + "]"
        return f"read_parquet({listed}, union_by_name = true, hive_partitioning = false)"

    boxes = " OR ".join(
        f"(lat BETWEEN {miny!r} AND {maxy!r} AND lon BETWEEN {minx!r} AND {maxx!r})"
        for minx, miny, maxx, maxy in spec["areas_bounds"]
    )
    observations = parquet(spec["observation_files"])
    queries = {
        "presence_columns": f"""
SELECT account_id, ts, lat, lon, accuracy_m, source, cell_id, device_id
FROM {observations} WHERE {window} AND ({boxes})""",
        "observations_by_account": f"""
SELECT account_id, count(*) AS n FROM {observations} WHERE {window} GROUP BY account_id""",
    }
    if spec["interaction_files"]:
        queries["interactions_by_pair"] = f"""
SELECT src, dst, count(*) AS n FROM {parquet(spec["interaction_files"])} WHERE {window}
GROUP BY src, dst"""
    parts = []
    for name, sql in queries.items():
        t0 = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        seconds = time.perf_counter() - t0
        row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
        parts.append([name, seconds, int(row[0]) if row else 0])
        con.execute(f"DROP TABLE {name}")
    return {
        "seconds": sum(part[1] for part in parts),  # the queries alone, not the counts
        "peak_rss_mib": peak_rss_mib(),
        "parts": parts,
    }


#: the command's parts, as ``fairban.targeting.run`` names them (those present are timed)
CLI_PARTS = ("prepare", "validate_evidence", "run_engine", "target", "write_decisions")


def run_cli(spec: Spec) -> Result:
    """``fairban target DIRECTIVE --data EVIDENCE --out TMP -q``, in this process."""
    import io

    from fairban import cli
    from fairban.targeting import run

    parts: list[list[Any]] = []  # [name, seconds] of the outermost timed calls
    depth = 0

    def wrap(name: str) -> None:
        original = getattr(run, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            nonlocal depth
            depth += 1
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                depth -= 1
                if depth == 0:
                    parts.append([name, time.perf_counter() - t0])

        setattr(run, name, timed)

    for name in CLI_PARTS:
        if callable(getattr(run, name, None)):
            wrap(name)
    with tempfile.TemporaryDirectory(prefix="fairban-bench-target-") as out:
        argv = ["fairban", "target", spec["directive"], "--data", spec["evidence"]]
        sys.argv = [*argv, "--out", out, "-q"]
        printed = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(printed):
            try:
                cli.main()
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
        seconds = time.perf_counter() - started
    if code:
        raise SystemExit(f"fairban target exited {code}: {printed.getvalue()[-500:]}")
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "parts": parts,
        "summary": printed.getvalue(),
    }


CHILDREN: dict[str, Callable[[Spec], Result]] = {
    "presence": run_presence,
    "spatial": run_spatial,
    "geopandas": run_geopandas,
    "engine": run_engine,
    "engine-capped": lambda spec: run_engine(spec, spec["memory_limit"]),
    "cli": run_cli,
    "floors": run_floors,
}


# --------------------------------------------------------------------------- the parent


def make_spec(world: Path, rows_limit: int | None) -> Spec:
    import shapely

    from fairban.contract import discover, load_directive

    directive_path = world / "directive.yaml"
    evidence = world / "evidence"
    directive = load_directive(directive_path)
    found = discover(evidence)
    return {
        "directive": str(directive_path),
        "evidence": str(evidence),
        "window": [directive.window_start.isoformat(), directive.window_end.isoformat()],
        "observation_files": [str(p) for p in found["observations"].paths],
        "interaction_files": (
            [str(p) for p in found["interactions"].paths] if "interactions" in found else []
        ),
        "areas": [a.name for a in directive.areas],
        "areas_bounds": [list(a.geometry.bounds) for a in directive.areas],
        "areas_wkt": [shapely.to_wkt(a.geometry, rounding_precision=-1) for a in directive.areas],
        "rows_limit": rows_limit,
    }


def warm_cache(folder: Path) -> None:
    """Read every evidence file once, untimed, so that no run pays for a cold disk."""
    started = time.perf_counter()
    size = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as f:
                while chunk := f.read(1 << 23):
                    size += len(chunk)
    seconds = time.perf_counter() - started
    print(f"read {size / 2**30:.1f} GiB of evidence in {seconds:.0f} s (warm-up)", file=sys.stderr)


def child_command(kind: str, spec_file: Path, result_file: Path) -> list[str]:
    own = [__file__, "--child", kind, "--spec", str(spec_file), "--result", str(result_file)]
    if kind == "spatial":
        uv = shutil.which("uv")
        if uv is None:
            raise SystemExit("the spatial run needs uv (an isolated env with DuckDB 1.5)")
        return [
            uv,
            "run",
            "--quiet",
            "--isolated",
            "--no-project",
            "--python",
            sys.executable,
            "--with",
            f"duckdb=={SPATIAL_VERSION}",
            "--with",
            f"duckdb-extension-spatial=={SPATIAL_VERSION}",
            "python",
            *own,
        ]
    if kind == "geopandas" and importlib.util.find_spec("geopandas") is None:
        uv = shutil.which("uv")
        if uv is None:
            raise SystemExit("the GeoPandas run needs geopandas: uv sync --group bench")
        return [uv, "run", "--quiet", "--frozen", "--group", "bench", "python", *own]
    return [sys.executable, *own]


def measure(kind: str, spec: Spec, scratch: Path) -> Result:
    spec_file = scratch / "spec.json"
    spec_file.write_text(json.dumps(spec))
    result_file = scratch / f"{kind}.json"
    print(f"running {kind} ...", file=sys.stderr, flush=True)
    wall = time.perf_counter()
    done = subprocess.run(
        child_command(kind, spec_file, result_file), stdout=subprocess.PIPE, text=True
    )
    if done.returncode:
        sys.stderr.write(done.stdout[-2000:])
        raise SystemExit(f"the {kind} run failed with exit status {done.returncode}")
    result: Result = json.loads(result_file.read_text())
    result["wall_seconds"] = time.perf_counter() - wall
    print(f"  {kind}: {result['seconds']:.1f} s", file=sys.stderr, flush=True)
    return result


def machine() -> str:
    import duckdb

    cpu = platform.processor() or platform.machine()
    ram = "RAM unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {ram}, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__} (fairban)"
    )


def _goal(ratio: float, goal: float) -> str:
    if ratio >= goal:
        return f"met ({ratio:.2f}x, goal {goal:g}x)"
    return f"**not met**: {ratio:.2f}x, goal {goal:g}x ({goal / ratio:.1f}x short)"


def report(spec: Spec, results: dict[str, Result]) -> None:
    presence = results["presence"]
    scanned = int(presence["scanned"])
    rate = {k: scanned / float(r["seconds"]) for k, r in results.items() if k != "geopandas"}
    if "geopandas" in results:
        gp = results["geopandas"]
        rate["geopandas"] = int(gp["rows"]) / float(gp["seconds"])
    spatial = rate.get("spatial")

    command = ["uv", "run", "--group", "bench", "python", *sys.argv]
    print(f"Command: `{shlex.join(command)}`  ")
    print(f"Machine: {machine()}  ")
    if "spatial" in results:
        s = results["spatial"]
        print(
            f"Spatial join: DuckDB {s['duckdb']} + `duckdb-extension-spatial=={SPATIAL_VERSION}` "
            f"(`{s['extension']}`), isolated env; "
            f"plan uses SPATIAL_JOIN: {'yes' if s['spatial_join_operator'] else 'no'}  "
        )
    print(
        f"Observations: {int(presence['observations_total']):,} in the files, "
        f"{scanned:,} in the window (the rows/s denominator)\n"
    )
    print("| run | observations | found | seconds | obs/s | peak RSS MiB | vs spatial join |")
    print("|---|---:|---:|---:|---:|---:|---:|")

    def line(kind: str, label: str, rows: int, found: str) -> None:
        if kind not in results:
            return
        r = results[kind]
        vs = f"{rate[kind] / spatial:.2f}x" if spatial else "-"
        print(
            f"| {label} | {rows:,} | {found} | {float(r['seconds']):.1f} | {rate[kind]:,.0f} "
            f"| {float(r['peak_rss_mib']):,.0f} | {vs} |"
        )

    line(
        "presence",
        "presence: fairban (SQL pre-filter + probability)",
        scanned,
        f"{int(presence['candidates']):,} candidates, {int(presence['near']):,} p>0, "
        f"{int(presence['inside']):,} inside",
    )
    if "spatial" in results:
        line(
            "spatial",
            "presence: DuckDB spatial join (ST_Contains)",
            scanned,
            f"{int(results['spatial']['inside']):,} inside",
        )
    if "geopandas" in results:
        gp = results["geopandas"]
        label = "presence: GeoPandas sjoin within"
        if int(gp["rows"]) < scanned:
            label += f" (first {int(gp['rows']):,} rows; {scanned / rate['geopandas']:,.0f} s for all, extrapolated)"
        line("geopandas", label, int(gp["rows"]), f"{int(gp['inside']):,} inside")
    if "engine" in results:
        e = results["engine"]
        found = f"{int(e['decisions']):,} accounts, " + ", ".join(
            f"{n:,} {m}" for m, n in e["counts"].items() if m != "none"
        )
        line("engine", "whole run: engine `target()` (all signals)", scanned, found)
    if "engine-capped" in results:
        label = f"whole run: engine, DuckDB `memory_limit={spec['memory_limit']}`"
        line("engine-capped", label, scanned, "")
    line("cli", "whole run: `fairban target -q` (validation + writing)", scanned, "")

    print("\nGoals:\n")
    if spatial:
        print(f"- presence, fairban vs spatial join: {_goal(rate['presence'] / spatial, 3)}")
    if "geopandas" in rate:
        print(
            f"- presence, fairban vs GeoPandas: {_goal(rate['presence'] / rate['geopandas'], 30)}"
        )
    for kind, label in (
        ("engine", "engine"),
        ("engine-capped", "engine, capped"),
        ("cli", "command line"),
    ):
        if kind in rate and spatial:
            print(
                f"- whole run ({label}) vs spatial join of presence alone: {_goal(rate[kind] / spatial, 1)}"
            )
    for kind in ("engine", "engine-capped", "cli"):
        if kind in results:
            peak = float(results[kind]["peak_rss_mib"]) / GIB
            verdict = "met" if peak < 4 else f"**not met** ({peak / 4:.2f}x the limit)"
            print(f"- peak memory ({kind}) under 4 GiB: {verdict}, {peak:.2f} GiB")

    for kind in ("engine", "engine-capped"):
        if kind not in results:
            continue
        e = results[kind]
        total = float(e["seconds"])
        capped = f", DuckDB memory_limit={spec['memory_limit']}" if kind == "engine-capped" else ""
        print(f"\nWhere the engine's time goes{capped} (backend calls timed from outside):\n")
        print("| part | seconds | share | peak RSS MiB |")
        print("|---|---:|---:|---:|")
        for name, seconds, peak in e["breakdown"]:
            print(f"| {name} | {seconds:.1f} | {100 * seconds / total:.0f}% | {peak:,.0f} |")
        print(f"| total | {total:.1f} | 100% | {float(e['peak_rss_mib']):,.0f} |")
    if "cli" in results and results["cli"]["parts"]:
        parts = ", ".join(f"`{n}` {t:.1f} s" for n, t in results["cli"]["parts"])
        print(f"\nThe command's {float(results['cli']['seconds']):.1f} s: {parts}.")
    if "floors" in results:
        _report_floors(results["floors"], float(results["spatial"]["seconds"]) if spatial else None)
    if "presence" in results:
        p = float(presence["python_seconds"])
        print(
            f"\nPresence (fairban): {p:.1f} s of {float(presence['seconds']):.1f} s in "
            f"`index.probability` on {int(presence['candidates']):,} candidates."
        )


FLOOR_LABELS = {
    "presence_columns": "the presence stage's columns, rows in an area's bounding box",
    "observations_by_account": "the window's observations grouped by account",
    "interactions_by_pair": "the window's interactions grouped by (src, dst)",
}


def _report_floors(floors: Result, spatial_seconds: float | None) -> None:
    """What the goals leave room for: each floor's time, and the best ratio it allows."""
    print(
        "\nFloors: bare queries on fairban's DuckDB over the plain files, "
        "each the least that part of the run must do:\n"
    )
    print("| query | rows out | seconds | best possible vs spatial join |")
    print("|---|---:|---:|---:|")
    total = 0.0
    for name, seconds, rows in floors["parts"]:
        total += float(seconds)
        best = f"{spatial_seconds / float(seconds):.2f}x" if spatial_seconds else "-"
        print(f"| {FLOOR_LABELS.get(name, name)} | {int(rows):,} | {float(seconds):.1f} | {best} |")
    best = f"{spatial_seconds / total:.2f}x" if spatial_seconds else "-"
    print(f"| all three (a lower bound of the whole run) | | {total:.1f} | {best} |")
    if spatial_seconds:
        first = floors["parts"][0]
        print(
            f"\nEven with free geometry, the presence stage can be at most "
            f"{spatial_seconds / float(first[1]):.2f}x the spatial join here (goal 3x), "
            f"and the whole run at most {spatial_seconds / total:.2f}x (goal 1x)."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=Path, help="a simulated world (directive.yaml, evidence/)")
    parser.add_argument(
        "--rows-limit", type=int, help="GeoPandas reads at most N observations (extrapolated)"
    )
    parser.add_argument(
        "--memory-limit",
        help="also run the engine on a DuckDB with this memory_limit (e.g. 3GB)",
    )
    parser.add_argument("--only", nargs="+", choices=KINDS, help="run only these")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        spec = json.loads(args.spec.read_text())
        result = CHILDREN[args.child](spec)
        args.result.write_text(json.dumps(result))
        return
    if args.world is None:
        parser.error("--world DIR is required")
    kinds = [k for k in KINDS if k in (args.only or KINDS)]
    if not args.memory_limit:
        if args.only and "engine-capped" in args.only:
            parser.error("engine-capped needs --memory-limit")
        kinds = [k for k in kinds if k != "engine-capped"]
    if "presence" not in kinds:
        kinds.insert(0, "presence")  # it counts the observations for every rate
    spec = make_spec(args.world, args.rows_limit)
    spec["memory_limit"] = args.memory_limit
    warm_cache(Path(spec["evidence"]))
    with tempfile.TemporaryDirectory(prefix="fairban-bench-") as scratch:
        results = {kind: measure(kind, spec, Path(scratch)) for kind in kinds}
    report(spec, results)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


if __name__ == "__main__":
    main()
