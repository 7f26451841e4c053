"""IP-only observations (beyond the contract) are placed with the real ip2region data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
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
    ("ip", "why"),
    [
        ("10.1.2.3", "private or reserved"),
        ("127.0.0.1", "private or reserved"),
        ("100.64.0.1", "private or reserved"),  # carrier-grade NAT
        ("2001:db8::1", "private or reserved"),  # IPv6 documentation range
        ("fe80::1", "private or reserved"),
        ("240e:1::1", "IPv6"),  # China Telecom: public, and no shipped database places IPv6
        ("2408:8000::1", "IPv6"),
    ],
)
def test_an_address_that_cannot_be_placed_is_kept_without_a_position(
    evidence: Evidence, ip: str, why: str
) -> None:
    rows = [GPS] * 10 + [KUNMING.replace("116.52.1.1", ip).replace(",,\n", ",,dev9\n")]
    evidence.csv("observations", HEADER + "".join(rows))
    batch = pa.Table.from_batches(iter_batches(evidence.root, "observations"))
    kept = batch.to_pylist()[10]
    assert (kept["lat"], kept["lon"], kept["accuracy_m"]) == (None, None, None)
    assert (kept["ip"], kept["device_id"], kept["source"]) == (ip, "dev9", "ip")
    report = validate_evidence(evidence.root)
    assert report.ok, report.errors.lines()
    assert report.ip_placed == 0
    assert report.ip_unplaced == {why: 1}
    assert report.tables["observations"].rows == 11


def test_an_unplaced_row_keeps_its_given_accuracy(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + KUNMING.replace(",,,,ip,116.52.1.1", ",,,900,ip,::1"))
    (batch,) = iter_batches(evidence.root, "observations", columns=["lat", "accuracy_m"])
    assert batch.to_pylist() == [{"lat": None, "accuracy_m": 900.0}]


def test_an_ipv4_mapped_ipv6_address_is_placed_as_its_ipv4(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + KUNMING.replace("116.52.1.1", "::ffff:116.52.1.1"))
    (mapped,) = iter_batches(evidence.root, "observations", columns=["lat", "lon", "accuracy_m"])
    evidence.csv("observations", HEADER + KUNMING)
    (plain,) = iter_batches(evidence.root, "observations", columns=["lat", "lon", "accuracy_m"])
    assert mapped.equals(plain)
    assert validate_evidence(evidence.root).ip_placed == 1


@pytest.mark.parametrize("ip", ["banana", "1.2.3", "256.1.1.1", "2001:db8::g"])
def test_a_value_that_is_no_address_is_an_error(evidence: Evidence, ip: str) -> None:
    rows = [GPS] * 10 + [KUNMING.replace("116.52.1.1", ip)]
    evidence.csv("observations", HEADER + "".join(rows))
    message = f"observations.csv row 12: ip {ip!r} is not an IP address"
    assert evidence.first_error("observations") == message
    assert evidence.errors() == [message]


def test_counts_of_unplaced_rows_add_up_by_why(evidence: Evidence) -> None:
    ips = ["::1", "240e:1::1", "10.0.0.1", "116.52.1.1", "240e:2::2", "192.168.0.1"]
    rows = [KUNMING.replace("116.52.1.1", ip) for ip in ips]
    evidence.csv("observations", HEADER + GPS + "".join(rows))
    report = validate_evidence(evidence.root, batch_rows=2)
    assert report.ok
    assert report.ip_placed == 1
    assert report.ip_unplaced == {"private or reserved": 3, "IPv6": 2}


def test_without_an_ip_the_position_is_required(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + KUNMING.replace("116.52.1.1", ""))
    assert evidence.first_error("observations") == "observations.csv row 2: lat is empty"


def test_only_source_ip_rows_are_placed(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + KUNMING.replace(",ip,", ",cell,"))
    assert evidence.first_error("observations") == "observations.csv row 2: lat is empty"
