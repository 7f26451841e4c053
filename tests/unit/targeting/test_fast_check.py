"""The one-scan contract check that lets `fairban target` skip the streaming validator
on clean Parquet evidence, and falls back to it (and its exact message) otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fairban.errors import InputError
from fairban.targeting.backends.duckdb import DuckDBBackend
from fairban.targeting.run import prepare
from fairban.world import WorldConfig, simulate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fast") / "w"
    simulate_world(WorldConfig(accounts=300, seed=9), out)
    return out


def holds(evidence: Path) -> bool:
    backend = DuckDBBackend()
    try:
        backend.open_evidence(evidence)
        return backend.contract_holds()
    finally:
        backend.close()


def copy_with_accounts(world: Path, tmp_path: Path, accounts: pa.Table) -> Path:
    evidence = tmp_path / "evidence"
    shutil.copytree(world / "evidence", evidence)
    pq.write_table(accounts, evidence / "accounts.parquet")
    return evidence


def test_clean_simulated_evidence_is_proven_in_one_scan(world: Path) -> None:
    assert holds(world / "evidence")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("platform", "WeChat", "platform 'WeChat' is not a lowercase name"),
        ("phone_region", "5303", "phone_region '5303' is neither"),
        ("kind", "shop", "kind 'shop' is not one of personal, merchant"),
        ("account_id", "", "account_id is empty"),
    ],
)
def test_a_broken_rule_falls_back_to_the_validator(
    world: Path, tmp_path: Path, column: str, value: str, message: str
) -> None:
    accounts = pq.read_table(world / "evidence" / "accounts.parquet")
    values = accounts.column(column).to_pylist()
    values[4] = value
    idx = accounts.column_names.index(column)
    broken = accounts.set_column(idx, column, pa.array(values, pa.string()))
    evidence = copy_with_accounts(world, tmp_path, broken)
    assert not holds(evidence)
    with pytest.raises(InputError, match=f"accounts.parquet row 5: {message}"):
        prepare(world / "directive.yaml", evidence, backend=DuckDBBackend())


def test_a_duplicate_account_or_a_wrong_physical_type_is_not_proven(
    world: Path, tmp_path: Path
) -> None:
    accounts = pq.read_table(world / "evidence" / "accounts.parquet")
    dup = pa.concat_tables([accounts, accounts.slice(0, 1)])
    assert not holds(copy_with_accounts(world, tmp_path / "dup", dup))
    as_text = accounts.set_column(
        accounts.column_names.index("registered_at"),
        "registered_at",
        pa.array([str(v) for v in accounts.column("registered_at").to_pylist()]),
    )
    assert not holds(copy_with_accounts(world, tmp_path / "typed", as_text))
