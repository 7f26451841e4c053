"""The decisions table is checked before anything is written; homes the report
estimates itself go to the night-time cell."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fairban.errors import InputError
from fairban.preview.decisions import COLUMNS, checked_decisions
from fairban.preview.homes import NightHomes


def decisions(**overrides: list[object]) -> pa.Table:
    columns: dict[str, list[object]] = {
        "account_id": ["wechat:a", "qq:b"],
        "platform": ["wechat", "qq"],
        "person_id": ["p1", None],
        "measure": ["suspend", "none"],
        "risk": [0.9, 0.1],
        "reasons": ['[{"code": "x", "text": "y"}]', "[]"],
        "strength": ["strong", None],
        "home_lat": [23.7, None],
        "home_lon": [98.7, None],
        "home_gb": ["", None],
    }
    columns.update(overrides)
    return pa.table(columns)


def test_a_good_table_is_normalised() -> None:
    table = checked_decisions(decisions())
    assert table.column_names == list(COLUMNS)
    assert table["person_id"].to_pylist() == ["p1", ""]
    assert table["strength"].to_pylist() == ["strong", "none"]
    assert table["home_gb"].to_pylist() == ["", ""]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"measure": ["suspend", "ban"]}, "decisions row 2: measure 'ban' is not one of"),
        ({"strength": ["certain", "weak"]}, "decisions row 1: strength 'certain'"),
        ({"risk": [0.5, 1.5]}, r"decisions row 2: risk must be a number in \[0, 1\]"),
        ({"account_id": ["wechat:a", "wechat:a"]}, "'wechat:a' has more than one row"),
        ({"account_id": ["wechat:a", None]}, "decisions row 2: account_id is empty"),
        ({"risk": ["high", "low"]}, "column 'risk' does not hold numbers"),
    ],
)
def test_bad_values_are_named(overrides: dict[str, list[object]], message: str) -> None:
    with pytest.raises(InputError, match=message):
        checked_decisions(decisions(**overrides))


def test_missing_columns_are_named() -> None:
    with pytest.raises(InputError, match=r"missing column.*'home_gb'"):
        checked_decisions(decisions().drop_columns(["home_gb"]))


def _us(hour_utc: int, day: int = 0) -> int:
    return ((day * 24 + hour_utc) * 3600) * 1_000_000


def test_night_cell_wins_over_busier_days() -> None:
    homes = NightHomes()
    # account 0: nights in Kunming, more fixes by day in Yuxi; account 1: IP only
    nights = 10
    days = 25
    account = np.array([0] * (nights + days) + [1] * 4, dtype=np.int64)
    lon = np.array([102.71] * nights + [102.54] * days + [106.55, 106.55, 106.55, 96.13])
    lat = np.array([25.04] * nights + [24.35] * days + [29.56, 29.56, 29.56, 19.75])
    accuracy = np.array([20.0] * (nights + days) + [262_000.0] * 3 + [1_111_000.0])
    is_ip = np.array([False] * (nights + days) + [True] * 4)
    ts = np.array(
        [_us(15, d) for d in range(nights)] + [_us(3, d) for d in range(days)] + [_us(3)] * 4,
        dtype=np.int64,
    )
    homes.add(account, lon, lat, accuracy, is_ip, ts)
    home_lon, home_lat = homes.homes(3)
    assert home_lon[0] == pytest.approx(102.71)
    assert home_lat[0] == pytest.approx(25.04)
    assert home_lon[1] == pytest.approx(106.55)  # the 1,111 km "Myanmar" fix is ignored
    assert np.isnan(home_lon[2])
