"""Spark judges from the store as DuckDB does: the same files, the same decisions.

Skipped when pyspark or Java 17 is missing, unless FAIRBAN_REQUIRE_SPARK is set (CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fairban.contract import load_directive
from fairban.store.ingest import ingest
from fairban.store.judge import judge
from fairban.store.layout import Store
from fairban.world import WorldConfig, simulate_world

from .test_store import assert_same, directive_at

REQUIRED = bool(os.environ.get("FAIRBAN_REQUIRE_SPARK"))
try:
    import pyspark  # noqa: F401
except ImportError:
    if REQUIRED:
        raise
    pytest.skip("pyspark is not installed (the 'spark' extra)", allow_module_level=True)

from fairban.targeting.backends.spark import (  # noqa: E402
    SparkBackend,
    SparkUnavailableError,
    java_version,
    spark_session,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    try:
        java_version()
    except SparkUnavailableError as error:
        if REQUIRED:
            raise
        pytest.skip(str(error))
    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store-spark") / "world"
    simulate_world(WorldConfig(accounts=800, seed=7, days=60), root)
    return root


@pytest.mark.parametrize("days_back", [1, 0])
def test_spark_judges_from_the_store_as_duckdb_does(
    spark: Any, world: Path, tmp_path: Path, days_back: int
) -> None:
    store = Store(tmp_path / "store", create=True)
    ingest(store, world / "evidence")
    as_of = load_directive(world / "directive.yaml").issued_at - timedelta(days=days_back)
    directive = directive_at(world, tmp_path / "d", as_of)
    duck = judge(store, directive, as_of=as_of)
    backend = SparkBackend(session=spark)
    try:
        on_spark = judge(store, directive, as_of=as_of, backend=backend)
    finally:
        backend.close()
    assert_same(on_spark.result.decisions, duck.result.decisions)
    assert "suspend" in on_spark.result.decisions.column("measure").to_pylist()
