"""The pipeline's result and the later passes (``features/combined.py``,
``features/judged.py``), run alone over inline tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fairban.targeting.features.combined import account_features
from fairban.targeting.features.judged import money_in_total_sql, second_pass_sql

T1 = datetime.fromisoformat("2019-06-01 23:00+08:00")
T2 = datetime.fromisoformat("2019-06-09 23:00+08:00")

#: each feature table's columns (name, type, a's value), as the features read them
A_ROWS: dict[str, list[tuple[str, str, Any]]] = {
    "presence": [
        ("area", "INTEGER", 2),
        ("nights_w", "DOUBLE", 7.5),
        ("nights_sure", "INTEGER", 6),
        ("days_w", "DOUBLE", 8.5),
        ("max_p", "DOUBLE", 0.99),
        ("first_ts", "TIMESTAMPTZ", T1),
        ("last_ts", "TIMESTAMPTZ", T2),
        ("by_gps", "INTEGER", 1),
        ("by_wifi", "INTEGER", 1),
        ("by_cell", "INTEGER", 0),
        ("by_ip", "INTEGER", 1),
        ("mm_cells", "INTEGER", 1),
        ("cn_cells", "INTEGER", 0),
    ],
    "outreach": [
        ("first_contacts", "BIGINT", 61),
        ("answered", "BIGINT", 3),
        ("provinces", "BIGINT", 7),
        ("outreach_days", "BIGINT", 9),
        ("first_ts", "TIMESTAMPTZ", T1),
        ("last_ts", "TIMESTAMPTZ", T2),
    ],
    "mule": [
        ("oneoff_senders", "BIGINT", 4),
        ("oneoff_amount", "DOUBLE", 400.0),
        ("forwarded", "BIGINT", 3),
        ("forwarded_amount", "DOUBLE", 300.0),
    ],
    "to_area": [("to_area_n", "BIGINT", 2), ("to_area_amount", "DOUBLE", 20.0)],
    "devices": [("device_peers", "BIGINT", 3), ("device_confirmed", "BIGINT", 1)],
    "copresence": [("copresent_nights", "BIGINT", 4)],
    "confirmed_contact": [("confirmed_messages", "BIGINT", 5), ("confirmed_money", "BIGINT", 1)],
    "home": [
        ("nights_elsewhere", "BIGINT", 11),
        ("home_lat", "DOUBLE", 25.0),
        ("home_lon", "DOUBLE", 102.7),
    ],
    "social": [("contacts", "BIGINT", 12), ("reciprocal", "BIGINT", 10)],
    "merchant": [("payers", "BIGINT", 8), ("repeat_payers", "BIGINT", 2)],
}
#: the columns scoring reads, in order, with the name each takes from its table
COLUMNS = [
    "account_id",
    "platform",
    "person_id",
    "kind",
    "phone_region",
    "area",
    "nights_w",
    "nights_sure",
    "days_w",
    "max_p",
    "present_first",
    "present_last",
    "by_gps",
    "by_wifi",
    "by_cell",
    "by_ip",
    "mm_cells",
    "cn_cells",
    "first_contacts",
    "answered",
    "provinces",
    "outreach_days",
    "outreach_first",
    "outreach_last",
    "oneoff_senders",
    "oneoff_amount",
    "forwarded",
    "forwarded_amount",
    "to_area_n",
    "to_area_amount",
    "device_peers",
    "device_confirmed",
    "copresent_nights",
    "confirmed_messages",
    "confirmed_money",
    "nights_elsewhere",
    "home_lat",
    "home_lon",
    "contacts",
    "reciprocal",
    "payers",
    "repeat_payers",
    "case_id",
]
RENAMED = {
    ("presence", "first_ts"): "present_first",
    ("presence", "last_ts"): "present_last",
    ("outreach", "first_ts"): "outreach_first",
    ("outreach", "last_ts"): "outreach_last",
}
#: what an account with none of a feature's evidence has: NULL where nothing is known
UNKNOWN = {
    "area",
    "present_first",
    "present_last",
    "outreach_first",
    "outreach_last",
    "home_lat",
    "home_lon",
    "case_id",
}


def test_features_is_one_row_per_linked_account_with_every_signal(run_feature: Any) -> None:
    tables = {
        name: (
            ", ".join(["account_id VARCHAR", *(f"{c} {t}" for c, t, _ in cols)]),
            [("a", *(v for _, _, v in cols))],
        )
        for name, cols in A_ROWS.items()
    }
    rows = run_feature(
        account_features,
        linked=(
            "account_id VARCHAR, platform VARCHAR, person_id VARCHAR, kind VARCHAR, "
            "phone_region VARCHAR",
            [("b", "qq", None, "personal", None), ("a", "wechat", "P1", "personal", "530100")],
        ),
        confirmed=("account_id VARCHAR, case_id VARCHAR", [("a", "K2"), ("a", "K1"), ("x", "K3")]),
        **tables,
    )
    a, b = rows
    assert list(a) == COLUMNS
    expected = {"account_id": "a", "platform": "wechat", "person_id": "P1", "kind": "personal"}
    expected |= {"phone_region": "530100", "case_id": "K1"}  # the first of a's cases
    for name, cols in A_ROWS.items():
        expected |= {RENAMED.get((name, c), c): v for c, _, v in cols}
    assert a == expected
    assert {k: v for k, v in b.items() if k in UNKNOWN} == dict.fromkeys(UNKNOWN)
    assert all(b[k] == 0 for k in COLUMNS[5:] if k not in UNKNOWN)  # no evidence: 0


def test_the_later_passes_count_money_and_phones_from_judged_accounts(run_feature: Any) -> None:
    rows = run_feature.query(
        second_pass_sql("suspects", "reaching"),
        features=("account_id VARCHAR", [("a",), ("b",)]),
        suspects=(
            "account_id VARCHAR, kind VARCHAR",
            [("mu", "mule"), ("s", "other"), ("op", "operator"), ("op2", "operator")],
        ),
        money_edges=(
            "src VARCHAR, dst VARCHAR, n INTEGER, amount DOUBLE",
            [
                ("mu", "a", 2, 100.0),
                ("s", "a", 1, 50.0),
                ("x", "a", 1, 7.0),  # x is not judged: only money in
                ("s", "s", 1, 1.0),  # to itself
                ("mu", "z", 1, 1.0),  # z is not linked
            ],
        ),
        linked=("account_id VARCHAR", [("a",), ("b",), ("s",)]),
        device_pairs=(
            "account_id VARCHAR, peer VARCHAR, stays INTEGER",
            # b shares phones with two judged operators (once twice over: one peer each);
            # a's phone mate op2 is seen in the areas but does not stay: not counted as a
            # judged account's phone, though it adds strangers (reaching)
            [
                ("a", "s", 1),
                ("a", "x", 1),
                ("a", "op2", 0),
                ("b", "x", 1),
                ("b", "op", 1),
                ("b", "op2", 1),
                ("b", "op", 1),
            ],
        ),
        reaching=("account_id VARCHAR", [("op2",), ("x",)]),
    )
    assert rows == [
        {
            "account_id": "a",
            "from_mules_n": 2,
            "from_mules_amount": 100.0,
            "from_suspects_amount": 150.0,
            "from_suspects_n": 3,
            "money_in_amount": 157.0,
            "device_suspects": 1,
            "device_operators": 0,  # s is judged, but not as an operator
            "device_reaching": 2,  # x and op2 add strangers, judged or not, staying or not
        },
        {
            "account_id": "b",
            "from_mules_n": None,
            "from_mules_amount": None,
            "from_suspects_amount": None,
            "from_suspects_n": None,
            "money_in_amount": None,
            "device_suspects": 2,
            "device_operators": 2,
            "device_reaching": 2,
        },
    ]
    # the engine makes all money in a table once (no judgement changes it): the same rows
    run_feature.con.execute(f"CREATE TEMP TABLE money_in AS {money_in_total_sql()}")
    assert run_feature.query(second_pass_sql("suspects", "reaching", "money_in")) == rows
