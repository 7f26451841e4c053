"""Money (``features/money.py``), each feature run alone over inline tables: win_money,
money_edges, mule, to_area, merchant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fairban.targeting.features.money import merchant, money_edges, mule, to_area, win_money

MOVES = "src VARCHAR, dst VARCHAR, ts TIMESTAMPTZ, kind VARCHAR, amount DOUBLE"


def bj(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


def test_win_money_is_the_windows_transfers_and_payments(run_feature: Any) -> None:
    start = datetime(2019, 1, 1, tzinfo=UTC)  # the test scope's window: (start, end]
    end = datetime(2019, 12, 31, tzinfo=UTC)
    rows = run_feature(
        win_money,
        interactions=(
            MOVES,
            [
                ("a", "b", bj("2019-06-01 10:00"), "transfer", 5.0),
                ("a", "b", bj("2019-06-01 11:00"), "payment", None),
                ("a", "b", bj("2019-06-01 12:00"), "message", None),
                ("a", "c", start, "transfer", 1.0),  # the start is not in the window
                ("a", "c", end, "transfer", 2.0),  # the end is
            ],
        ),
    )
    assert [(r["dst"], r["kind"], r["amount"]) for r in rows] == [
        ("b", "transfer", 5.0),
        ("b", "payment", None),
        ("c", "transfer", 2.0),
    ]


def test_money_edges_sum_moves_to_or_from_linked_accounts(run_feature: Any) -> None:
    rows = run_feature(
        money_edges,
        win_money=(
            MOVES,
            [
                ("a", "b", bj("2019-06-01 10:00"), "transfer", 5.0),
                ("a", "b", bj("2019-06-03 10:00"), "transfer", None),  # counted, as 0
                ("a", "b", bj("2019-06-02 10:00"), "payment", 2.0),
                ("c", "a", bj("2019-06-02 10:00"), "payment", 1.0),
                ("c", "d", bj("2019-06-02 10:00"), "payment", 1.0),  # neither is linked
            ],
        ),
        linked=("account_id VARCHAR", [("a",)]),
    )
    assert rows == [
        {
            "src": "a",
            "dst": "b",
            "kind": "payment",
            "n": 1,
            "amount": 2.0,
            "first_ts": bj("2019-06-02 10:00"),
            "last_ts": bj("2019-06-02 10:00"),
        },
        {
            "src": "a",
            "dst": "b",
            "kind": "transfer",
            "n": 2,
            "amount": 5.0,
            "first_ts": bj("2019-06-01 10:00"),
            "last_ts": bj("2019-06-03 10:00"),
        },
        {
            "src": "c",
            "dst": "a",
            "kind": "payment",
            "n": 1,
            "amount": 1.0,
            "first_ts": bj("2019-06-02 10:00"),
            "last_ts": bj("2019-06-02 10:00"),
        },
    ]


def test_mule_counts_one_off_senders_and_forwards_within_an_hour(run_feature: Any) -> None:
    moves = [
        ("s1", "m", bj("2019-06-01 10:50"), "transfer", 100.0),
        ("m", "x", bj("2019-06-01 11:20"), "transfer", 95.0),  # s1's, forwarded in 30 min
        ("s2", "m", bj("2019-06-01 13:00"), "transfer", 50.0),
        ("m", "y", bj("2019-06-01 13:10"), "transfer", 200.0),  # far more than came in
        ("s2", "m", bj("2019-06-01 15:00"), "transfer", 50.0),
        *[("s3", "m", bj(f"2019-06-01 16:0{i}"), "transfer", 10.0) for i in range(4)],
        ("m", "z", bj("2019-06-01 18:00"), "transfer", 10.0),  # two hours later: no forward
        ("t", "m", bj("2019-06-01 08:00"), "transfer", 30.0),  # t chats with m
        ("u", "m", bj("2019-06-01 08:00"), "transfer", 30.0),  # m chats with u
        ("w", "m", bj("2019-06-01 08:00"), "payment", 5.0),  # a payment is no transfer
        ("s1", "k", bj("2019-06-01 08:00"), "transfer", 5.0),  # k is not linked
    ]
    rows = run_feature(
        mule,
        win_money=(MOVES, moves),
        linked=("account_id VARCHAR", [("m",), ("n",)]),
        contact_pairs=(
            "src VARCHAR, dst VARCHAR, chat INTEGER",
            [("t", "m", 1), ("m", "u", 1), ("s1", "m", 0)],  # s1 only added m
        ),
    )
    assert rows == [
        {
            "account_id": "m",
            "oneoff_senders": 2,  # s1 once, s2 twice; s3 sent four times
            "oneoff_amount": 200.0,
            "forwarded": 1,
            "forwarded_amount": 100.0,
        },
        {
            "account_id": "n",
            "oneoff_senders": 0,
            "oneoff_amount": 0.0,
            "forwarded": 0,
            "forwarded_amount": 0.0,
        },
    ]


def test_to_area_is_money_from_outside_to_accounts_that_stay_there(run_feature: Any) -> None:
    rows = run_feature(
        to_area,
        money_edges=(
            "src VARCHAR, dst VARCHAR, n INTEGER, amount DOUBLE",
            [
                ("a", "p", 2, 100.0),
                ("a", "p", 1, 5.0),  # another kind of money to the same account
                ("a", "p2", 1, 7.0),
                ("p", "p2", 3, 9.0),  # between accounts that stay there
                ("b", "q", 1, 1.0),  # q does not stay there
            ],
        ),
        present=("account_id VARCHAR", [("p",), ("p2",)]),
    )
    assert rows == [
        {"account_id": "a", "to_area_n": 4, "to_area_amount": 112.0, "to_area_accounts": 2}
    ]


def test_merchant_counts_payers_repeat_payers_and_takings(run_feature: Any) -> None:
    rows = run_feature(
        merchant,
        money_edges=(
            "src VARCHAR, dst VARCHAR, kind VARCHAR, n INTEGER, amount DOUBLE",
            [
                ("c1", "shop", "payment", 1, 5.0),
                ("c2", "shop", "payment", 3, 30.0),
                ("c3", "shop", "transfer", 4, 40.0),  # a transfer is no takings
                ("c1", "other", "payment", 2, 5.0),  # not linked
            ],
        ),
        linked=("account_id VARCHAR", [("shop",)]),
    )
    assert rows == [{"account_id": "shop", "payers": 2, "repeat_payers": 1, "takings": 35.0}]
