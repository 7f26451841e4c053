"""The Spark backend (issue 6): the same feature definitions on Spark give the same
decisions, risks and reasons as on DuckDB, while reading only the window's days and
sending only the pre-filter's candidates to Python.

One Spark (local[2]) for the module; the world is small (800 accounts, 60 days) but
has every kind of account. Half its IP observations lose their position, so both
backends place them with ip2region; half of those get an address that cannot be
placed (IPv6, private), which both keep without a position. A corrupt file in a day
partition outside the directive's window would fail any engine that opened it.

Skipped when pyspark or Java 17 is missing, unless FAIRBAN_REQUIRE_SPARK is set (CI).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from fairban.config import get_settings
from fairban.contract import TABLES, Directive, load_directive
from fairban.geo.presence import M_PER_DEG, AreaIndex
from fairban.targeting import TargetResult, features, target
from fairban.targeting.backends.duckdb import DuckDBBackend
from fairban.targeting.run import run_target
from fairban.world import WorldConfig, simulate_world

REQUIRED = bool(os.environ.get("FAIRBAN_REQUIRE_SPARK"))
try:
    import pyspark  # noqa: F401
except ImportError:
    if REQUIRED:
        raise
    pytest.skip("pyspark is not installed (the 'spark' extra)", allow_module_level=True)

from fairban.targeting.backends.spark import (  # noqa: E402
    INSTALL_HINT,
    SparkBackend,
    SparkUnavailableError,
    java_version,
    local_cores,
    package_zip,
    prune_days,
    spark_session,
    to_spark_sql,
    window_days,
)

pytestmark = [
    # fairban hands Spark Arrow only; mapInArrow's check for pandas 3 warns all the same
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    # one Spark and one world for the module: with `pytest -n N --dist loadgroup`, on one
    # worker (plain `--dist load` spreads the tests, and each worker starts its own)
    pytest.mark.xdist_group("spark"),
]

#: risks, probabilities and sums of them may differ in the last bits (sums in another
#: order, a median interpolated another way); counts, measures and texts may not
TOLERANCE = 1e-9
OUTSIDE_DAY = "day=2018-12-01"  # long before the directive's window
IP_ROWS = (
    "SELECT count(*) AS n, count(lat) AS placed, sum(lat) AS lat, sum(lon) AS lon, "
    "sum(accuracy_m) AS acc FROM observations WHERE source = 'ip'"
)


@dataclass(frozen=True)
class Runs:
    directive: Directive
    evidence: Path
    duck: TargetResult
    spark: TargetResult
    backend: SparkBackend
    candidates: int  # rows of the pre-filter, counted by DuckDB
    in_window: int  # observations in the window
    ip_rows: dict[str, Any]  # IP observations as DuckDB's view gives them
    unplaced: dict[str, int]  # IP-only rows DuckDB's check found it cannot place, by why


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    try:
        java_version()
    except SparkUnavailableError as error:
        if REQUIRED:
            raise
        pytest.skip(str(error))
    # the driver's memory as `fairban target --engine spark` gives it
    session = spark_session("local[2]", driver_memory=get_settings().spark_driver_memory)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spark") / "world"
    simulate_world(WorldConfig(accounts=800, seed=7, days=60), root)
    evidence = root / "evidence"
    # half the IP rows lose their position: the views must place them from the address
    for part in sorted((evidence / "observations").rglob("*.parquet")):
        table = pq.read_table(part)
        is_ip = np.asarray(pc.equal(table.column("source"), "ip").to_numpy(zero_copy_only=False))
        blank = is_ip & (np.arange(table.num_rows) % 2 == 0)
        for name in ("lat", "lon", "accuracy_m"):
            values = table.column(name).combine_chunks()
            kept = pa.array(values.to_numpy(zero_copy_only=False), pa.float64(), mask=blank)
            table = table.set_column(table.schema.get_field_index(name), name, kept)
        ips = np.asarray(table.column("ip").to_pylist(), dtype=object)
        ips[blank & (np.arange(table.num_rows) % 8 == 0)] = "240e:1::1"
        ips[blank & (np.arange(table.num_rows) % 8 == 4)] = "10.1.2.3"
        table = table.set_column(table.schema.get_field_index("ip"), "ip", pa.array(ips.tolist()))
        pq.write_table(table, part)
    return root


def _outside_day(evidence: Path) -> None:
    for table in ("observations", "interactions"):
        folder = evidence / table / OUTSIDE_DAY
        folder.mkdir()
        (folder / "part-0.parquet").write_bytes(b"not a parquet file: never to be opened")


@pytest.fixture(scope="module")
def runs(world: Path, spark: Any) -> Iterator[Runs]:
    directive = load_directive(world / "directive.yaml")
    evidence = world / "evidence"
    duck = target(directive, evidence)

    window = features.Window(directive.window_start, directive.window_end)
    index = AreaIndex([a.name for a in directive.areas], [a.geometry for a in directive.areas])
    db = DuckDBBackend()
    db.open_evidence(evidence)
    counted = db.query(f"SELECT count(*) AS n FROM ({_prefilter(window, index)})")
    in_window = db.query(f"SELECT count(*) AS n FROM observations WHERE {window.where()}")
    ip_rows = db.query(IP_ROWS).to_pylist()[0]
    unplaced = dict(db.check_table("observations").ip_unplaced)
    db.close()

    _outside_day(evidence)  # after DuckDB, which reads every file
    backend = SparkBackend(session=spark)
    result = target(directive, evidence, backend=backend)
    yield Runs(
        directive,
        evidence,
        duck,
        result,
        backend,
        int(counted.column("n")[0].as_py()),
        int(in_window.column("n")[0].as_py()),
        ip_rows,
        unplaced,
    )
    backend.close()


def _prefilter(window: features.Window, index: AreaIndex) -> str:
    envelope = features.envelope_sql([(*a.bounds, M_PER_DEG * a.cos_min) for a in index.areas])
    return features.prefilter_sql(window, index.sql_prefilter(), envelope)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= TOLERANCE * max(1.0, abs(a))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _rows(result: TargetResult) -> list[dict[str, Any]]:
    return result.decisions.sort_by("account_id").to_pylist()


@pytest.mark.slow
def test_spark_gives_duckdbs_decisions_risks_and_reasons(runs: Runs) -> None:
    duck, spark = _rows(runs.duck), _rows(runs.spark)
    assert [r["account_id"] for r in spark] == [r["account_id"] for r in duck]
    assert runs.spark.counts() == runs.duck.counts()
    assert runs.duck.counts()["suspend"] > 10  # a world where decisions are made
    for d, s in zip(duck, spark, strict=True):
        for column in ("platform", "person_id", "measure", "strength", "area", "home_gb"):
            assert s[column] == d[column], (d["account_id"], column)
        assert _close(s["risk"], d["risk"]), d["account_id"]
        assert _close(s["home_lat"], d["home_lat"]), d["account_id"]
        # the same codes and sentences, the numbers behind them to the tolerance
        assert _close(json.loads(s["reasons"]), json.loads(d["reasons"])), d["account_id"]
    codes = {c["code"] for r in duck for c in json.loads(r["reasons"])}
    assert {"PRESENCE_SUSTAINED", "OUTREACH_STRANGERS", "DEVICE_FARM", "CASHOUT"} <= codes


@pytest.mark.slow
def test_every_feature_is_the_same(runs: Runs) -> None:
    duck = runs.duck.features.sort_by("account_id")
    spark = runs.spark.features.sort_by("account_id")
    assert spark.column_names == duck.column_names
    for name in duck.column_names:
        d, s = duck.column(name).to_pylist(), spark.column(name).to_pylist()
        unequal = [i for i, (x, y) in enumerate(zip(d, s, strict=True)) if not _close(x, y)]
        assert not unequal, (name, [(d[i], s[i]) for i in unequal[:3]])
    assert runs.spark.observations_near == runs.duck.observations_near


@pytest.mark.slow
def test_ip_only_observations_are_placed_alike(runs: Runs) -> None:
    duck = runs.ip_rows
    assert duck["n"] - duck["placed"] == sum(runs.unplaced.values())
    assert set(runs.unplaced) == {"IPv6", "private or reserved"}
    assert _close(runs.backend.query(IP_ROWS).to_pylist()[0], duck)
    spark = runs.backend.check_table("observations")
    assert spark.proven
    assert dict(spark.ip_unplaced) == runs.unplaced


@pytest.mark.slow
def test_only_the_windows_day_partitions_are_read(runs: Runs) -> None:
    for table in ("observations", "interactions"):
        read = runs.backend.files[table]
        assert read
        assert not [p for p in read if OUTSIDE_DAY in p.parts], table
    # the same bounds reach Spark as a partition filter (the plan names them)
    plan = runs.backend.plan("SELECT count(*) FROM observations")
    first, last = window_days(
        features.Window(runs.directive.window_start, runs.directive.window_end)
    )
    assert "PartitionFilters: [isnotnull(day" in plan
    assert f">= {first})" in plan
    assert f"<= {last})" in plan


@pytest.mark.slow
def test_the_area_prefilter_runs_in_the_scan_before_python(runs: Runs) -> None:
    # only the pre-filter's candidates reached the presence stage's Python
    assert runs.backend.rows_to_python["near"] == runs.candidates
    assert runs.candidates < runs.in_window / 5
    window = features.Window(runs.directive.window_start, runs.directive.window_end)
    index = AreaIndex(
        [a.name for a in runs.directive.areas], [a.geometry for a in runs.directive.areas]
    )
    plan = runs.backend.plan(_prefilter(window, index))
    assert "Exchange" not in plan  # filtered where it is read: no shuffle before it
    scan = next(line for line in plan.splitlines() if "FileScan parquet" in line)
    # the window and the areas' envelope are handed to the Parquet reader itself
    assert "GreaterThan(ts," in scan
    assert "LessThanOrEqual(ts," in scan
    assert "Or(GreaterThan(accuracy_m,10000.0)" in scan


@pytest.mark.slow
def test_the_contract_check_runs_on_spark_too(world: Path, spark: Any, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    shutil.copytree(world / "evidence", clean, ignore=shutil.ignore_patterns(OUTSIDE_DAY))
    backend = SparkBackend(session=spark)
    try:
        backend.open_evidence(clean)
        assert all(backend.check_table(name).proven for name in TABLES)
        accounts = pq.read_table(clean / "accounts.parquet")
        platforms = accounts.column("platform").to_pylist()
        platforms[3] = "WeChat"  # not a lowercase name
        broken = accounts.set_column(1, "platform", pa.array(platforms, pa.string()))
        pq.write_table(broken, clean / "accounts.parquet")
        backend.open_evidence(clean)
        assert not all(backend.check_table(name).proven for name in TABLES)
        ids = accounts.column("account_id").to_pylist()
        ids[3] = "\t\u3000"  # blank, as the validator says: Java reads the same class
        blank = accounts.set_column(0, "account_id", pa.array(ids, pa.string()))
        pq.write_table(blank, clean / "accounts.parquet")
        backend.open_evidence(clean)
        assert not all(backend.check_table(name).proven for name in TABLES)
        ids[3] = "\ta"  # not blank
        pq.write_table(
            accounts.set_column(0, "account_id", pa.array(ids, pa.string())),
            clean / "accounts.parquet",
        )
        backend.open_evidence(clean)
        assert all(backend.check_table(name).proven for name in TABLES)
    finally:
        backend.close()


@pytest.mark.slow
def test_fairban_target_engine_spark_on_csv_evidence(
    world: Path, spark: Any, tmp_path: Path
) -> None:
    """The command, end to end, on CSV evidence: the same decisions.csv as DuckDB's."""
    from fairban.cli import app

    csv = _as_csv(world / "evidence", tmp_path / "csv")
    runner = CliRunner()
    written = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / engine
        args = ["target", str(world / "directive.yaml"), "--data", str(csv), "--out", str(out)]
        done = runner.invoke(app, [*args, "-q", "--engine", engine], catch_exceptions=False)
        assert done.exit_code == 0, done.output
        written[engine] = pacsv.read_csv(out / "decisions.csv").sort_by("account_id")
    duck, spark_rows = written["duckdb"].to_pylist(), written["spark"].to_pylist()
    assert len(duck) > 400
    assert [r["account_id"] for r in spark_rows] == [r["account_id"] for r in duck]
    for d, s in zip(duck, spark_rows, strict=True):
        d["reasons"], s["reasons"] = json.loads(d["reasons"]), json.loads(s["reasons"])
        assert _close(s, d), d["account_id"]


def _as_csv(evidence: Path, out: Path) -> Path:
    """The evidence as one CSV per table, timestamps in ISO 8601 with an offset."""
    out.mkdir()
    for name in ("accounts", "observations", "interactions", "confirmed"):
        path = evidence / f"{name}.parquet"
        parts = [path] if path.exists() else sorted((evidence / name).rglob("*.parquet"))
        table = pa.concat_tables(pq.read_table(p) for p in parts if OUTSIDE_DAY not in p.parts)
        for i, field in enumerate(table.schema):
            if pa.types.is_timestamp(field.type):
                iso = pc.strftime(table.column(i), format="%Y-%m-%dT%H:%M:%S+00:00")
                table = table.set_column(i, field.name, iso)
        pacsv.write_csv(table, out / f"{name}.csv")
    return out


# --------------------------------------------------------------------------- however started


@pytest.mark.slow
def test_fairban_target_on_spark_without_the_environment_on_path(
    world: Path, tmp_path: Path
) -> None:
    """As a systemd unit or a pipx install starts it: the environment's ``fairban``
    script by its path, PATH with only the system's folders (whose ``python3``, if any,
    cannot import fairban). Spark's Python workers must still run this fairban."""
    command = Path(sys.executable).parent / "fairban"
    if not command.exists():
        pytest.skip(f"no {command}: not running from the environment's interpreter")
    evidence = tmp_path / "evidence"
    shutil.copytree(world / "evidence", evidence, ignore=shutil.ignore_patterns(OUTSIDE_DAY))
    directive = world / "directive.yaml"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TMPDIR": tempfile.gettempdir()}
    if "JAVA_HOME" in os.environ:
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    spark_out, duck_out = tmp_path / "spark", tmp_path / "duckdb"
    done = subprocess.run(
        [str(command), "target", str(directive), "--data", str(evidence), "--out",
         str(spark_out), "--engine", "spark", "-q"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_target(directive, evidence, duck_out)
    duck = pacsv.read_csv(duck_out / "decisions.csv").sort_by("account_id").to_pylist()
    spark_rows = pacsv.read_csv(spark_out / "decisions.csv").sort_by("account_id").to_pylist()
    assert len(duck) > 400
    assert [r["account_id"] for r in spark_rows] == [r["account_id"] for r in duck]
    for d, s in zip(duck, spark_rows, strict=True):
        d["reasons"], s["reasons"] = json.loads(d["reasons"]), json.loads(s["reasons"])
        assert _close(s, d), d["account_id"]


@pytest.mark.slow
def test_a_cluster_gets_this_fairban_shipped_to_workers_that_lack_it(tmp_path: Path) -> None:
    """Executors whose Python has fairban's dependencies but not fairban (here: this
    interpreter without its site's .pth files) import the zip the driver ships."""
    site = sysconfig.get_paths()["purelib"]
    worker = tmp_path / "python-without-fairban"
    path = f'PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site}"'
    worker.write_text(f'#!/bin/sh\n{path} exec {sys.executable} -S "$@"\n')
    worker.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    lacks = subprocess.run(
        [str(worker), "-c", "import fairban"], capture_output=True, text=True, env=env, check=False
    )
    assert "No module named 'fairban'" in lacks.stderr  # the workers cannot import it alone
    code = (
        "from fairban.targeting.backends.spark import spark_session\n"
        f"session = spark_session('local[1]', conf={{'spark.pyspark.python': {str(worker)!r}}},"
        " ship_package=True)\n"
        "rdd = session.sparkContext.parallelize([0], 1)\n"
        "print(rdd.map(lambda _: __import__('fairban.geo.census').__file__).collect()[0])\n"
        "session.stop()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    shipped = done.stdout.strip().splitlines()[-1]
    assert ".zip/fairban/__init__.py" in shipped


def test_the_shipped_package_holds_fairban_and_its_data(tmp_path: Path) -> None:
    with zipfile.ZipFile(package_zip()) as archive:
        names = set(archive.namelist())
    assert {
        "fairban/__init__.py",
        "fairban/geo/iplocate.py",
        "fairban/geo/data/census_2020.csv",
    } <= names
    assert not [n for n in names if "__pycache__" in n]


# --------------------------------------------------------------------------- no JVM


def _cli(tmp_path: Path, prelude: str, env: dict[str, str] | None = None) -> Any:
    out = tmp_path / "out"
    code = (
        f"import sys; {prelude}; from fairban.cli import main; "
        f"sys.argv = ['fairban', 'target', 'd.yaml', '--data', 'ev', '--out', {str(out)!r}, "
        "'--engine', 'spark']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=tmp_path,
        check=False,
    )
    assert not out.exists()  # nothing written
    return done


def test_without_pyspark_the_spark_engine_says_what_to_install(tmp_path: Path) -> None:
    done = _cli(tmp_path, "sys.modules['pyspark'] = None")
    assert done.returncode == 1
    assert done.stderr == INSTALL_HINT + "\n"


def test_without_java_17_the_spark_engine_says_so(tmp_path: Path) -> None:
    done = _cli(tmp_path, "pass", {"JAVA_HOME": str(tmp_path / "no-jdk")})
    assert done.returncode == 1
    assert done.stderr.startswith("the spark engine needs Java 17 or newer")
    assert len(done.stderr.splitlines()) == 1


def test_the_duckdb_path_imports_no_pyspark(tmp_path: Path) -> None:
    code = (
        "import sys; import fairban.cli, fairban.targeting.run, fairban.targeting.engine; "
        "from fairban.targeting.run import open_backend; open_backend('duckdb').close(); "
        "print(sorted(m for m in sys.modules if m.startswith(('pyspark', 'py4j'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_day_partitions_outside_the_window_are_pruned(tmp_path: Path) -> None:
    window = features.Window(
        datetime(2019, 4, 16, 16, tzinfo=UTC), datetime(2019, 10, 13, 16, tzinfo=UTC)
    )
    assert window_days(window) == (datetime(2019, 4, 15).date(), datetime(2019, 10, 14).date())
    root = tmp_path / "observations"
    names = [
        "day=2019-04-14/a.parquet",  # before, even in the widest local time
        "day=2019-04-15/a.parquet",  # may hold 2019-04-16 16:00 UTC in local time
        "day=2019-07-01/sub/b.parquet",
        "day=2019-10-14/a.parquet",
        "day=2019-10-15/a.parquet",  # after
        "loose.parquet",  # not partitioned: fairban cannot tell, so it is read
        "region=yn/day=2020-01-01/a.parquet",
    ]
    paths = tuple(root / n for n in names)
    kept = {p.relative_to(root).as_posix() for p in prune_days(paths, root, window)}
    assert kept == {names[1], names[2], names[3], names[5]}
    assert prune_days(paths, root, None) == list(paths)


def test_spark_sql_of_the_contract_checks() -> None:
    sql = to_spark_sql("SELECT count(*) FILTER (WHERE NOT isfinite(x)) FROM t")
    assert "ISNAN(x)" in sql
    assert "CAST('Infinity' AS DOUBLE)" in sql
    sql = to_spark_sql("SELECT regexp_full_match(p, '[a-z]+') FROM t")
    assert "p RLIKE '^(?:[a-z]+)$'" in sql


def test_local_masters_know_their_cores() -> None:
    assert local_cores("local[2]") == 2
    assert local_cores("local") == 1
    assert local_cores("local[*]") == (os.cpu_count() or 1)
    assert local_cores("spark://host:7077") is None
