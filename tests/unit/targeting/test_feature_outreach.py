"""Outreach to strangers (``features/outreach.py``), each step run alone over inline
tables: the busy accounts, the two circles, the shared pairs, outreach."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fairban.targeting.features.outreach import (
    outreach,
    outreach_busy,
    outreach_dst_circle,
    outreach_shared,
    outreach_src_circle,
)

PAIRS = "src VARCHAR, dst VARCHAR, first_talk TIMESTAMPTZ"
TALKED = datetime.fromisoformat("2019-06-01 10:00+08:00")


def bj(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


def test_busy_accounts_add_twenty_of_whom_at_most_30_percent_answer(run_feature: Any) -> None:
    adds = [("q", f"v{i}", 1 if i < 6 else 0) for i in range(20)]  # 6 of 20 answer
    adds += [("r", f"v{i}", 1 if i < 7 else 0) for i in range(20)]  # 7 of 20: too many
    adds += [("s", f"v{i}", 0) for i in range(19)]  # too few
    rows = run_feature(
        outreach_busy, first_contacts=("src VARCHAR, dst VARCHAR, answered INTEGER", adds)
    )
    assert {r["src"] for r in rows} == {"q"}
    assert len(rows) == 20


def test_the_busy_accounts_circle_is_whom_they_talked_with(run_feature: Any) -> None:
    rows = run_feature(
        outreach_src_circle,
        contact_pairs=(
            PAIRS,
            [
                ("q", "m", TALKED),
                ("n", "q", TALKED),  # either way
                ("q", "m2", TALKED),
                ("m2", "q", TALKED),  # once, though both ways
                ("q", "v0", None),  # only added: no talk
                ("x", "y", TALKED),  # not busy
            ],
        ),
        outreach_busy=("src VARCHAR, dst VARCHAR", [("q", "v0"), ("q", "v1")]),
    )
    assert [(r["who"], r["other"]) for r in rows] == [("q", "m"), ("q", "m2"), ("q", "n")]


def test_the_added_accounts_circle_is_only_among_the_busy_accounts_contacts(
    run_feature: Any,
) -> None:
    rows = run_feature(
        outreach_dst_circle,
        contact_pairs=(
            PAIRS,
            [
                ("m", "v0", TALKED),  # m is also q's contact
                ("v1", "k", TALKED),  # k is no contact of q
                ("v1", "m", None),  # only an add
                ("q", "v2", TALKED),  # q itself is not among q's contacts
                ("v2", "m", TALKED),
            ],
        ),
        outreach_busy=("src VARCHAR, dst VARCHAR", [("q", "v0"), ("q", "v1"), ("q", "v2")]),
        outreach_src_circle=("who VARCHAR, other VARCHAR", [("q", "m"), ("q", "v2")]),
    )
    assert [(r["who"], r["other"]) for r in rows] == [("v0", "m"), ("v2", "m")]


def test_shared_pairs_have_a_contact_other_than_the_adder(run_feature: Any) -> None:
    rows = run_feature(
        outreach_shared,
        outreach_busy=("src VARCHAR, dst VARCHAR", [("q", "v0"), ("q", "v1"), ("q", "v2")]),
        outreach_dst_circle=(
            "who VARCHAR, other VARCHAR",
            [("v0", "m"), ("v1", "k"), ("v2", "q")],  # v2 knows only q itself
        ),
        outreach_src_circle=("who VARCHAR, other VARCHAR", [("q", "m"), ("q", "v2")]),
    )
    assert rows == [{"src": "q", "dst": "v0"}]


def test_outreach_counts_strangers_answers_provinces_and_local_days(run_feature: Any) -> None:
    rows = run_feature(
        outreach,
        first_contacts=(
            "src VARCHAR, dst VARCHAR, ts TIMESTAMPTZ, answered INTEGER, province VARCHAR",
            [
                ("q", "v0", bj("2019-06-01 09:00"), 0, "11"),  # shares a contact with q
                ("q", "v1", bj("2019-06-01 23:30"), 1, "53"),
                ("q", "v2", bj("2019-06-02 00:30"), 0, "44"),  # the next local day
                ("q", "v3", bj("2019-06-02 10:00"), 0, None),
                ("a", "b", bj("2019-06-03 10:00"), 0, "53"),
            ],
        ),
        outreach_shared=("src VARCHAR, dst VARCHAR", [("q", "v0")]),
    )
    assert rows[1] == {
        "account_id": "q",
        "first_contacts": 3,
        "answered": 1,
        "provinces": 2,
        "outreach_days": 2,
        "first_ts": bj("2019-06-01 23:30"),
        "last_ts": bj("2019-06-02 10:00"),
    }
    assert (rows[0]["account_id"], rows[0]["first_contacts"]) == ("a", 1)
