"""Phones shared (``features/devices.py``), each feature run alone over inline tables:
device_days, device_runs, device_pairs, devices."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fairban.targeting.features.devices import device_days, device_pairs, device_runs, devices


def bj(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


def day(text: str) -> date:
    return date.fromisoformat(text)


def test_device_days_are_local_days_on_phones_of_the_areas_or_the_police(
    run_feature: Any,
) -> None:
    rows = run_feature(
        device_days,
        observations=(
            "account_id VARCHAR, ts TIMESTAMPTZ, device_id VARCHAR",
            [
                ("a", bj("2019-06-01 10:00"), "D1"),
                ("a", bj("2019-06-01 11:00"), "D1"),  # one day, once
                ("a", bj("2019-06-02 00:30"), "D1"),  # the next local day
                ("a", bj("2019-06-01 10:00"), "D2"),  # D2 was not surely in an area
                ("b", bj("2019-06-01 23:30"), "D3"),
                ("c", bj("2019-06-05 10:00"), "D3"),  # c, confirmed, used D3
                ("c", bj("2018-06-05 10:00"), "D4"),  # ... and D4, before the window
                ("b", bj("2019-06-01 10:00"), "D4"),
                ("b", bj("2019-06-01 10:00"), None),
            ],
        ),
        near=(
            "account_id VARCHAR, device_id VARCHAR, p DOUBLE",
            [("p", "D1", 0.9), ("p", "D2", 0.4), ("q", "D4", 0.9)],  # q does not stay
        ),
        present=("account_id VARCHAR", [("p",)]),
        confirmed=("account_id VARCHAR", [("c",)]),
    )
    assert [(r["account_id"], r["device_id"], r["day"]) for r in rows] == [
        ("a", "D1", day("2019-06-01")),
        ("a", "D1", day("2019-06-02")),
        ("b", "D3", day("2019-06-01")),
        ("c", "D3", day("2019-06-05")),
    ]


def test_device_runs_join_consecutive_days(run_feature: Any) -> None:
    days = ["2019-06-01", "2019-06-02", "2019-06-03", "2019-06-07"]
    rows = run_feature(
        device_runs,
        device_days=(
            "account_id VARCHAR, device_id VARCHAR, day DATE",
            [("a", "D1", day(d)) for d in days] + [("b", "D1", day("2019-06-02"))],
        ),
    )
    assert [(r["account_id"], r["first_day"], r["last_day"]) for r in rows] == [
        ("a", day("2019-06-01"), day("2019-06-03")),
        ("a", day("2019-06-07"), day("2019-06-07")),
        ("b", day("2019-06-02"), day("2019-06-02")),
    ]


def test_device_pairs_are_runs_within_three_days_of_other_peoples(run_feature: Any) -> None:
    runs = [
        ("p", "D1", "2019-06-10", "2019-06-12"),  # p stays in an area
        ("a", "D1", "2019-06-14", "2019-06-15"),  # two days after p's run
        ("e", "D1", "2019-06-16", "2019-06-16"),  # four days after
        ("s", "D1", "2019-06-11", "2019-06-11"),  # s is p's person
        ("x", "D1", "2019-06-11", "2019-06-11"),  # x is not linked
        ("c", "D2", "2019-06-01", "2019-06-01"),  # c is confirmed
        ("a", "D2", "2019-06-02", "2019-06-02"),
        ("m", "D3", "2019-06-20", "2019-06-20"),  # m is seen in the areas at night
        ("a", "D3", "2019-06-21", "2019-06-21"),
        ("w", "D3", "2019-06-20", "2019-06-20"),  # w, seen by day only: not a mate
    ]
    rows = run_feature(
        device_pairs,
        device_runs=(
            "account_id VARCHAR, device_id VARCHAR, first_day DATE, last_day DATE",
            [(a, d, day(f), day(t)) for a, d, f, t in runs],
        ),
        confirmed=("account_id VARCHAR", [("c",)]),
        present=("account_id VARCHAR", [("p",)]),
        presence=(
            "account_id VARCHAR, nights_w DOUBLE",
            [("p", 9.0), ("m", 2.5), ("w", 0.4), ("a", 0.2)],
        ),
        accounts=(
            "account_id VARCHAR, person_id VARCHAR",
            [
                ("p", "P"),
                ("s", "P"),
                ("a", None),
                ("e", "E"),
                ("x", None),
                ("c", "C"),
                ("m", "M"),
                ("w", "W"),
            ],
        ),
        linked=("account_id VARCHAR", [("p",), ("a",), ("e",), ("s",)]),
    )
    assert [(r["account_id"], r["peer"], r["confirmed"], r["stays"]) for r in rows] == [
        ("a", "c", 1, 1),
        ("a", "m", 0, 0),  # a phone mate, though m does not stay
        ("a", "p", 0, 1),
    ]


def test_devices_count_peers_and_confirmed_peers(run_feature: Any) -> None:
    rows = run_feature(
        devices,
        device_pairs=(
            "account_id VARCHAR, peer VARCHAR, confirmed INTEGER, stays INTEGER",
            [("a", "p", 0, 1), ("a", "c", 1, 1), ("b", "p", 0, 1), ("b", "m", 0, 0)],
        ),
    )
    assert rows == [
        {"account_id": "a", "device_peers": 2, "device_confirmed": 1},
        {"account_id": "b", "device_peers": 1, "device_confirmed": 0},
    ]
