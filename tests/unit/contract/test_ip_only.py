"""IP-only observations (beyond the contract) are placed with the real ip2region data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fairban.contract import iter_batches, validate_evidence

if TYPE_CHECKING:
    from conftest import Evidence

HEADER = "account_id,ts,lat,lon,accuracy_m,source,ip,cell_id,device_id\n"
GPS = "wechat:wxid_a,2019-09-28T21:14:00+08:00,23.72,98.58,12,gps,,,dev1\n"
KUNMING = "wechat:wxid_a,2019-09-30T01:02:03+08:00,,,,ip,116.52.1.1,,\n"


def test_an_ip_only_observation_is_placed(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + GPS + KUNMING)
    (batch,) = iter_batches(evidence.root, "observations")
    placed = batch.to_pylist()[1]
    # 116.52.1.1 is a Kunming (Yunnan) address in ip2region
    assert 24.5 < placed["lat"] < 26.5
    assert 102.0 < placed["lon"] < 104.0
    assert 5_000 <= placed["accuracy_m"] < 300_000
    assert placed["source"] == "ip"
    report = validate_evidence(evidence.root)
    assert report.ok
    assert report.ip_placed == 1


def test_csv_and_parquet_place_alike(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + GPS + KUNMING)
    (from_csv,) = iter_batches(evidence.root, "observations")
    evidence.csv_as_parquet("observations")
    (from_parquet,) = iter_batches(evidence.root, "observations")
    assert from_csv.equals(from_parquet)


def test_a_wider_given_accuracy_is_kept(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + KUNMING.replace(",,,,ip", ",,,900000,ip"))
    (batch,) = iter_batches(evidence.root, "observations", columns=["accuracy_m"])
    assert batch.column("accuracy_m").to_pylist() == [900_000.0]


def test_a_given_position_is_not_replaced(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + KUNMING.replace(",,,,ip", ",23.7,98.6,50000,ip"))
    (batch,) = iter_batches(evidence.root, "observations", columns=["lat", "lon"])
    assert batch.to_pylist() == [{"lat": 23.7, "lon": 98.6}]
    assert validate_evidence(evidence.root).ip_placed == 0


@pytest.mark.parametrize(
    ("ip", "message"),
    [
        ("10.1.2.3", "ip '10.1.2.3' cannot be placed (private, reserved or unknown range)"),
        ("127.0.0.1", "ip '127.0.0.1' cannot be placed (private, reserved or unknown range)"),
        ("banana", "ip 'banana' is not an IP address"),
    ],
)
def test_an_address_that_cannot_be_placed(evidence: Evidence, ip: str, message: str) -> None:
    rows = [GPS] * 10 + [KUNMING.replace("116.52.1.1", ip)]
    evidence.csv("observations", HEADER + "".join(rows))
    assert evidence.first_error("observations") == f"observations.csv row 12: {message}"
    assert evidence.errors() == [f"observations.csv row 12: {message}"]


def test_without_an_ip_the_position_is_required(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + KUNMING.replace("116.52.1.1", ""))
    assert evidence.first_error("observations") == "observations.csv row 2: lat is empty"


def test_only_source_ip_rows_are_placed(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + KUNMING.replace(",ip,", ",cell,"))
    assert evidence.first_error("observations") == "observations.csv row 2: lat is empty"
