"""Every row-level rule gives exactly one line naming file, row and value."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from fairban.contract import iter_batches

if TYPE_CHECKING:
    from conftest import Evidence

ACCOUNTS_HEADER = "account_id,platform,person_id,phone_region,kind,registered_at\n"
OBSERVATIONS_HEADER = "account_id,ts,lat,lon,accuracy_m,source,ip,cell_id,device_id\n"
INTERACTIONS_HEADER = "src,dst,ts,kind,amount\n"
CONFIRMED_HEADER = "account_id,case_id,confirmed_at\n"

GOOD_OBSERVATION = "wechat:wxid_a,2019-09-28T21:14:00+08:00,23.72,98.58,12,gps,,,dev1\n"
GOOD_ACCOUNT = "a:{n},wechat,,,,\n"


def observation(**changes: str) -> str:
    values = dict(
        zip(
            OBSERVATIONS_HEADER.strip().split(","),
            GOOD_OBSERVATION.strip().split(","),
            strict=True,
        )
    )
    values.update(changes)
    return ",".join(values.values()) + "\n"


CASES = [
    # observations: row 2 is the first record, under the header
    ("observations", observation(lat="123.4"), "row 2: lat 123.4 is outside [-90, 90]"),
    ("observations", observation(lat="-90.5"), "row 2: lat -90.5 is outside [-90, 90]"),
    ("observations", observation(lon="-180.5"), "row 2: lon -180.5 is outside [-180, 180]"),
    ("observations", observation(accuracy_m="-3"), "row 2: accuracy_m -3 must be > 0"),
    ("observations", observation(accuracy_m="0"), "row 2: accuracy_m 0 must be > 0"),
    ("observations", observation(accuracy_m="inf"), "row 2: accuracy_m inf is not a finite number"),
    ("observations", observation(lat="NaN"), "row 2: lat nan is not a finite number"),
    ("observations", observation(lat="abc"), "row 2: lat 'abc' is not a number"),
    ("observations", observation(lat='"23,5"'), "row 2: lat '23,5' is not a number"),
    (
        "observations",
        observation(ts="2019-09-28T21:14:00"),
        "row 2: ts '2019-09-28T21:14:00' has no time-zone offset",
    ),
    (
        "observations",
        observation(ts="2019-09-28"),
        "row 2: ts '2019-09-28' has no time-zone offset",
    ),
    (
        "observations",
        observation(ts="yesterday"),
        "row 2: ts 'yesterday' is not an ISO 8601 timestamp with an offset "
        "(such as 2019-09-28T21:14:00+08:00)",
    ),
    (
        "observations",
        observation(ts="2019-02-29T10:00:00Z"),
        "row 2: ts '2019-02-29T10:00:00Z' is not a real date and time",
    ),
    (
        "observations",
        observation(ts="2019-09-28T24:00:00Z"),
        "row 2: ts '2019-09-28T24:00:00Z' is not an ISO 8601 timestamp with an offset "
        "(such as 2019-09-28T21:14:00+08:00)",
    ),
    (
        "observations",
        observation(source="bluetooth"),
        "row 2: source 'bluetooth' is not one of gps, wifi, cell, ip",
    ),
    (
        "observations",
        observation(source="GPS"),
        "row 2: source 'GPS' is not one of gps, wifi, cell, ip",
    ),
    ("observations", observation(account_id=""), "row 2: account_id is empty"),
    ("observations", observation(account_id='"  "'), "row 2: account_id is empty"),
    ("observations", observation(ts=""), "row 2: ts is empty"),
    ("observations", observation(lat=""), "row 2: lat is empty"),
    ("observations", observation(lat="", lon=""), "row 2: lat is empty"),
    ("observations", observation(accuracy_m=""), "row 2: accuracy_m is empty"),
    ("observations", observation(accuracy_m="  "), "row 2: accuracy_m is empty"),
    ("observations", observation(source=""), "row 2: source is empty"),
    # source 'ip' without an address cannot be placed: lat stays required
    ("observations", observation(lat="", lon="", source="ip"), "row 2: lat is empty"),
    # accounts
    (
        "accounts",
        "wechat:x,WeChat,,,,\n",
        "row 2: platform 'WeChat' is not a lowercase name (letters a-z, digits, '_' or '-')",
    ),
    ("accounts", "wechat:x,,,,,\n", "row 2: platform is empty"),
    (
        "accounts",
        "wechat:x,wechat,,,company,\n",
        "row 2: kind 'company' is not one of personal, merchant",
    ),
    (
        "accounts",
        "wechat:x,wechat,,5303,,\n",
        "row 2: phone_region '5303' is neither a 6-digit region code (GB/T 2260) "
        "nor a 2-letter country code (ISO 3166-1)",
    ),
    (
        "accounts",
        "wechat:x,wechat,,mm,,\n",
        "row 2: phone_region 'mm' is neither a 6-digit region code (GB/T 2260) "
        "nor a 2-letter country code (ISO 3166-1)",
    ),
    (
        "accounts",
        "wechat:x,wechat,,,,2018-01-01 10:00\n",
        "row 2: registered_at '2018-01-01 10:00' has no time-zone offset",
    ),
    (
        "accounts",
        "".join(GOOD_ACCOUNT.format(n=n) for n in range(5)) + ",wechat,,,,\n",
        "row 7: account_id is empty",
    ),
    # interactions
    (
        "interactions",
        "a,b,2019-09-28T22:00:00+08:00,call,\na,b,2019-09-28T22:00:00+08:00,hug,\n",
        "row 3: kind 'hug' is not one of call, message, friend_add, transfer, payment",
    ),
    ("interactions", "a,b,2019-09-28T22:00:00Z,transfer,-1\n", "row 2: amount -1 must be >= 0"),
    (
        "interactions",
        "a,b,2019-09-28T22:00:00Z,transfer,ten\n",
        "row 2: amount 'ten' is not a number",
    ),
    ("interactions", "a,,2019-09-28T22:00:00Z,call,\n", "row 2: dst is empty"),
    ("interactions", "a,b,2019-09-28T22:00:00Z,,\n", "row 2: kind is empty"),
    # confirmed
    ("confirmed", "wechat:x,,\n", "row 2: case_id is empty"),
    (
        "confirmed",
        "wechat:x,c1,1 Oct 2019\n",
        (
            "row 2: confirmed_at '1 Oct 2019' is not an ISO 8601 timestamp with an offset "
            "(such as 2019-09-28T21:14:00+08:00)"
        ),
    ),
]
HEADERS = {
    "observations": OBSERVATIONS_HEADER,
    "accounts": ACCOUNTS_HEADER,
    "interactions": INTERACTIONS_HEADER,
    "confirmed": CONFIRMED_HEADER,
}


@pytest.mark.parametrize(("table", "rows", "message"), CASES)
def test_a_bad_value_names_file_row_and_value(
    evidence: Evidence, table: str, rows: str, message: str
) -> None:
    evidence.csv(table, HEADERS[table] + rows)
    expected = f"{table}.csv {message}"
    assert evidence.first_error(table) == expected
    assert evidence.errors()[0] == expected


def test_rows_count_across_batches_as_in_a_spreadsheet(evidence: Evidence) -> None:
    rows = [observation() for _ in range(1840)] + [observation(lat="123.4")]
    evidence.csv("observations", OBSERVATIONS_HEADER + "".join(rows))
    expected = "observations.csv row 1842: lat 123.4 is outside [-90, 90]"
    assert evidence.first_error("observations", batch_rows=100) == expected


def test_parquet_rows_count_from_one(evidence: Evidence) -> None:
    lat = [23.5] * 1840 + [123.4]
    n = len(lat)
    evidence.remove("observations.csv")
    evidence.parquet(
        "observations.parquet",
        pa.table(
            {
                "account_id": ["a"] * n,
                "ts": pa.array([0] * n, pa.timestamp("s", tz="UTC")),
                "lat": lat,
                "lon": [98.5] * n,
                "accuracy_m": [10.0] * n,
                "source": ["gps"] * n,
            }
        ),
        row_group_size=500,
    )
    expected = "observations.parquet row 1841: lat 123.4 is outside [-90, 90]"
    assert evidence.first_error("observations", batch_rows=100) == expected


def test_a_record_with_line_breaks_is_one_row(evidence: Evidence) -> None:
    evidence.csv(
        "observations",
        OBSERVATIONS_HEADER + observation(device_id='"two\nlines"') + observation(lat="91"),
    )
    assert evidence.first_error("observations") == (
        "observations.csv row 3: lat 91 is outside [-90, 90]"
    )


def test_the_first_bad_row_wins_whatever_the_column(evidence: Evidence) -> None:
    evidence.csv(
        "observations",
        OBSERVATIONS_HEADER + observation() + observation(source="x") + observation(lat="x"),
    )
    assert evidence.first_error("observations") == (
        "observations.csv row 3: source 'x' is not one of gps, wifi, cell, ip"
    )


def test_timestamps_accept_every_iso_form_with_an_offset(evidence: Evidence) -> None:
    forms = [
        "2019-09-28T21:14:00+08:00",
        "2019-09-28T21:14:00Z",
        "2019-09-28 21:14:00+08:00",
        "2019-09-28T21:14+0800",
        "2019-09-28T21:14:00.5-03:00",
        "2019-09-28T21:14:00.123456789+08:00",
        " 2019-09-28T21:14:00+08:00 ",
    ]
    evidence.csv("observations", OBSERVATIONS_HEADER + "".join(observation(ts=f) for f in forms))
    (batch,) = iter_batches(evidence.root, "observations", columns=["ts"])
    values = batch.column("ts").to_pylist()
    assert [v.isoformat() for v in values] == [
        "2019-09-28T13:14:00+00:00",
        "2019-09-28T21:14:00+00:00",
        "2019-09-28T13:14:00+00:00",
        "2019-09-28T13:14:00+00:00",
        "2019-09-29T00:14:00.500000+00:00",
        "2019-09-28T13:14:00.123456+00:00",
        "2019-09-28T13:14:00+00:00",
    ]
