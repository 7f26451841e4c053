"""The features of where accounts were (``features/presence.py``), each run alone over
inline tables: presence, present, copresence, home."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from fairban.targeting.features.presence import copresence, home, presence, present

NEAR = "account_id VARCHAR, area INTEGER, p DOUBLE, source VARCHAR, ts TIMESTAMPTZ, cell_id VARCHAR"


def bj(text: str) -> datetime:
    """A Beijing-time instant: ``bj("2019-06-01 23:00")``."""
    return datetime.fromisoformat(text + "+08:00")


def test_presence_weighs_nights_days_and_the_likeliest_area(run_feature: Any) -> None:
    rows = run_feature(
        presence,
        near=(
            NEAR,
            [
                ("a", 0, 0.9, "gps", bj("2019-06-01 23:00"), None),  # night of 1 June
                ("a", 0, 0.5, "wifi", bj("2019-06-02 01:00"), None),  # the same night
                ("a", 0, 0.4, "cell", bj("2019-06-02 23:30"), "414-01-7-9"),  # night of 2 June
                ("a", 1, 0.3, "ip", bj("2019-06-03 12:00"), None),  # a day, another area
                ("a", 1, 0.005, "ip", bj("2019-06-04 23:00"), None),  # too unlikely to count
                ("b", 1, 0.6, "cell", bj("2019-06-05 03:00"), "460-00-1-2"),
                ("c", 0, 0.009, "gps", bj("2019-06-05 03:00"), None),
            ],
        ),
    )
    a, b = rows  # c was never likely enough anywhere
    assert a["account_id"] == "a"
    assert a["area"] == 0  # 1.8 of weight there, 0.3 in area 1
    assert a["nights_w"] == pytest.approx(0.9 + 0.4)  # each night's best p
    assert a["nights_sure"] == 1
    assert a["days_w"] == pytest.approx(0.9 + 0.5 + 0.3)  # local days 1, 2 and 3 June
    assert a["max_p"] == 0.9
    # what the sure rows (p >= 0.5) were seen by
    assert (a["first_ts"], a["last_ts"]) == (bj("2019-06-01 23:00"), bj("2019-06-02 01:00"))
    assert [a[k] for k in ("by_gps", "by_wifi", "by_cell", "by_ip")] == [1, 1, 0, 0]
    assert (a["mm_cells"], a["cn_cells"]) == (0, 0)  # the Myanmar cell was not sure
    assert (b["account_id"], b["area"], b["nights_sure"]) == ("b", 1, 1)
    assert [b[k] for k in ("by_cell", "mm_cells", "cn_cells")] == [1, 0, 1]


def test_presence_ties_go_to_the_lower_area(run_feature: Any) -> None:
    rows = run_feature(
        presence,
        near=(
            NEAR,
            [
                ("a", 2, 0.5, "gps", bj("2019-06-01 12:00"), None),
                ("a", 1, 0.5, "gps", bj("2019-06-01 13:00"), None),
            ],
        ),
    )
    assert [(r["area"], r["nights_w"]) for r in rows] == [(1, 0)]  # daytime: no nights


def test_present_means_seven_weighted_nights(run_feature: Any) -> None:
    rows = run_feature(
        present,
        presence=("account_id VARCHAR, nights_w DOUBLE", [("a", 7.0), ("b", 6.99), ("c", 30.0)]),
    )
    assert [r["account_id"] for r in rows] == ["a", "c"]


def test_copresence_counts_nights_in_a_confirmed_accounts_spot(run_feature: Any) -> None:
    spot = (23.7000, 99.1000)
    near_spot = (23.7010, 99.1010)  # 110 m away: the same 1/300-degree cell
    rows = run_feature(
        copresence,
        near=(
            "account_id VARCHAR, ts TIMESTAMPTZ, lat DOUBLE, lon DOUBLE, p DOUBLE, source VARCHAR",
            [
                ("c", bj("2019-06-01 23:00"), *spot, 0.9, "gps"),
                ("c", bj("2019-06-02 23:00"), *spot, 0.9, "wifi"),
                ("a", bj("2019-06-01 23:30"), *near_spot, 0.8, "gps"),
                ("a", bj("2019-06-02 02:00"), *spot, 0.8, "gps"),  # still the night of 1 June
                ("a", bj("2019-06-02 23:10"), *spot, 0.9, "wifi"),
                ("x", bj("2019-06-01 14:00"), *spot, 0.9, "gps"),  # daytime
                ("y", bj("2019-06-01 23:00"), *spot, 0.9, "cell"),  # a cell is no spot
                ("z", bj("2019-06-01 23:00"), *spot, 0.4, "gps"),  # not sure enough
                ("w", bj("2019-06-03 23:00"), *spot, 0.9, "gps"),  # another night
            ],
        ),
        confirmed=("account_id VARCHAR", [("c",)]),
    )
    assert rows == [{"account_id": "a", "copresent_nights": 2}]


def test_home_is_the_mean_of_the_most_used_night_cell(run_feature: Any) -> None:
    observations = [
        # a: two nights in one 0.1-degree cell, one in the areas (lat >= 23.5)
        ("a", bj("2019-06-01 23:00"), 22.51, 100.31, "gps"),
        ("a", bj("2019-06-02 23:00"), 22.53, 100.33, "wifi"),
        ("a", bj("2019-06-03 23:00"), 23.71, 99.01, "gps"),
        ("a", bj("2019-06-03 12:00"), 25.00, 102.00, "gps"),  # daytime: not a night
        ("a", bj("2019-06-04 12:00"), 25.00, 102.00, "gps"),
        ("a", bj("2019-06-04 23:00"), 25.00, 102.00, "cell"),  # only GPS and Wi-Fi count
        ("a", bj("2018-06-01 23:00"), 25.00, 102.00, "gps"),  # before the window
        ("a", bj("2019-06-05 23:00"), None, None, "gps"),
        # t: one row in each of two cells: the lower cell wins
        ("t", bj("2019-06-01 23:00"), 22.95, 100.05, "gps"),
        ("t", bj("2019-06-02 23:00"), 22.15, 100.95, "gps"),
        ("x", bj("2019-06-01 23:00"), 22.51, 100.31, "gps"),  # not linked
    ]
    rows = run_feature(
        home,
        observations=(
            "account_id VARCHAR, ts TIMESTAMPTZ, lat DOUBLE, lon DOUBLE, source VARCHAR",
            observations,
        ),
        linked=("account_id VARCHAR", [("a",), ("t",), ("q",)]),
    )
    a, t = rows  # q has no night fixes: no row
    assert a["account_id"] == "a"
    assert a["nights_elsewhere"] == 2  # 1 and 2 June; 3 June was in the areas
    assert (a["home_lat"], a["home_lon"]) == (pytest.approx(22.52), pytest.approx(100.32))
    assert (t["home_lat"], t["home_lon"]) == (22.15, 100.95)
