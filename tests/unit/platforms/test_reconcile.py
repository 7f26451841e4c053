"""Reconcile against the reference platform: fairban's delivered state beside the
platform's own table, every kind of difference found, and the command's exit status."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from fairban.db import session_factory
from fairban.platforms.client import PlatformUnavailableError
from fairban.platforms.models import OutboxState
from fairban.platforms.outbox import enqueue
from fairban.platforms.reconcile import DifferenceKind, compare, expected_state, reconcile
from fairban.platforms.registry import get_platform
from fairban.platforms.signing import webhook_headers
from fairban.platforms.webhooks import MessageKind
from fairban.platforms.worker import DeliveryWorker
from tests.support.platforms import FAST, add_messages, contract_body, fairban, register

APPLY, LIFT = MessageKind.APPLY, MessageKind.LIFT


def behind_fairbans_back(sim: Any, account: str, measure: str) -> None:
    """Someone else puts a measure on an account at the platform (a signed webhook
    fairban never sent)."""
    key = uuid4().hex
    body = json.dumps(
        {
            "id": key,
            "type": "measure.apply",
            "platform": sim.name,
            "account_id": account,
            "created_at": "2019-10-15T04:00:00Z",
        }
        | contract_body(APPLY, measure, f"C-{account}", "d-other")
    ).encode()
    answer = httpx.post(sim.webhook, content=body, headers=webhook_headers(sim.secret, body, key))
    assert answer.status_code == 200


def test_every_kind_of_difference(
    new_engine: Engine, new_db_url: str, sims: Any, tmp_path: Path
) -> None:
    sim = sims("wechat")  # a platform of this test's own: reconcile reads all of it
    register(new_engine, "wechat", sim.webhook)
    a, b, c, d, e = (f"wxid_{n}" for n in "abcde")
    add_messages(
        new_engine,
        "wechat",
        [
            (a, APPLY, "restrict"),
            (b, APPLY, "suspend"),
            (c, APPLY, "suspend"),
            (c, LIFT, ""),
            (d, APPLY, "restrict"),
        ],
    )
    DeliveryWorker(new_engine, FAST).run(once=True)
    with session_factory(new_engine, read_only=True)() as session:
        assert reconcile(session, get_platform(session, "wechat")).ok

    with sqlite3.connect(sim.db) as db:  # the platform lost b's measure
        db.execute("DELETE FROM measures WHERE account_id = ?", (b,))
    behind_fairbans_back(sim, c, "restrict")  # still on after fairban lifted it
    behind_fairbans_back(sim, d, "suspend")  # another measure than fairban's
    behind_fairbans_back(sim, e, "suspend")  # an account fairban never sent
    add_messages(new_engine, "wechat", [(b, LIFT, "")])  # not delivered yet

    with session_factory(new_engine, read_only=True)() as session:
        report = reconcile(session, get_platform(session, "wechat"))
    found = [(x.account_id, x.fairban, x.at_platform, x.kind, x.outbox) for x in report.differences]
    assert found == [
        (b, "suspend", "none", DifferenceKind.MISSING, "1 pending"),
        (c, "none", "restrict", DifferenceKind.STILL_ON, ""),
        (d, "restrict", "suspend", DifferenceKind.DIFFERS, ""),
        (e, "none", "suspend", DifferenceKind.UNKNOWN, ""),
    ]
    assert (report.measures_in_force, report.accounts_platform, report.pending) == (3, 4, 1)

    done = fairban("reconcile", home=tmp_path, url=new_db_url)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "wechat: 3 measures in force on 3 accounts in fairban, 4 accounts with measures at "
        "the platform: 4 differences; not yet delivered: 1 pending, 0 dead"
    )
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if "│" in line]
    assert rows == [
        [b, f"C-{b}", "suspend", "none", "measure missing at the platform", "1 pending"],
        [c, f"C-{c}", "none", "restrict", "lifted in fairban, still on at the platform", ""],
        [d, f"C-{d}", "restrict", "suspend", "different measure", ""],
        [e, f"C-{e}", "none", "suspend", "unknown to fairban", ""],
    ]


def test_an_unreachable_platform(new_engine: Engine) -> None:
    register(new_engine, "qq", "http://127.0.0.1:9/webhook")
    with (
        session_factory(new_engine, read_only=True)() as session,
        pytest.raises(PlatformUnavailableError, match=r"platform qq at http://127\.0\.0\.1:9/"),
    ):
        reconcile(session, get_platform(session, "qq"))


def test_fairbans_side_is_the_last_delivered_message(session: Session) -> None:
    def add(kind: MessageKind, body: dict[str, Any], state: OutboxState) -> None:
        message = enqueue(
            session, platform="p", account_id="a", kind=kind, body=body, now=datetime.now(UTC)
        )
        message.state = state

    add(APPLY, {"case_number": "C1", "measure": "restrict"}, OutboxState.DELIVERED)
    add(APPLY, {"case_number": "C2", "measure": "suspend"}, OutboxState.DELIVERED)
    add(APPLY, {"case_number": "C1", "measure": "suspend"}, OutboxState.DELIVERED)
    add(LIFT, {"case_number": "C3"}, OutboxState.DEAD)  # not delivered: not counted
    assert expected_state(session, "p") == ({("a", "C1"): "suspend", ("a", "C2"): "suspend"}, {"a"})
    add(LIFT, {}, OutboxState.DELIVERED)  # no case: lifts everything on the account
    assert expected_state(session, "p")[0] == {("a", "C1"): None, ("a", "C2"): None}

    assert compare("p", {("a", "C1"): None}, {}) == []
    (only,) = compare("p", {}, {("z", ""): "suspend"})
    assert (only.kind, only.case_number) == (DifferenceKind.UNKNOWN, "")
