"""A judgement kept with its features (``keep_scored``) and re-scored under other
thresholds (``rescore``) gives, column for column, the decisions a run with those
thresholds gives: measure, risk, reasons, and the home provinces and areas, which the
kept folder holds so that a re-score does not load the provinces' polygons again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fairban.contract import Directive, load_directive
from fairban.contract.directive import RiskThresholds
from fairban.targeting.backends.duckdb import DuckDBBackend
from fairban.targeting.engine import (
    KEPT_COLUMNS,
    SCORED_TABLES,
    TargetResult,
    keep_scored,
    rescore,
    score_features,
    target,
)
from fairban.world import WorldConfig, simulate_world

TRIED = {
    "defaults": {},
    "harsher": {"monitor": 0.05, "restrict": 0.2, "suspend": 0.6},
    "lenient": {"restrict": 0.5, "suspend": 0.95},
    "mules suspended": {"measures": {"mule": "suspend"}, "mule_senders": 2},
}


@dataclass(frozen=True)
class Judged:
    directive: Directive
    evidence: Path
    kept: Path
    #: the run's backend, still holding its feature tables: ``score_features`` on it
    #: is the run's own scoring under other thresholds
    db: DuckDBBackend


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Judged]:
    root = tmp_path_factory.mktemp("rescore")
    simulate_world(WorldConfig(accounts=800, seed=7, days=60), root / "world")
    directive = load_directive(root / "world" / "directive.yaml")
    db = DuckDBBackend()
    result = target(directive, root / "world" / "evidence", backend=db)
    keep_scored(db, result, root / "kept")
    yield Judged(directive, root / "world" / "evidence", root / "kept", db)
    db.close()


def _with(directive: Directive, thresholds: dict[str, object]) -> Directive:
    return directive.model_copy(
        update={"thresholds": RiskThresholds.model_validate(thresholds) if thresholds else None}
    )


def _same(got: TargetResult, expected: TargetResult, *, home_within: float = 0.0) -> None:
    assert got.decisions.schema == expected.decisions.schema
    for name in expected.decisions.column_names:
        a, b = got.decisions.column(name), expected.decisions.column(name)
        if home_within and name in ("home_lat", "home_lon"):
            assert pc.all(pc.equal(a.is_null(), b.is_null())).as_py(), name
            assert pc.max(pc.abs(pc.subtract(a, b))).as_py() <= home_within, name
        else:
            assert a.equals(b), name


@pytest.mark.parametrize("tried", TRIED.values(), ids=TRIED.keys())
def test_a_rescore_is_the_run_scored_again(judged: Judged, tried: dict[str, object]) -> None:
    spec = _with(judged.directive, tried)
    _same(rescore(spec, judged.kept), score_features(judged.db, spec))


def test_the_thresholds_tried_change_decisions(judged: Judged) -> None:
    """The cases above would prove little if every threshold gave the same decisions."""
    counts = {
        name: rescore(_with(judged.directive, t), judged.kept).counts() for name, t in TRIED.items()
    }
    assert len({tuple(c.items()) for c in counts.values()}) == len(TRIED)
    assert counts["defaults"]["restrict"] + counts["defaults"]["suspend"] > 0


def test_a_rescore_is_a_fresh_run_with_those_thresholds(
    judged: Judged,
) -> None:
    """Bit for bit but the home's position: a mean of doubles, which DuckDB's parallel
    sum adds in another order from run to run (its last bits; the provinces agree)."""
    spec = _with(judged.directive, TRIED["harsher"])
    _same(rescore(spec, judged.kept), target(spec, judged.evidence), home_within=1e-9)


def test_the_kept_features_are_ordered_with_their_home_provinces(
    judged: Judged,
) -> None:
    kept = judged.kept
    features = pq.read_table(kept / "features.parquet")
    ids = features.column("account_id")
    assert ids.equals(pc.take(ids, pc.sort_indices(ids)))
    decided = score_features(judged.db, judged.directive).decisions
    assert features.column("home_gb").equals(decided.column("home_gb"))
    assert pc.count(pc.not_equal(features.column("home_gb"), "")).as_py() > 0
    for name in SCORED_TABLES:
        names = pq.read_schema(kept / f"{name}.parquet").names
        assert set(KEPT_COLUMNS.get(name, ())) <= set(names), name
    # of money, only what reaches linked accounts: the later passes read nothing else
    money = pq.read_table(kept / "money_edges.parquet")
    assert money.column_names == ["src", "dst", "n", "amount"]
    assert pc.all(pc.is_in(money.column("dst"), value_set=ids)).as_py()
    everything = judged.db.query("SELECT count(*) AS n FROM money_edges").column("n")[0].as_py()
    assert 0 < money.num_rows < everything
    linked = pq.read_table(kept / "linked.parquet")
    assert linked.column_names == ["account_id"]
    assert set(linked.column("account_id").to_pylist()) == set(ids.to_pylist())


def test_a_kept_folder_without_home_provinces_is_refused_in_one_line(
    judged: Judged, tmp_path: Path
) -> None:
    from fairban.errors import InputError

    older = tmp_path / "older"
    older.mkdir()
    for name in SCORED_TABLES:
        table = pq.read_table(judged.kept / f"{name}.parquet")
        if name == "features":
            table = table.drop_columns(["home_gb"])
        pq.write_table(table, older / f"{name}.parquet")
    with pytest.raises(InputError, match=r"older fairban \(no column home_gb\): judge again"):
        rescore(judged.directive, older)
