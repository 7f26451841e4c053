"""One feature run alone, osprey-style: inline input tables, the feature, its rows.

``run_feature(FEATURE, name=("col TYPE, ...", [row, ...]), ...)`` makes a fresh DuckDB
(UTC, as the backend), creates exactly the tables the feature declares it reads (a
missing or extra one fails the test: the declared inputs are the real ones), runs the
feature's SQL as the backend does (``CREATE TEMP TABLE name AS ...``) and returns its
rows as dicts, in ``ORDER BY ALL`` order. Input columns need only be those the SQL
uses. ``run_feature.query(sql, **tables)`` does the same for SQL that is no feature
(the later passes').
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest

from fairban.targeting.features import Feature, Scope, Window

#: an inline table: its columns as SQL ("account_id VARCHAR, p DOUBLE") and its rows
Table = tuple[str, list[tuple[Any, ...]]]

SCOPE = Scope(
    Window(datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 12, 31, tzinfo=UTC)),
    ("qq", "wechat"),
    "lat >= 23.5",  # the areas: everything north of 23.5 degrees
)


class FeatureRunner:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def __call__(
        self, feature: Feature, scope: Scope = SCOPE, **tables: Table
    ) -> list[dict[str, Any]]:
        assert sorted(tables) == sorted(feature.reads), f"{feature.name} reads {feature.reads}"
        self._create(tables)
        self.con.execute(f"CREATE TEMP TABLE {feature.name} AS {feature.sql(scope)}")
        return self._rows(f"SELECT * FROM {feature.name} ORDER BY ALL")

    def query(self, sql: str, **tables: Table) -> list[dict[str, Any]]:
        self._create(tables)
        return self._rows(f"SELECT * FROM ({sql}) ORDER BY ALL")

    def _create(self, tables: dict[str, Table]) -> None:
        for name, (columns, rows) in tables.items():
            self.con.execute(f"CREATE TEMP TABLE {name} ({columns})")
            if rows:
                marks = ", ".join("?" for _ in columns.split(","))
                self.con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        result = self.con.execute(sql)
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


@pytest.fixture
def run_feature() -> Iterator[FeatureRunner]:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    yield FeatureRunner(con)
    con.close()
