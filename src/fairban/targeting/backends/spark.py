"""The Spark backend: the same feature SQL, the same Python geometry, on Apache Spark.

For evidence that outgrows one machine (``fairban target --engine spark``). The
engine (``targeting.engine``) drives it exactly as it drives DuckDB:

- the evidence tables become temporary views with the contract's canonical columns,
  built like DuckDB's (CSV cast from text, Parquet cast to the contract's types,
  ``accounts.kind`` defaulting to ``personal``); IP-only observations are placed by
  ``IpLocator.place``, run by ``mapInArrow`` on those rows alone (NULL lat and lon
  where an address cannot be placed, as in DuckDB);
- day-partitioned Parquet (``NAME/day=YYYY-MM-DD/...``) is read only for the days
  that can hold the directive's window: the file list is pruned here and the same
  bounds are given to Spark as a partition filter;
- each feature step is the DuckDB text of ``targeting.features``, transpiled with
  sqlglot at run time, materialised (persisted, counted) as a temporary view;
- the presence stage's geometry runs in the executors' Python workers, on Arrow
  batches of the rows the SQL pre-filter kept (``mapInArrow``): only candidates
  leave the JVM.

Nothing here is imported unless the Spark engine is asked for: the default install
has no pyspark.

Why one module of this size: it is one backend, like ``duckdb.py``; starting Spark so
that its workers import this fairban, reading the evidence as the contract says and
transpiling the SQL are what a Spark deployment has to read together.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from fairban.contract import TABLES, TableFiles, discover
from fairban.contract.schema import Table
from fairban.errors import FairbanError
from fairban.progress import Advance
from fairban.targeting.backends.base import NOT_PROVEN, BatchFunction, TableCheck
from fairban.targeting.backends.duckdb import _UNPLACED, _violations_sql

if TYPE_CHECKING:
    from fairban.targeting.features import Window

INSTALL_HINT = "the spark engine needs the 'spark' extra: pip install 'fairban[spark]'"
MIN_JAVA = 17


class SparkUnavailableError(FairbanError):
    """Spark cannot run here: pyspark or a suitable Java is missing."""


try:
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]  # py4j has no types
    from pyspark import SparkConf, SparkContext, StorageLevel
    from pyspark.errors import PySparkException
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import (
        ByteType,
        DataType,
        DateType,
        DecimalType,
        DoubleType,
        FloatType,
        IntegerType,
        LongType,
        ShortType,
        StringType,
        TimestampNTZType,
        TimestampType,
    )
except ImportError as missing:  # the default install: no pyspark
    raise SparkUnavailableError(INSTALL_HINT) from missing

# fairban hands Spark Arrow batches only; pandas is there because mapInArrow checks for it
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")

#: the views' SQL types, as Spark names them
_SPARK_TYPES = {
    pa.string(): "STRING",
    pa.float64(): "DOUBLE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP",
}
_NUMERIC = (
    ByteType,
    ShortType,
    IntegerType,
    LongType,
    FloatType,
    DoubleType,
    DecimalType,
)
#: a hive-style day partition: the simulator's layout, and the usual one
_DAY_PART = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")
_LOG4J2 = """\
# fairban: Spark writes its log to this file's sibling driver log, never the terminal
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n%ex
"""


# --------------------------------------------------------------------------- session


def java_version() -> int:
    """The major version of the ``java`` Spark will start (JAVA_HOME first, as Spark's
    launcher does); raises ``SparkUnavailableError`` when there is none or it is too old."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise SparkUnavailableError(
            f"the spark engine needs Java {MIN_JAVA} or newer: none found on PATH or in "
            "JAVA_HOME (install a JDK, e.g. apt-get install openjdk-17-jre-headless)"
        )
    try:
        shown = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SparkUnavailableError(
            f"the spark engine cannot run {java} -version: {error}"
        ) from error
    found = re.search(r'version "(\d+)(?:\.(\d+))?', shown.stderr + shown.stdout)
    if found is None:
        raise SparkUnavailableError(f"the spark engine cannot tell which Java {java} is")
    major = int(found.group(1))
    if major == 1 and found.group(2):  # "1.8.0_392" is Java 8
        major = int(found.group(2))
    if major < MIN_JAVA:
        raise SparkUnavailableError(
            f"the spark engine needs Java {MIN_JAVA} or newer; {java} is Java {major} "
            "(set JAVA_HOME to a newer JDK)"
        )
    return major


def local_cores(master: str) -> int | None:
    """Cores of a ``local[N]`` master (``local[*]``: this machine's); None for a cluster."""
    if master == "local":
        return 1
    found = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", master)
    if found is None:
        return None
    return (os.cpu_count() or 1) if found.group(1) == "*" else int(found.group(1))


def session_conf(
    master: str, *, log_level: str = "warn", driver_memory: str | None = None
) -> dict[str, str]:
    """The Spark configuration fairban starts with. Settings that results depend on
    (UTC, Arrow) always; sizes only for local masters, where a cluster's own
    ``spark-defaults.conf`` has nothing to say. ``driver_memory`` (e.g. ``2g``; the
    entry points pass ``Settings.spark_driver_memory``) is the local driver's memory;
    None leaves Spark's own default."""
    scratch = Path(tempfile.gettempdir()) / "fairban-spark"
    scratch.mkdir(parents=True, exist_ok=True)
    log4j = scratch / f"log4j2-{log_level}.properties"
    log4j.write_text(_LOG4J2.format(level=log_level))
    conf = {
        "spark.master": master,
        "spark.app.name": "fairban",
        # CAST(ts AS DATE), hour(ts): the same clock as DuckDB's (SET TimeZone = 'UTC')
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # the presence stage's batches: big enough that numpy and shapely pay off
        "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        # a few accounts with millions of rows: split their join partitions
        "spark.sql.adaptive.skewJoin.enabled": "true",
        "spark.ui.showConsoleProgress": "false",  # fairban draws its own progress
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j}",
        "spark.sql.warehouse.dir": str(scratch / "warehouse"),
    }
    cores = local_cores(master)
    if cores is not None:
        if driver_memory is not None:
            conf["spark.driver.memory"] = driver_memory
        conf |= {
            # 200 shuffle partitions are for clusters; locally 16 per core, which adaptive
            # execution coalesces on small worlds, so that a partition of the window's
            # 25 million pair-days at 10^8 stays small (the run at 10^8 took this and a
            # 3 GiB driver; with 2 GiB an aggregation ran out of memory)
            "spark.sql.shuffle.partitions": str(max(16, 16 * cores)),
            "spark.default.parallelism": str(max(4, 2 * cores)),
            "spark.sql.adaptive.advisoryPartitionSizeInBytes": "32m",
            # broadcast only what adaptive execution has measured: plan-time estimates
            # of the store's small, well-compressed Parquet files said "small" for a
            # join side that filled the driver at 10^8 (2 GiB, local[2])
            "spark.sql.autoBroadcastJoinThreshold": "-1",
            "spark.sql.adaptive.autoBroadcastJoinThreshold": "10MB",
            # list the evidence's day folders here rather than in a job of one task each
            "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
            "spark.ui.enabled": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.local.dir": str(scratch / "local"),
            # the workers run this interpreter, so they import this fairban, whatever
            # PATH says (spark_session hands it to pyspark as PYSPARK_PYTHON)
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
        }
    return conf


def spark_session(
    master: str = "local[2]",
    *,
    conf: Mapping[str, str] | None = None,
    log_level: str = "warn",
    driver_memory: str | None = None,
    ship_package: bool | None = None,
) -> SparkSession:
    """Start Spark on ``master`` (``session_conf``, then ``conf`` over it). The JVM's
    own output goes to ``driver_log()``, not to the terminal. Raises
    ``SparkUnavailableError`` without Java 17+.

    However fairban was started (a systemd unit or a pipx install has no virtual
    environment on PATH), the Python workers run the interpreter ``spark.pyspark.python``
    names: on a local master this one (``sys.executable``), which imports this fairban.
    ``ship_package`` (default: on a cluster master) also sends this fairban to the
    executors as a zip (``addPyFile``), ahead of any other on their path, so they run the
    driver's code; its dependencies must be in the executors' Python (docs/scale.md)."""
    java_version()
    settings = session_conf(master, log_level=log_level, driver_memory=driver_memory) | dict(
        conf or {}
    )
    spark_conf = SparkConf(loadDefaults=False)
    for key, value in settings.items():
        spark_conf.set(key, value)
    with _spark_home(), driver_log().open("ab") as sink:
        # pyspark.java_gateway has no annotations
        gateway = launch_gateway(  # type: ignore[no-untyped-call]
            spark_conf, popen_kwargs={"stdout": sink, "stderr": sink}
        )
    context = SparkContext(conf=spark_conf, gateway=gateway)
    # Spark honours spark.pyspark.python only under spark-submit; started from Python,
    # pyspark takes PYSPARK_PYTHON or "python3" from PATH. The conf as the JVM merged it
    # (fairban's, then spark-defaults.conf) decides, as Spark's documentation says.
    python = context.getConf().get("spark.pyspark.python")
    if python:
        context.pythonExec = python
    context.setLogLevel(log_level.upper())
    if ship_package if ship_package is not None else local_cores(master) is None:
        context.addPyFile(str(package_zip()))
    return SparkSession(context)


@contextlib.contextmanager
def _spark_home() -> Iterator[None]:
    """``SPARK_HOME`` while pyspark starts the JVM, then restored: without it the
    launcher script runs ``python3`` from PATH to find pyspark's own folder."""
    if "SPARK_HOME" in os.environ:
        yield
        return
    import pyspark

    os.environ["SPARK_HOME"] = str(Path(pyspark.__file__).parent)  # bin/ and jars/ are here
    try:
        yield
    finally:
        os.environ.pop("SPARK_HOME", None)


def package_zip() -> Path:
    """This fairban as a zip for ``addPyFile`` (sources and package data, no caches),
    written once per process next to the driver log and removed when it exits."""
    import fairban

    root = Path(fairban.__file__).parent
    target = driver_log().with_name(f"fairban-{os.getpid()}.zip")
    if not target.exists():
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, Path("fairban") / path.relative_to(root))
        partial.replace(target)
        atexit.register(target.unlink, missing_ok=True)
    return target


def driver_log() -> Path:
    """Where this process's Spark driver writes its output (JVM log, worker errors)."""
    return Path(tempfile.gettempdir()) / "fairban-spark" / f"driver-{os.getpid()}.log"


# --------------------------------------------------------------------------- SQL


def to_spark_sql(sql: str) -> str:
    """DuckDB-dialect SQL as Spark SQL; raises where sqlglot cannot say it exactly."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return tree.transform(_spark_functions).sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)


def _spark_functions(node: exp.Expression) -> exp.Expression:
    """The two DuckDB functions of the contract check that sqlglot leaves as they are."""
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "isfinite":
        (value,) = node.expressions
        infinity = exp.cast(exp.Literal.string("Infinity"), exp.DataType.Type.DOUBLE)
        return exp.paren(
            exp.and_(
                exp.not_(exp.Anonymous(this="isnan", expressions=[value.copy()])),
                exp.LT(this=exp.Abs(this=value.copy()), expression=infinity),
            ),
            copy=False,
        )
    if isinstance(node, exp.RegexpFullMatch) and isinstance(node.expression, exp.Literal):
        # RLIKE finds a match anywhere: anchor the contract's pattern to the whole value
        anchored = exp.Literal.string(f"^(?:{node.expression.this})$")
        return exp.RegexpLike(this=node.this.copy(), expression=anchored)
    return node


# --------------------------------------------------------------------------- evidence


def window_days(window: Window) -> tuple[date, date]:
    """The day partitions that may hold rows of ``window``: its UTC days and one more
    on each side, so a folder partitioned by local days (any offset within a day) is
    read whole where it matters."""
    start = window.start.astimezone(UTC).date() - timedelta(days=1)
    end = window.end.astimezone(UTC).date() + timedelta(days=1)
    return start, end


def prune_days(paths: tuple[Path, ...], root: Path, window: Window | None) -> list[Path]:
    """The files of a table folder that can hold rows of ``window``: a file under a
    ``day=YYYY-MM-DD`` folder outside ``window_days`` is left out; any other file is
    kept (fairban cannot tell what it holds)."""
    if window is None:
        return list(paths)
    first, last = window_days(window)
    kept = []
    for path in paths:
        days = [_DAY_PART.match(part) for part in path.relative_to(root).parts[:-1] if "=" in part]
        day = next((m.group(1) for m in days if m is not None), None)
        if day is None or first <= date.fromisoformat(day) <= last:
            kept.append(path)
    return kept


def _table_root(files: TableFiles) -> Path:
    """The table's folder: the ancestor of its files directly inside the evidence folder."""
    first = files.paths[0]
    if files.data_dir is not None:
        for parent in first.parents:
            if parent.parent == files.data_dir:
                return parent
    return first.parent


def _hive_layout(paths: list[Path], root: Path) -> bool:
    """Every file sits under the same ``key=value`` folders: Spark may infer them."""
    keys = {tuple(part.split("=", 1)[0] for part in p.relative_to(root).parts[:-1]) for p in paths}
    return len(keys) == 1 and all(
        all("=" in part for part in p.relative_to(root).parts[:-1]) for p in paths
    )


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class _PlaceIpOnly:
    """``mapInArrow`` over IP-only rows (source 'ip', an address, no lat and no lon):
    lat and lon from their ``ip``, accuracy_m the wider of the placement's and the
    given one; NULL lat and lon where the address cannot be placed. The rule of the
    streaming validator and of DuckDB's view (``duckdb._placed_sql``)."""

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import numpy as np

        from fairban.geo.iplocate import IpLocator

        for batch in batches:
            lat, lon, accuracy = IpLocator.default().place(batch.column("ip").to_pylist())
            given = batch.column("accuracy_m").to_numpy(zero_copy_only=False)
            placed = {"lat": lat, "lon": lon, "accuracy_m": np.fmax(accuracy, given)}
            columns = list(batch.columns)
            for name, values in placed.items():
                # NaN (not placed, and no accuracy given) becomes NULL
                columns[batch.schema.get_field_index(name)] = pa.array(values, from_pandas=True)
            yield pa.RecordBatch.from_arrays(columns, schema=batch.schema)


class _WhyUnplaced:
    """``mapInArrow``: why each address of a batch of unplaced IP-only rows is not placed."""

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from fairban.geo.iplocate import IpLocator

        for batch in batches:
            why = IpLocator.default().why_unplaced(batch.column("ip").to_pylist())
            yield pa.record_batch({"why": pa.array([str(w) for w in why], pa.string())})


class _EachBatch:
    """``mapInArrow`` around a ``BatchFunction``, counting the rows it is given and the
    rows it returns (Spark accumulators: no second pass to count them)."""

    def __init__(self, function: BatchFunction, seen: Any, kept: Any) -> None:
        self.function = function
        self.seen = seen
        self.kept = kept

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            self.seen.add(batch.num_rows)
            result = self.function(batch)
            self.kept.add(result.num_rows)
            yield result


# --------------------------------------------------------------------------- backend


class SparkBackend:
    """Runs fairban's feature SQL (DuckDB dialect, transpiled) on Spark.

    Works in a new session (its own views) of ``session``, or of the Spark this
    process already runs, which keep running after ``close``; otherwise starts Spark
    on ``master`` (``spark_session``: ``conf``, ``log_level``, ``driver_memory``) and
    stops it on ``close``.
    """

    dialect = "spark"
    errors: tuple[type[BaseException], ...] = (PySparkException, Py4JError)

    def __init__(
        self,
        master: str = "local[2]",
        *,
        session: SparkSession | None = None,
        conf: Mapping[str, str] | None = None,
        log_level: str = "warn",
        driver_memory: str | None = None,
    ) -> None:
        active = SparkContext._active_spark_context
        if session is None and active is not None:
            session = SparkSession(active)
        self._owned = session is None
        if session is None:
            self.spark = spark_session(
                master, conf=conf, log_level=log_level, driver_memory=driver_memory
            )
        else:
            self.spark = session.newSession()
        # a new session starts from the context's settings: the ones results depend on
        self.spark.conf.set("spark.sql.session.timeZone", "UTC")
        self.spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        self._tables: dict[str, DataFrame] = {}
        self._physical: dict[str, tuple[str, dict[str, DataType]]] = {}
        #: files each evidence view reads (after pruning), by table name
        self.files: dict[str, list[Path]] = {}
        #: rows that reached Python in each ``map_batches`` table, by name
        self.rows_to_python: dict[str, int] = {}

    # -- evidence -----------------------------------------------------------------------
    def open_evidence(self, data_dir: Path, window: Window | None = None) -> None:
        """Create the views ``accounts``, ``observations``, ``interactions``, ``confirmed``;
        with ``window``, day partitions outside it are not read."""
        found = discover(data_dir)
        self._physical.clear()
        self.files.clear()
        for spec in TABLES.values():
            files = found.get(spec.name)
            raw = None if files is None else self._read(files, window)
            if raw is None or files is None:
                empty = ", ".join(
                    f"CAST(NULL AS {_spark_type(c.type)}) AS {c.name}" for c in spec.columns
                )
                self.spark.sql(f"SELECT {empty} WHERE false").createOrReplaceTempView(spec.name)
                continue
            self._physical[spec.name] = (
                files.format,
                {f.name: f.dataType for f in raw.schema.fields},
            )
            self._canonical(spec, files, raw).createOrReplaceTempView(spec.name)

    def _read(self, files: TableFiles, window: Window | None) -> DataFrame | None:
        reader = self.spark.read
        if files.format == "csv":
            # RFC 4180: "" escapes a quote, quoted fields may span lines; text as text
            return reader.csv(
                [str(p) for p in files.paths],
                header=True,
                inferSchema=False,
                quote='"',
                escape='"',
                multiLine=True,
                mode="FAILFAST",
            )
        # union_by_name in DuckDB: files of one table may differ in columns
        reader = reader.option("mergeSchema", "true")
        if files.format == "parquet":
            self.files[files.name] = list(files.paths)
            return reader.parquet(*[str(p) for p in files.paths])
        root = _table_root(files)
        paths = prune_days(files.paths, root, window)
        self.files[files.name] = paths
        if not paths:
            return None
        if _hive_layout(paths, root):
            reader = reader.option("basePath", str(root))
        else:
            reader = reader.option("recursiveFileLookup", "true")
        raw = reader.parquet(*[str(p) for p in paths])
        day = next((f for f in raw.schema.fields if f.name == "day"), None)
        if window is not None and day is not None and isinstance(day.dataType, DateType):
            # the same bounds as the pruned list, as a partition filter Spark can see
            first, last = window_days(window)
            raw = raw.where(f"day BETWEEN DATE '{first}' AND DATE '{last}'")
        return raw

    def _canonical(self, spec: Table, files: TableFiles, raw: DataFrame) -> DataFrame:
        """The contract's columns and types, as DuckDBBackend._select makes them."""
        present = set(raw.columns)
        exprs = []
        for c in spec.columns:
            sql_type = _spark_type(c.type)
            if c.name not in present:
                expr = f"CAST(NULL AS {sql_type})"
            elif files.format == "csv":
                expr = f"CAST(NULLIF(TRIM({_quote(c.name)}), '') AS {sql_type})"
            else:
                expr = f"CAST({_quote(c.name)} AS {sql_type})"
            if spec.name == "accounts" and c.name == "kind":
                expr = f"COALESCE({expr}, 'personal')"
            exprs.append(f"{expr} AS {c.name}")
        table = raw.selectExpr(*exprs)
        if spec.name != "observations" or "ip" not in present:
            return table
        # IP-only rows go to Python alone (a Python UDF in the view would see every row),
        # and only when there are any: Parquet's null counts answer that from the footers
        # the IP-only rows before placement; never NULL, so the two parts hold every row
        needs = f"COALESCE({to_spark_sql(_UNPLACED)}, FALSE)"
        if table.where(needs).isEmpty():
            return table
        placed = table.where(needs).mapInArrow(_PlaceIpOnly(), table.schema)
        return table.where(f"NOT ({needs})").unionByName(placed)

    # -- a fast check of the contract --------------------------------------------------
    def check_table(self, name: str) -> TableCheck:
        """As ``DuckDBBackend.check_table``: one aggregate scan proves the table, or
        "not proven" (the row-precise validator then runs on it). Unplaced IP-only
        observations are counted in the scan and, when there are any, by why in a
        second pass over those rows alone."""
        if name not in self._physical:
            return TableCheck(proven=True)
        spec = TABLES[name]
        fmt, types = self._physical[name]
        if fmt == "csv" or not all(
            _physical_ok(spec.column(col).type, types[col]) for col in spec.names if col in types
        ):
            return NOT_PROVEN
        failures: tuple[type[BaseException], ...] = (*self.errors, sqlglot.errors.SqlglotError)
        unplaced = name == "observations" and "ip" in types
        extra = [f"count(*) FILTER (WHERE {_UNPLACED})"] if unplaced else []
        try:
            row = self.spark.sql(to_spark_sql(_violations_sql(spec, extra))).first()
            if row is None or any(int(v or 0) for v in row[: len(row) - len(extra)]):
                return NOT_PROVEN
            if not unplaced or not row[-1]:
                return TableCheck(proven=True)
            rows = self.spark.sql(to_spark_sql(f"SELECT ip FROM observations WHERE {_UNPLACED}"))
            why = rows.mapInArrow(_WhyUnplaced(), "why string").groupBy("why").count()
            counts = {str(r["why"]): int(r["count"]) for r in why.collect()}
        except failures:
            return NOT_PROVEN
        from fairban.geo.iplocate import Unplaced

        if str(Unplaced.NOT_AN_ADDRESS) in counts:
            return NOT_PROVEN
        return TableCheck(proven=True, ip_unplaced=counts)

    def open_files(self, name: str, paths: Sequence[Path], schema: pa.Schema) -> None:
        """The view ``name`` over Parquet files (an evidence store's day files)."""
        spark_schema = from_arrow_schema(schema)
        if paths:
            frame = self.spark.read.schema(spark_schema).parquet(*(str(p) for p in paths))
        else:
            frame = self.spark.createDataFrame([], spark_schema)
        frame.createOrReplaceTempView(name)

    # -- running SQL --------------------------------------------------------------------
    def create(self, name: str, sql: str) -> None:
        """Materialise ``sql`` (DuckDB dialect) as the view ``name``, persisted."""
        self._keep(name, self.spark.sql(to_spark_sql(sql)))

    def view(self, name: str, sql: str) -> None:
        self.spark.sql(to_spark_sql(sql)).createOrReplaceTempView(name)

    def register(self, name: str, table: pa.Table) -> None:
        self._keep(name, self.spark.createDataFrame(table, schema=from_arrow_schema(table.schema)))

    def query(self, sql: str) -> pa.Table:
        result: pa.Table = self.spark.sql(to_spark_sql(sql)).toArrow()
        return result

    def map_batches(
        self,
        name: str,
        sql: str,
        function: BatchFunction,
        schema: pa.Schema,
        advance: Advance,
    ) -> int:
        """``function`` runs in the executors' Python workers on Arrow batches of the
        rows ``sql`` keeps; the result stays in Spark as the view ``name``."""
        seen = self.spark.sparkContext.accumulator(0)
        kept = self.spark.sparkContext.accumulator(0)
        rows = self.spark.sql(to_spark_sql(sql))
        self._keep(
            name, rows.mapInArrow(_EachBatch(function, seen, kept), from_arrow_schema(schema))
        )
        self.rows_to_python[name] = int(seen.value)
        advance(int(seen.value))
        return int(kept.value)

    def plan(self, sql: str) -> str:
        """Spark's physical plan for ``sql`` (DuckDB dialect): what it will read and how."""
        # whole: Spark cuts each of a scan's lists (files, filters) at 100 characters
        self.spark.conf.set("spark.sql.maxMetadataStringLength", "1000000")
        frame = self.spark.sql(to_spark_sql(sql))
        return str(frame._jdf.queryExecution().executedPlan().toString())

    def _keep(self, name: str, frame: DataFrame) -> None:
        """Compute ``frame`` now and make it the view ``name``, cut from its lineage: a
        view that kept its plan would bring every earlier step into every later one's
        analysis (exponential in the pipeline's depth). A checkpoint folder, when Spark
        has one (``spark.checkpoint.dir``), survives the loss of an executor; the local
        checkpoint, in the executors' block stores, does not but needs no shared disk."""
        # Spark's UI and event log name each job by the step it computes
        self.spark.sparkContext.setJobDescription(f"fairban {name}")
        if self.spark.sparkContext.getCheckpointDir():
            frame = frame.checkpoint(eager=True)
        else:
            frame = frame.localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)
        frame.createOrReplaceTempView(name)
        self._tables[name] = frame

    def close(self) -> None:
        # the checkpoints' blocks go when Spark's cleaner sees their frames unreferenced
        for name in self._tables:
            self.spark.catalog.dropTempView(name)
        self._tables.clear()
        if self._owned:
            self.spark.stop()


def _physical_ok(contract: pa.DataType, physical: DataType) -> bool:
    if contract == pa.float64():
        return isinstance(physical, _NUMERIC)
    if contract == pa.string():
        return isinstance(physical, StringType)
    return isinstance(physical, TimestampType | TimestampNTZType)


def _spark_type(t: pa.DataType) -> str:
    return _SPARK_TYPES.get(t, "STRING")


__all__ = [
    "INSTALL_HINT",
    "SparkBackend",
    "SparkUnavailableError",
    "driver_log",
    "java_version",
    "package_zip",
    "prune_days",
    "spark_session",
    "to_spark_sql",
    "window_days",
]
