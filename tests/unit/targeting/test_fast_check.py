"""The one-scan contract check that lets `fairban target` skip the streaming validator
on clean Parquet tables, and falls back to it (and its exact message) otherwise: table
by table, so a CSV table or a broken one does not send the others through it too."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from fairban.contract import TABLES, validate_evidence
from fairban.errors import InputError
from fairban.targeting.backends.duckdb import DuckDBBackend, _blank_sql
from fairban.targeting.run import EvidenceCheck, check_evidence, prepare, run_target
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


# --------------------------------------------------------------------------- per table


def mixed(world: Path, tmp_path: Path) -> Path:
    """The world's evidence with accounts and interactions as CSV, observations and
    confirmed as Parquet: the aggregate scan can prove only the Parquet tables."""
    evidence = tmp_path / "mixed"
    shutil.copytree(world / "evidence", evidence)
    for name in ("accounts", "interactions"):
        given = evidence / f"{name}.parquet"
        if not given.exists():
            given = evidence / name
        table = pads.dataset(given, format="parquet").to_table()
        pacsv.write_csv(table, evidence / f"{name}.csv")
        if given.is_dir():
            shutil.rmtree(given)
        else:
            given.unlink()
    return evidence


def checked(evidence: Path) -> EvidenceCheck:
    backend = DuckDBBackend()
    try:
        return check_evidence(evidence, backend=backend)
    finally:
        backend.close()


def first_error(evidence: Path) -> str:
    """What the streaming validator alone says first of the whole folder."""
    report = validate_evidence(evidence, max_errors=1)
    assert not report.ok
    return str(report.errors.kept[0])


def test_each_table_is_checked_the_fastest_way_its_format_allows(
    world: Path, tmp_path: Path
) -> None:
    evidence = mixed(world, tmp_path)
    assert checked(evidence).checked_by == {
        "accounts": "validator",
        "observations": "aggregate",
        "interactions": "validator",
        "confirmed": "aggregate",
    }
    assert checked(world / "evidence").checked_by == dict.fromkeys(
        ["accounts", "observations", "interactions", "confirmed"], "aggregate"
    )
    # the decisions do not depend on how the tables were given or checked
    parquet, csv = tmp_path / "parquet", tmp_path / "csv"
    run_target(world / "directive.yaml", world / "evidence", parquet)
    run_target(world / "directive.yaml", evidence, csv)
    assert pacsv.read_csv(csv / "decisions.csv").equals(pacsv.read_csv(parquet / "decisions.csv"))


def _break_csv(path: Path, row: int, column: str, value: str) -> None:
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
    values = table.column(column).cast(pa.string()).to_pylist()
    values[row - 2] = value  # row 1 is the header
    idx = table.column_names.index(column)
    pacsv.write_csv(table.set_column(idx, column, pa.array(values, pa.string())), path)


def _break_parquet(folder: Path, row: int, column: str, value: float) -> str:
    part = sorted(folder.rglob("*.parquet"))[5]
    table = pq.read_table(part)
    values = table.column(column).to_pylist()
    values[row - 1] = value
    idx = table.column_names.index(column)
    pq.write_table(table.set_column(idx, column, pa.array(values, pa.float64())), part)
    return part.relative_to(folder.parent).as_posix()


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("accounts", "accounts.csv row 7: platform 'WeChat' is not a lowercase name"),
        ("interactions", "interactions.csv row 9: kind 'hug' is not one of call, message"),
        ("observations", "row 3: lat 123.4 is outside [-90, 90]"),
        ("accounts+observations", "accounts.csv row 7: platform 'WeChat'"),
        ("observations+interactions", "row 3: lat 123.4 is outside [-90, 90]"),
    ],
)
def test_a_table_that_fails_its_fast_check_gets_the_validators_exact_line(
    world: Path, tmp_path: Path, broken: str, expected: str
) -> None:
    evidence = mixed(world, tmp_path)
    if "accounts" in broken:
        _break_csv(evidence / "accounts.csv", 7, "platform", "WeChat")
    if "interactions" in broken:
        _break_csv(evidence / "interactions.csv", 9, "kind", "hug")
    if "observations" in broken:
        part = _break_parquet(evidence / "observations", 3, "lat", 123.4)
        expected = expected.replace("row 3", f"{part} row 3")
    with pytest.raises(InputError) as raised:
        checked(evidence)
    # the one line the validator gives for the whole folder, the first in contract order
    assert str(raised.value) == first_error(evidence)
    assert str(raised.value).startswith(expected)
