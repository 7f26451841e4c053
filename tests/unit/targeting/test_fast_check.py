"""The one-scan contract check that lets `fairban target` skip the streaming validator
on clean Parquet evidence, and falls back to it (and its exact message) otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fairban.contract import TABLES
from fairban.errors import InputError
from fairban.targeting.backends.duckdb import DuckDBBackend, _blank_sql
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
        return all(backend.check_table(name).proven for name in TABLES)
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
        # blank to the validator; DuckDB's trim() keeps tabs and newlines
        ("account_id", "\t", "account_id is empty"),
        ("account_id", " \n\u3000", "account_id is empty"),
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


def test_blank_in_sql_is_the_validators_blank_for_every_character() -> None:
    """The fast check's "empty" is the streaming validator's (Arrow: '' or all
    whitespace), for every code point alone and next to others."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    values = [
        *chars,
        "",
        " \t",
        "\u3000\u2028 ",
        " a",
        "a ",
        "\ta",
        "\u3000x",
        "x\u3000",
        "~",
        "\x7f",
    ]
    values += [c + c for c in chars[:0x3001]]
    table = pa.table({"v": pa.array(values, pa.string())})
    con = duckdb.connect(":memory:")
    con.register("t", table)
    got = con.sql(f"SELECT {_blank_sql('v')} FROM t").to_arrow_table().column(0)
    want = pc.or_(pc.utf8_is_space(table.column("v")), pc.equal(table.column("v"), ""))
    differ = [
        v for v, g, w in zip(values, got.to_pylist(), want.to_pylist(), strict=True) if g != w
    ]
    assert differ == []
    assert con.execute(f"SELECT {_blank_sql('NULL')}").fetchone() == (True,)
    con.close()
