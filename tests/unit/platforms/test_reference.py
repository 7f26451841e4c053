"""The reference platform as a real server: signatures, idempotency that survives a
restart, the reads fairban and the portal use, and misbehaving on request."""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import uuid4

import httpx
import pytest

from fairban.platforms.signing import sign
from fairban.platforms.webhooks import MessageKind
from tests.support.platforms import contract_body


def webhook(
    sim: Any, account: str, kind: str = "measure.apply", **fields: Any
) -> tuple[str, bytes]:
    """A signed-to-be webhook for ``account``: the contract's envelope and body
    (``contract_body``), with ``fields`` changed."""
    key = uuid4().hex
    message_kind = MessageKind(kind) if kind in tuple(MessageKind) else MessageKind.APPLY
    measure = fields.get("measure", "suspend")
    measure = measure if measure in ("restrict", "suspend") else "suspend"
    doc = (
        {
            "id": key,
            "type": kind,
            "platform": sim.name,
            "account_id": account,
            "created_at": "2019-10-15T04:00:00Z",
        }
        | contract_body(message_kind, measure, f"C-{account}", "d-test")
        | fields
    )
    return key, json.dumps(doc, ensure_ascii=False).encode()


def post(
    sim: Any,
    body: bytes,
    key: str,
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {
        "Content-Type": "application/json",
        "Idempotency-Key": key,
        "Fairban-Signature": sign(secret or sim.secret, body, timestamp=timestamp),
    } | (headers or {})
    return httpx.post(sim.webhook, content=body, headers=sent, timeout=10)


def account_name() -> str:
    return f"wxid_{uuid4().hex[:8]}"


def test_apply_replay_lift_and_the_reads(sim: Any) -> None:
    account = account_name()
    key, body = webhook(
        sim,
        account,
        measure="restrict",
        functions=["outgoing_payments"],
        reasons=[{"code": "outreach_to_strangers", "text": "reached strangers"}],
        person_id="P-7",
        case_number="C-1",
    )
    first = post(sim, body, key)
    assert first.status_code == 200
    ack = first.json()
    assert ack["id"] == key
    assert (ack["applied"], ack["duplicate"], ack["platform"]) == (True, False, "wechat")
    assert ack["account"]["state"] == "restrict"

    again = post(sim, body, key)  # a replay: the same acknowledgement, applied once
    assert again.status_code == 200
    assert again.json() == ack | {"duplicate": True}
    assert [r[1:] for r in sim.deliveries({key})] == [(key, account, "measure.apply", 1)]

    key2, body2 = webhook(sim, account, measure="suspend", case_number="C-2")
    assert post(sim, body2, key2).json()["account"]["state"] == "suspend"  # the strongest

    with sim.client() as client:
        state = client.account(account)
        assert state is not None
        assert state["state"] == "suspend"
        assert [(m["case_number"], m["measure"]) for m in state["measures"]] == [
            ("C-1", "restrict"),
            ("C-2", "suspend"),
        ]
        assert client.account("nobody-" + account) is None

        key3, body3 = webhook(sim, account, "measure.lift", case_number="C-2", lift_reason="x")
        assert post(sim, body3, key3).json()["account"]["state"] == "restrict"

        exported = client.export(account)
        assert exported is not None
        assert exported["account_id"] == account
        assert exported["person_id"] == "P-7"
        assert exported["state"] == "restrict"
        assert [(h["type"], h["case_number"]) for h in exported["history"]] == [
            ("measure.apply", "C-1"),
            ("measure.apply", "C-2"),
            ("measure.lift", "C-2"),
        ]
        assert exported["history"][0]["reasons"] == [
            {"code": "outreach_to_strangers", "text": "reached strangers"}
        ]
        assert client.export("nobody-" + account) is None

        listed = {a["account_id"]: a for a in client.accounts(page_size=1)}  # paged
        assert listed[account]["state"] == "restrict"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"secret": "another-secret-0123456789"}, "signature does not match"),
        ({"timestamp": int(time.time()) - 400}, "outside the 300 s replay window"),
        ({"headers": {"Fairban-Signature": ""}}, "no Fairban-Signature header"),
    ],
)
def test_bad_signatures_are_401_and_change_nothing(
    sim: Any, change: dict[str, Any], reason: str
) -> None:
    account = account_name()
    key, body = webhook(sim, account, measure="suspend")
    refused = post(sim, body, key, **change)
    assert refused.status_code == 401
    assert reason in refused.json()["error"]
    assert sim.deliveries({key}) == []
    unsigned = httpx.get(f"{sim.base}/accounts/{account}", timeout=10)
    assert unsigned.status_code == 401


@pytest.mark.parametrize(
    ("fields", "header", "error"),
    [
        ({"platform": "qq"}, None, "addressed to platform 'qq', this is 'wechat'"),
        ({"measure": "ban"}, None, "measure must be one of restrict, suspend"),
        ({"type": "measure.delete"}, None, "unknown type 'measure.delete'"),
        ({"account_id": ""}, None, "no account_id"),
        ({"measure": "suspend"}, "another-key", "header does not match the body's id"),
    ],
)
def test_webhooks_that_cannot_be_applied_are_422(
    sim: Any, fields: dict[str, Any], header: str | None, error: str
) -> None:
    key, body = webhook(sim, account_name(), **fields)
    refused = post(sim, body, key, headers={"Idempotency-Key": header} if header else None)
    assert refused.status_code == 422
    assert error in refused.json()["error"]
    assert sim.deliveries({key}) == []


def test_told_to_fail_slow_down_answer_garbage_or_lose_acks(sim: Any) -> None:
    account = account_name()
    key, body = webhook(sim, account, measure="suspend")

    assert sim.control(fail=True)["fail"] is True
    assert post(sim, body, key).status_code == 503
    sim.control(fail=False, garbage=True)
    garbage = post(sim, body, key)
    assert garbage.status_code == 200
    assert garbage.text.startswith("<html>")
    assert sim.deliveries({key}) == []  # neither applied

    sim.control(garbage=False, lose_ack_rate=1.0, delay_ms=300)
    started = time.monotonic()
    lost = post(sim, body, key)
    assert time.monotonic() - started >= 0.3
    assert lost.status_code == 503
    assert len(sim.deliveries({key})) == 1  # applied, the answer lost
    sim.control(lose_ack_rate=0.0, delay_ms=0)
    assert post(sim, body, key).json()["duplicate"] is True

    with pytest.raises(Exception, match="unknown setting 'explode'"):
        sim.control(explode=True)
    with pytest.raises(Exception, match="fail_rate must be between 0 and 1"):
        sim.control(fail_rate=2)
    unsigned = httpx.post(f"{sim.base}/control", json={"fail": True}, timeout=10)
    assert unsigned.status_code == 401
    assert sim.control()["fail"] is False


@pytest.mark.slow
def test_applied_keys_survive_a_restart(sims: Any) -> None:
    sim = sims("qq")
    account = account_name()
    key, body = webhook(sim, account, measure="restrict")
    ack = post(sim, body, key).json()
    sim.stop()  # SIGTERM
    sim.start()  # the same port and table
    assert post(sim, body, key).json() == ack | {"duplicate": True}
    assert sim.stats()["applied"] == 1
    assert sim.stats()["duplicates"] == 1
    with sim.client() as client:
        state = client.account(account)
        assert state is not None
        assert state["state"] == "restrict"
