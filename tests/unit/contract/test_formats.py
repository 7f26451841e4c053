"""CSV, one Parquet file and a folder of Parquet files read to the same canonical batches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fairban.contract import TABLES, iter_batches

if TYPE_CHECKING:
    from conftest import Evidence

Canonical = Callable[[Path, str], pa.Table]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# The conftest CSV tables, as Parquet writers would type them (not canonically).
ACCOUNTS = pa.table(
    {
        "account_id": pa.array(["wechat:wxid_a", "qq:1001", "pos:shop9"], pa.large_string()),
        "platform": pa.array(["wechat", "qq", "pos"]).dictionary_encode(),
        "person_id": ["p1", "p1", None],
        "phone_region": ["530300", "MM", None],
        "kind": [None, "personal", "merchant"],
        "registered_at": pa.array(
            [utc(2018, 1, 1, 19, 4, 5), None, utc(2017, 5, 5)], pa.timestamp("s", tz="UTC")
        ),
    }
)
OBSERVATIONS = pa.table(
    {
        "account_id": ["wechat:wxid_a", "qq:1001", "qq:1001"],
        # naive means UTC
        "ts": pa.array(
            [
                datetime(2019, 9, 28, 13, 14),
                datetime(2019, 9, 29, 10, 0),
                datetime(2019, 9, 29, 12, 30, 0, 250000),
            ],
            pa.timestamp("ns"),
        ),
        "lat": [23.72, 23.7, 23.71],
        "lon": [98.58, 98.6, 98.61],
        "accuracy_m": pa.array([12, 800, 45.5], pa.float32()),
        "source": pa.array(["gps", "cell", "wifi"]).dictionary_encode(),
        "ip": pa.array([None, None, None], pa.string()),
        "cell_id": [None, "414-01-1201-33071", None],
        "device_id": ["dev1", None, "dev2"],
        "extra": [1, 2, 3],
    }
)
INTERACTIONS = pa.table(
    {
        "src": ["wechat:wxid_a", "qq:1001"],
        "dst": ["qq:1001", "pos:shop9"],
        # another zone is the same instant
        "ts": pa.array(
            [utc(2019, 9, 28, 14), utc(2019, 9, 29, 12)], pa.timestamp("ms", tz="Asia/Shanghai")
        ),
        "kind": ["message", "payment"],
        "amount": [None, 35.5],
    }
)
CONFIRMED = pa.table(
    {
        "account_id": ["wechat:wxid_a"],
        "case_id": ["case-1"],
        "confirmed_at": pa.array([utc(2019, 9, 30, 16)], pa.timestamp("us", tz="UTC")),
    }
)
TYPED = {
    "accounts": ACCOUNTS,
    "observations": OBSERVATIONS,
    "interactions": INTERACTIONS,
    "confirmed": CONFIRMED,
}


def as_parquet(evidence: Evidence) -> None:
    for name, table in TYPED.items():
        evidence.remove(f"{name}.csv")
        evidence.parquet(f"{name}.parquet", table)


def as_parquet_folders(evidence: Evidence) -> None:
    """Each table split over files; observations Hive-partitioned by source and day."""
    for name, table in TYPED.items():
        if name == "observations":
            for source in ["gps", "cell", "wifi"]:
                rows = table.filter(pc.equal(pc.cast(table["source"], pa.string()), source))
                day = rows["ts"][0].as_py().date().isoformat()
                evidence.parquet(
                    f"observations/source={source}/day={day}/part-0.parquet",
                    rows.drop_columns(["source"]),
                )
            continue
        for i in range(table.num_rows):
            evidence.parquet(f"{name}/part-{i}.parquet", table.slice(i, 1))


@pytest.mark.parametrize("table", list(TABLES))
def test_csv_parquet_and_parquet_folders_read_the_same(
    evidence: Evidence, canonical: Canonical, table: str
) -> None:
    from_csv = canonical(evidence.root, table)
    as_parquet(evidence)
    from_file = canonical(evidence.root, table)
    for name in TYPED:
        evidence.remove(f"{name}.parquet")
    as_parquet_folders(evidence)
    from_folder = canonical(evidence.root, table)
    assert from_csv.schema == TABLES[table].arrow_schema()
    assert from_csv.equals(from_file), (from_csv.to_pylist(), from_file.to_pylist())
    assert from_csv.equals(from_folder), (from_csv.to_pylist(), from_folder.to_pylist())


def test_canonical_values(evidence: Evidence) -> None:
    (batch,) = iter_batches(evidence.root, "observations")
    assert batch.column("ts").to_pylist() == [
        utc(2019, 9, 28, 13, 14),
        utc(2019, 9, 29, 10),
        utc(2019, 9, 29, 12, 30, 0, 250000),
    ]
    assert batch.column("accuracy_m").to_pylist() == [12.0, 800.0, 45.5]


def test_extra_columns_are_dropped(evidence: Evidence) -> None:
    as_parquet(evidence)
    (batch,) = iter_batches(evidence.root, "observations")
    assert "extra" not in batch.schema.names


def test_columns_selects_and_orders(evidence: Evidence) -> None:
    (batch,) = iter_batches(evidence.root, "observations", columns=["source", "account_id"])
    assert batch.schema.names == ["source", "account_id"]
    assert batch.column("source").to_pylist() == ["gps", "cell", "wifi"]


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("lat", pa.array(["23.7"] * 3), "column lat: type string, expected a float"),
        (
            "ts",
            pa.array(["2019-09-28T21:14:00Z"] * 3),
            "column ts: type string, expected a timestamp",
        ),
        ("account_id", pa.array([1, 2, 3]), "column account_id: type int64, expected a string"),
        ("source", pa.array([True] * 3), "column source: type bool, expected a string"),
    ],
)
def test_a_parquet_column_of_the_wrong_type(
    evidence: Evidence, column: str, values: pa.Array, message: str
) -> None:
    evidence.remove("observations.csv")
    table = OBSERVATIONS.set_column(OBSERVATIONS.schema.get_field_index(column), column, values)
    evidence.parquet("observations/part-0.parquet", OBSERVATIONS)
    evidence.parquet("observations/part-3.parquet", table)
    assert evidence.first_error("observations") == f"observations/part-3.parquet {message}"


def test_a_parquet_file_without_a_required_column(evidence: Evidence) -> None:
    evidence.remove("observations.csv")
    evidence.parquet("observations.parquet", OBSERVATIONS.drop_columns(["accuracy_m"]))
    assert evidence.first_error("observations") == (
        "observations.parquet: missing required column 'accuracy_m'"
    )


def test_parquet_values_are_checked_like_csv_values(evidence: Evidence) -> None:
    evidence.remove("observations.csv")
    lat = pa.array([23.72, float("nan"), 23.71])
    evidence.parquet("observations.parquet", OBSERVATIONS.set_column(2, "lat", lat))
    assert evidence.first_error("observations") == (
        "observations.parquet row 2: lat nan is not a finite number"
    )
    ids = pa.array(["a", "b", ""])
    evidence.parquet("observations.parquet", OBSERVATIONS.set_column(0, "account_id", ids))
    assert evidence.first_error("observations") == (
        "observations.parquet row 3: account_id is empty"
    )
    accuracy = pa.array([12, None, 3], pa.int32())
    evidence.parquet("observations.parquet", OBSERVATIONS.set_column(4, "accuracy_m", accuracy))
    assert evidence.first_error("observations") == (
        "observations.parquet row 2: accuracy_m is empty"
    )


def test_a_file_that_is_not_parquet(evidence: Evidence) -> None:
    evidence.remove("observations.csv")
    evidence.text("observations.parquet", "account_id,ts\n")
    message = evidence.first_error("observations")
    assert message.startswith("observations.parquet: not a readable Parquet file (")


def test_a_hive_partition_value_is_checked_too(evidence: Evidence) -> None:
    evidence.remove("observations.csv")
    evidence.parquet(
        "observations/source=bluetooth/part-0.parquet", OBSERVATIONS.drop_columns(["source"])
    )
    assert evidence.first_error("observations") == (
        "observations/source=bluetooth/part-0.parquet row 1: "
        "source 'bluetooth' is not one of gps, wifi, cell, ip"
    )


def test_an_all_null_parquet_column_fits_any_type(evidence: Evidence) -> None:
    evidence.remove("observations.csv")
    nothing = pa.nulls(3)
    table = OBSERVATIONS.set_column(7, "cell_id", nothing).set_column(6, "ip", nothing)
    evidence.parquet("observations.parquet", table)
    (batch,) = iter_batches(evidence.root, "observations")
    assert batch.column("cell_id").to_pylist() == [None] * 3
    assert batch.schema.field("cell_id").type == pa.string()
