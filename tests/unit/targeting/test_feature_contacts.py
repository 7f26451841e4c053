"""Who dealt with whom (``features/contacts.py``, ``features/linked.py``), each feature
run alone over inline tables: contact_pairs, linked, first_contacts, social,
confirmed_contact."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fairban.targeting.features.clock import Window
from fairban.targeting.features.contacts import (
    confirmed_contact,
    contact_pairs,
    first_contacts,
    social,
)
from fairban.targeting.features.feature import Scope
from fairban.targeting.features.linked import linked

T0 = datetime.fromisoformat("2019-06-01 10:00+08:00")
INTERACTIONS = "src VARCHAR, dst VARCHAR, ts TIMESTAMPTZ, kind VARCHAR, amount DOUBLE"
PAIRS = (
    "src VARCHAR, dst VARCHAR, first_add TIMESTAMPTZ, first_talk TIMESTAMPTZ, last_talk TIMESTAMPTZ"
)
ACCOUNTS = (
    "account_id VARCHAR, platform VARCHAR, person_id VARCHAR, kind VARCHAR, phone_region VARCHAR"
)


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_contact_pairs_sum_up_each_directed_pair(run_feature: Any) -> None:
    rows = run_feature(
        contact_pairs,
        interactions=(
            INTERACTIONS,
            [
                ("a", "b", t(10), "friend_add", None),
                ("a", "b", t(5), "friend_add", None),  # the first add counts
                ("a", "b", t(20), "message", None),
                ("a", "b", t(30), "transfer", 9.0),
                ("b", "a", t(25), "call", None),  # the other direction is its own pair
                ("c", "a", t(40), "payment", 1.0),
                ("c", "a", t(41), "poke", None),  # not a kind fairban reads
                ("d", "a", t(1), "poke", None),
                ("a", "e", datetime.fromisoformat("2018-06-01 10:00+08:00"), "message", None),
            ],
        ),
    )
    assert rows == [
        {
            "src": "a",
            "dst": "b",
            "first_add": t(5),
            "first_talk": t(20),
            "last_talk": t(30),
            "chat": 1,
            "msg": 1,
            "n_social": 3,  # two adds and a message
            "n_money": 1,
        },
        {
            "src": "b",
            "dst": "a",
            "first_add": None,
            "first_talk": t(25),
            "last_talk": t(25),
            "chat": 1,
            "msg": 0,
            "n_social": 1,
            "n_money": 0,
        },
        {
            "src": "c",
            "dst": "a",
            "first_add": None,
            "first_talk": t(40),
            "last_talk": t(40),
            "chat": 0,  # money is talk, but no chat
            "msg": 0,
            "n_social": 0,
            "n_money": 1,
        },
    ]  # d only poked, e was before the window


def test_linked_is_seen_dealing_same_person_or_confirmed(run_feature: Any) -> None:
    accounts = [
        ("p", "qq", "P", "personal", "530100"),  # stays in an area
        ("p2", "wechat", "P", "personal", None),  # p's person's other account
        ("s", "qq", None, "personal", None),  # seen just likely enough
        ("s2", "qq", None, "personal", None),  # not likely enough
        ("d", "wechat", None, "merchant", None),  # wrote to p
        ("f", "qq", None, "personal", None),  # p wrote to f
        ("e", "qq", None, "personal", None),  # wrote to q, seen less than a night
        ("q", "qq", None, "personal", None),
        ("c", "qq", None, "personal", None),  # confirmed by police
        ("al", "alipay", "P", "personal", None),  # p's person, but not in scope
    ]
    rows = run_feature(
        linked,
        presence=(
            "account_id VARCHAR, max_p DOUBLE, nights_w DOUBLE",
            [("p", 0.9, 3.0), ("s", 0.05, 0.0), ("s2", 0.04, 0.0), ("q", 0.04, 0.5)],
        ),
        contact_pairs=("src VARCHAR, dst VARCHAR", [("d", "p"), ("p", "f"), ("e", "q")]),
        accounts=(ACCOUNTS, accounts),
        confirmed=("account_id VARCHAR", [("c",), ("c",)]),
    )
    assert [r["account_id"] for r in rows] == ["c", "d", "f", "p", "p2", "s"]
    assert rows[1] == {
        "account_id": "d",
        "platform": "wechat",
        "person_id": None,
        "kind": "merchant",
        "phone_region": None,
    }


def test_linked_reads_platform_names_as_literals(run_feature: Any) -> None:
    scope = Scope(Window(t(-60), t(60)), ("o'brien",), "TRUE")
    rows = run_feature(
        linked,
        scope,
        presence=("account_id VARCHAR, max_p DOUBLE, nights_w DOUBLE", [("ob", 0.5, 0.0)]),
        contact_pairs=("src VARCHAR, dst VARCHAR", []),
        accounts=(ACCOUNTS, [("ob", "o'brien", None, "personal", None)]),
        confirmed=("account_id VARCHAR", []),
    )
    assert [r["account_id"] for r in rows] == ["ob"]


def test_first_contacts_are_adds_before_any_talk(run_feature: Any) -> None:
    rows = run_feature(
        first_contacts,
        contact_pairs=(
            PAIRS,
            [
                ("a", "b", t(10), t(5), t(5)),  # a wrote to b before adding b: known
                ("a", "c", t(10), None, None),
                ("c", "a", None, t(20), t(30)),  # c answered after the add
                ("a", "d", t(10), None, None),
                ("d", "a", None, t(5), t(5)),  # d had paid a before: known the other way
                ("a", "e", t(10), t(40), t(40)),  # a's own talk later is no answer
                ("a", "g", t(10), None, None),
                ("g", "a", None, t(10), t(10)),  # g talked back in the same instant
                ("a", None, t(10), t(5), t(5)),  # a NULL counterpart is always new
                ("x", "a", t(10), None, None),  # x is not linked
            ],
        ),
        linked=("account_id VARCHAR", [("a",)]),
        accounts=(
            "account_id VARCHAR, phone_region VARCHAR",
            [("c", "530100"), ("e", "44"), ("g", "440300")],
        ),
    )
    assert [(r["src"], r["dst"], r["ts"], r["answered"], r["province"]) for r in rows] == [
        ("a", "c", t(10), 1, "53"),
        ("a", "e", t(10), 0, None),  # a region of 2 digits names no province
        ("a", "g", t(10), 1, "44"),
        ("a", None, t(10), 0, None),
    ]


def test_social_counts_accounts_messaged_and_those_that_wrote_back(run_feature: Any) -> None:
    rows = run_feature(
        social,
        contact_pairs=(
            "src VARCHAR, dst VARCHAR, msg INTEGER",
            [
                ("a", "b", 1),
                ("b", "a", 1),  # wrote back
                ("a", "c", 1),
                ("c", "a", 0),  # only called back
                ("a", "d", 0),  # never messaged
                ("x", "a", 1),  # x is not linked
            ],
        ),
        linked=("account_id VARCHAR", [("a",), ("q",)]),
    )
    assert rows == [{"account_id": "a", "contacts": 2, "reciprocal": 1}]


def test_confirmed_contact_counts_both_directions_once(run_feature: Any) -> None:
    rows = run_feature(
        confirmed_contact,
        confirmed=("account_id VARCHAR", [("c",), ("c",)]),  # two cases, one account
        contact_pairs=(
            "src VARCHAR, dst VARCHAR, n_social INTEGER, n_money INTEGER",
            [("a", "c", 2, 1), ("c", "a", 1, 0), ("a", "z", 5, 5), ("c", "x", 1, 1)],
        ),
        linked=("account_id VARCHAR", [("a",), ("c",)]),
    )
    assert rows == [{"account_id": "a", "confirmed_messages": 3, "confirmed_money": 1}]
