"""One definition of each feature: the DuckDB-dialect SQL must transpile to Spark SQL
without anything sqlglot cannot express (issue: scale-out runs the same text)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from fairban.geo.fraud_areas import fraud_areas_2019
from fairban.geo.presence import AreaIndex
from fairban.targeting import features

WINDOW = features.Window(
    datetime(2019, 4, 16, 16, tzinfo=UTC), datetime(2019, 10, 13, 16, tzinfo=UTC)
)
AREAS = fraud_areas_2019()
PREFILTER = AreaIndex([a.name for a in AREAS], [a.geometry for a in AREAS]).sql_prefilter()
STEPS = features.steps(WINDOW, ("qq", "wechat", "alipay", "pos"), PREFILTER)
EXTRA = [
    features.Step("prefilter", features.prefilter_sql(WINDOW, PREFILTER)),
    features.Step("second_pass", features.second_pass_sql("suspects", "reaching")),
]


@pytest.mark.parametrize("step", STEPS + EXTRA, ids=lambda s: s.name)
def test_feature_sql_transpiles_to_spark(step: features.Step) -> None:
    (spark,) = sqlglot.transpile(
        step.sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE
    )
    statement = re.sub(r"^(/\*.*?\*/\s*)+", "", spark, flags=re.S)  # leading comments
    assert statement.upper().startswith(("SELECT", "WITH"))


def test_steps_are_named_once() -> None:
    names = [s.name for s in STEPS]
    assert len(names) == len(set(names))
    assert names[-1] == "features"
