"""The feature registry (``features.PIPELINE``): each feature's declared inputs are the
tables its SQL reads, each reads only the evidence, ``near`` and features made before
it, and the engine's steps are the registry's, in its order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlglot
from sqlglot import exp

from fairban.geo.fraud_areas import fraud_areas_2019
from fairban.geo.presence import AreaIndex
from fairban.targeting import features
from fairban.targeting.features import EVIDENCE, NEAR, PIPELINE, Feature, Scope, Window

AREAS = fraud_areas_2019()
SCOPE = Scope(
    Window(datetime(2019, 4, 16, 16, tzinfo=UTC), datetime(2019, 10, 13, 16, tzinfo=UTC)),
    ("qq", "wechat", "alipay", "pos"),
    AreaIndex([a.name for a in AREAS], [a.geometry for a in AREAS]).sql_prefilter(),
)


def tables_read(sql: str) -> set[str]:
    """The tables a query names, less its own CTEs."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table)} - ctes


@pytest.mark.parametrize("feature", PIPELINE, ids=lambda f: f.name)
def test_a_feature_reads_what_it_declares(feature: Feature) -> None:
    assert tables_read(feature.sql(SCOPE)) == set(feature.reads)
    assert len(feature.reads) == len(set(feature.reads))


def test_each_feature_reads_only_tables_made_before_it() -> None:
    made = {*EVIDENCE, NEAR}
    for feature in PIPELINE:
        assert set(feature.reads) <= made, (feature.name, set(feature.reads) - made)
        assert feature.name not in made
        made.add(feature.name)


def test_the_engine_runs_the_registry_in_its_order() -> None:
    assert [f.name for f in PIPELINE] == [
        "presence",
        "present",
        "contact_pairs",
        "win_money",
        "linked",
        "first_contacts",
        "outreach_busy",
        "outreach_src_circle",
        "outreach_dst_circle",
        "outreach_shared",
        "outreach",
        "money_edges",
        "mule",
        "to_area",
        "device_days",
        "device_runs",
        "device_pairs",
        "devices",
        "copresence",
        "confirmed_contact",
        "home",
        "social",
        "merchant",
        "features",
    ]
    steps = features.steps(SCOPE.window, SCOPE.platforms, SCOPE.prefilter)
    assert steps == [features.Step(f.name, f.sql(SCOPE)) for f in PIPELINE]


def test_the_later_passes_read_the_pipelines_tables_and_the_judged() -> None:
    made = {*EVIDENCE, NEAR, *(f.name for f in PIPELINE)}
    read = tables_read(features.second_pass_sql("suspects", "reaching"))
    assert read == {"features", "money_edges", "linked", "device_pairs", "suspects", "reaching"}
    assert read - {"suspects", "reaching"} <= made
