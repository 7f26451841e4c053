"""The delivery worker against the reference platform (a real server process), on
SQLite and PostgreSQL: acknowledgements, order per account through failures, backoff,
dead letters and their retry, pause holding, and platforms that answer garbage."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from fairban.audit import AuditEntry, verify
from fairban.db import session_factory
from fairban.directives.models import DirectiveRecord
from fairban.platforms.client import export_account
from fairban.platforms.models import DeliveryAttempt, OutboxState, Platform
from fairban.platforms.outbox import enqueue
from fairban.platforms.registry import PlatformError, set_enabled
from fairban.platforms.service import list_messages, retry_messages
from fairban.platforms.webhooks import MessageKind
from fairban.platforms.worker import (
    DeliveryWorker,
    Outcome,
    WorkerConfig,
    backoff_s,
    check_ack,
    claim,
    record,
)
from tests.support.platforms import (
    FAST,
    add_messages,
    all_delivered,
    cli_env,
    deliver_until,
    fairban,
    in_order_per_account,
    messages,
    register,
    states,
)

APPLY, LIFT = MessageKind.APPLY, MessageKind.LIFT


def accounts(n: int) -> list[str]:
    tag = uuid4().hex[:6]
    return [f"wxid_{tag}_{i}" for i in range(n)]


def audit(engine: Engine, action: str) -> list[AuditEntry]:
    with session_factory(engine, read_only=True)() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def test_delivers_and_records_every_acknowledgement(new_engine: Engine, sim: Any) -> None:
    register(new_engine, "wechat", sim.webhook)
    names = accounts(20)
    plan = [(a, APPLY, "restrict") for a in names] + [(a, APPLY, "suspend") for a in names]
    plan += [(a, LIFT, "") for a in names[:10]]
    ids = add_messages(new_engine, "wechat", plan)

    stats = DeliveryWorker(new_engine, FAST).run(once=True)
    assert (stats.delivered, stats.failed_tries, stats.dead) == (50, 0, 0)

    sent = messages(new_engine)
    assert [m.id for m in sent] == ids
    for m in sent:
        assert m.state == OutboxState.DELIVERED
        assert m.attempts == 1
        assert m.delivered_at is not None
        assert m.delivered_at >= m.created_at
        assert m.ack is not None
        ack = json.loads(m.ack)
        assert (ack["id"], ack["applied"], ack["duplicate"]) == (m.idempotency_key, True, False)
    in_order_per_account(sim, new_engine)
    acknowledged = [
        i
        for e in audit(new_engine, "platform:delivery:ack")
        for i in json.loads(e.payload)["messages"]
    ]
    assert sorted(acknowledged) == ids
    with session_factory(new_engine, read_only=True)() as session:
        tries = session.execute(
            select(DeliveryAttempt.status_code, func.count()).group_by(DeliveryAttempt.status_code)
        ).all()
        assert tries == [(200, 50)]
        assert verify(session).ok

        # the platform's state: suspended, or lifted; and the account's own data export
        exported = export_account(session, "wechat", names[15])
        assert exported is not None
        assert exported["state"] == "suspend"
        assert [h["measure"] for h in exported["history"]] == ["restrict", "suspend"]
        lifted = export_account(session, "wechat", names[0])
        assert lifted is not None
        assert lifted["state"] == "none"


def test_order_per_account_holds_through_failures_and_lost_acks(
    new_engine: Engine, sim: Any
) -> None:
    register(new_engine, "wechat", sim.webhook)
    sim.control(fail_rate=0.4, lose_ack_rate=0.3)
    names = accounts(25)
    plan = []
    for step in ((APPLY, "restrict"), (APPLY, "suspend"), (LIFT, ""), (APPLY, "restrict")):
        plan += [(a, *step) for a in names]
    add_messages(new_engine, "wechat", plan)

    deliver_until(new_engine, all_delivered(new_engine))

    in_order_per_account(sim, new_engine)
    sent = messages(new_engine)
    assert max(m.attempts for m in sent) > 1  # it did fail on the way
    keys = {m.idempotency_key for m in sent}
    assert sum(r[4] for r in sim.deliveries(keys)) > 0  # lost acks were sent again...
    assert len(sim.deliveries(keys)) == len(keys)  # ...and applied once
    with sim.client() as client:
        assert {client.account(a)["state"] for a in names} == {"restrict"}


def test_two_workers_share_the_outbox_without_sending_twice(new_engine: Engine, sim: Any) -> None:
    register(new_engine, "wechat", sim.webhook)
    names = accounts(150)
    add_messages(new_engine, "wechat", [(a, APPLY, "suspend") for a in names] * 2)
    config = WorkerConfig(**(FAST.__dict__ | {"batch": 20}))
    workers = [DeliveryWorker(new_engine, config) for _ in range(2)]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # a message the first worker found nothing to do about may be left: finish it
    DeliveryWorker(new_engine, FAST).run(once=True)
    sent = messages(new_engine)
    assert {m.state for m in sent} == {OutboxState.DELIVERED}
    assert {m.attempts for m in sent} == {1}  # nobody claimed a message twice
    keys = {m.idempotency_key for m in sent}
    assert sum(r[4] for r in sim.deliveries(keys)) == 0
    assert sum(w.stats.delivered for w in workers) > 0
    in_order_per_account(sim, new_engine)


def test_backoff_grows_with_full_jitter(session: Session) -> None:
    rng = random.Random(7)
    for attempts in range(1, 12):
        waits = [backoff_s(attempts, 1.0, 60.0, rng) for _ in range(200)]
        ceiling = min(60.0, 2.0 ** (attempts - 1))
        assert min(waits) >= 0.0
        assert max(waits) <= ceiling
        assert max(waits) > 0.8 * ceiling  # jitter spreads over the whole range

    message = enqueue(
        session, platform="p", account_id="a", kind=APPLY, body={}, now=datetime.now(UTC)
    )
    for attempt in range(1, 5):
        session.execute(
            update(type(message))
            .where(type(message).id == message.id)
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        (claimed,) = claim(session, limit=10, lease_s=30, max_attempts=4)
        assert claimed.attempts == attempt
        at = datetime.now(UTC)
        done = record(
            session,
            [Outcome(claimed, at, 1.0, 503, None, "HTTP 503: down")],
            max_attempts=4,
            backoff_base_s=10.0,
            backoff_cap_s=25.0,
            rng=rng,
        )
        session.refresh(message)
        if attempt < 4:
            assert done.retried == [claimed]
            assert message.state == OutboxState.PENDING
            wait = (message.next_attempt_at - at).total_seconds()
            assert 0.0 <= wait <= min(25.0, 10.0 * 2 ** (attempt - 1)) + 0.001
        else:
            assert done.dead == [claimed]
            assert message.state == OutboxState.DEAD
    assert message.last_error == "HTTP 503: down"
    assert claim(session, limit=10, lease_s=30, max_attempts=4) == []


def test_an_acknowledgement_must_name_the_message() -> None:
    assert check_ack(b'{"id":"k","applied":true}', "k") == ('{"id":"k","applied":true}', None)
    assert check_ack(b'{"id":"k","duplicate":true}', "k")[0] is not None
    for body, why in [
        (b"<html>OK</html>", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id":"other","applied":true}', "acknowledges another message"),
        (b'{"id":"k"}', "neither applied nor duplicate"),
        (b'{"id":"k","applied":false}', "neither applied nor duplicate"),
    ]:
        ack, error = check_ack(body, "k")
        assert ack is None
        assert error is not None
        assert why in error


def test_dead_letters_block_their_account_until_retried(
    new_engine: Engine, new_db_url: str, sim: Any, tmp_path: Path
) -> None:
    register(new_engine, "wechat", sim.webhook)
    sim.control(fail=True)
    a, b = accounts(2)
    ids = add_messages(
        new_engine, "wechat", [(a, APPLY, "suspend"), (a, LIFT, ""), (b, APPLY, "restrict")]
    )
    config = WorkerConfig(**(FAST.__dict__ | {"max_attempts": 3}))

    def two_dead() -> bool:
        return states(new_engine)[OutboxState.DEAD] == 2

    deliver_until(new_engine, two_dead, config)
    apply_a, lift_a, apply_b = messages(new_engine)
    assert (apply_a.state, apply_a.attempts) == (OutboxState.DEAD, 3)
    assert (apply_b.state, apply_b.attempts) == (OutboxState.DEAD, 3)
    assert (lift_a.state, lift_a.attempts) == (OutboxState.PENDING, 0)  # never overtook
    assert apply_a.last_error is not None
    assert apply_a.last_error.startswith("HTTP 503: ")
    with session_factory(new_engine, read_only=True)() as session:
        tries = session.scalars(
            select(DeliveryAttempt.status_code).where(DeliveryAttempt.message_id == apply_a.id)
        ).all()
        assert tries == [503, 503, 503]
        (waiting,) = list_messages(session, state=OutboxState.PENDING)
        assert waiting.waiting == f"waits for #{ids[0]} (dead), same account"
    dead = audit(new_engine, "platform:delivery:dead")
    assert sorted(e.subject for e in dead) == [f"outbox:{ids[0]}", f"outbox:{ids[2]}"]

    run = fairban
    listed = run("outbox", "list", "--state", "dead", home=tmp_path, url=new_db_url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("outbox: 1 pending, 0 delivered, 2 dead\n")
    assert listed.stdout.count("HTTP 503: ") == 2

    sim.control(fail=False)
    retried = run("outbox", "retry", "--all-dead", home=tmp_path, url=new_db_url)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout == (
        f"revived 2 dead letters, made 0 pending messages due now (#{ids[0]}, #{ids[2]})\n"
    )
    (entry,) = audit(new_engine, "platform:outbox:retry")
    assert json.loads(entry.payload) == {"revived": [ids[0], ids[2]], "hurried": []}

    stats = DeliveryWorker(new_engine, FAST).run(once=True)
    assert stats.delivered == 3
    in_order_per_account(sim, new_engine)
    with session_factory(new_engine)() as session, pytest.raises(PlatformError) as caught:
        retry_messages(session, [ids[0], 12345], actor="operator:test")
    assert str(caught.value) == "no outbox message #12345: see `fairban outbox list`"


def test_a_paused_directive_holds_its_messages_until_resumed(new_engine: Engine, sim: Any) -> None:
    register(new_engine, "wechat", sim.webhook)
    with session_factory(new_engine)() as session, session.begin():
        for name, paused in (("mm-2019", True), ("mm-2020", False)):
            session.add(
                DirectiveRecord(
                    id=name,
                    title=name,
                    issuer="test",
                    legal_basis="test",
                    current_version=1,
                    paused=paused,
                    created_at=datetime.now(UTC),
                )
            )
    x, y = accounts(2)
    held = add_messages(new_engine, "wechat", [(x, APPLY, "suspend")], directive_id="mm-2019")
    behind = add_messages(new_engine, "wechat", [(x, LIFT, "")], directive_id="mm-2020")
    free = add_messages(new_engine, "wechat", [(y, APPLY, "suspend")], directive_id="mm-2020")

    assert DeliveryWorker(new_engine, FAST).run(once=True).delivered == 1
    by_id = {m.id: m.state for m in messages(new_engine)}
    assert by_id == {
        held[0]: OutboxState.PENDING,
        behind[0]: OutboxState.PENDING,
        free[0]: OutboxState.DELIVERED,
    }
    with session_factory(new_engine, read_only=True)() as session:
        waiting = [m.waiting for m in list_messages(session, state=OutboxState.PENDING)]
        assert waiting == [
            "held: directive mm-2019 is paused",
            f"waits for #{held[0]} (pending), same account",
        ]
    assert messages(new_engine, held)[0].attempts == 0  # not even tried

    with session_factory(new_engine)() as session, session.begin():
        session.execute(update(DirectiveRecord).values(paused=False))
    assert DeliveryWorker(new_engine, FAST).run(once=True).delivered == 2
    in_order_per_account(sim, new_engine)


def test_a_pause_never_holds_a_lift(new_engine: Engine, sim: Any) -> None:
    """The kill switch stops new measures; lifting stays instant (principle 7)."""
    register(new_engine, "wechat", sim.webhook)
    with session_factory(new_engine)() as session, session.begin():
        session.add(
            DirectiveRecord(
                id="mm-2019",
                title="mm-2019",
                issuer="test",
                legal_basis="test",
                current_version=1,
                paused=False,
                created_at=datetime.now(UTC),
            )
        )
    x, y = accounts(2)
    add_messages(new_engine, "wechat", [(x, APPLY, "suspend")], directive_id="mm-2019")
    assert DeliveryWorker(new_engine, FAST).run(once=True).delivered == 1

    with session_factory(new_engine)() as session, session.begin():
        session.execute(update(DirectiveRecord).values(paused=True))
    lift = add_messages(new_engine, "wechat", [(x, LIFT, "")], directive_id="mm-2019")
    new = add_messages(new_engine, "wechat", [(y, APPLY, "suspend")], directive_id="mm-2019")
    assert DeliveryWorker(new_engine, FAST).run(once=True).delivered == 1
    by_id = {m.id: m.state for m in messages(new_engine)}
    assert by_id[lift[0]] == OutboxState.DELIVERED
    assert by_id[new[0]] == OutboxState.PENDING


def test_a_disabled_platform_keeps_its_messages(new_engine: Engine, sim: Any) -> None:
    register(new_engine, "wechat", sim.webhook)
    add_messages(new_engine, "wechat", [(a, APPLY, "restrict") for a in accounts(3)])
    with session_factory(new_engine)() as session, session.begin():
        set_enabled(session, "wechat", False, actor="operator:test")
    assert DeliveryWorker(new_engine, FAST).run(once=True).delivered == 0
    with session_factory(new_engine)() as session, session.begin():
        set_enabled(session, "wechat", True, actor="operator:test")
    assert DeliveryWorker(new_engine, FAST).run(once=True).delivered == 3


def test_garbage_bad_urls_and_unknown_platforms_are_recorded_failures(
    new_engine: Engine, sim: Any, sims: Any
) -> None:
    junk = sims("qq")
    junk.control(garbage=True)
    register(new_engine, "wechat", sim.webhook)
    register(new_engine, "qq", junk.webhook)
    register(new_engine, "alipay", sim.webhook, secret="not-the-sim-secret-0123")
    register(new_engine, "pos", "http://127.0.0.1:9/webhook")  # nothing listens
    with session_factory(new_engine)() as session, session.begin():
        # a URL the registry refuses, as if written to the database by other means
        now = datetime.now(UTC)
        session.add(
            Platform(
                name="ftp",
                webhook_url="ftp://127.0.0.1/hook",
                secret="x" * 16,
                enabled=True,
                created_at=now,
                updated_at=now,
            )
        )
    names = accounts(5)
    targets = ["qq", "alipay", "pos", "ftp", "nosuch"]
    for name in targets:
        add_messages(new_engine, name, [(a, APPLY, "suspend") for a in names])
    good = add_messages(new_engine, "wechat", [(a, APPLY, "suspend") for a in names])
    config = WorkerConfig(**(FAST.__dict__ | {"max_attempts": 2}))

    def settled() -> bool:
        return states(new_engine)[OutboxState.DEAD] == 5 * len(targets)

    worker = deliver_until(new_engine, settled, config)
    assert worker.stats.delivered == 5
    errors = {m.platform: m.last_error for m in messages(new_engine) if m.last_error}
    assert errors["qq"] == (
        "2xx answer is not an acknowledgement (not JSON): '<html><body>OK!</body></html>'"
    )
    assert errors["alipay"] == 'HTTP 401: \'{"error":"signature does not match"}\''
    assert errors["pos"] == "connection refused"
    assert errors["ftp"] == "not an http(s) URL: 'ftp://127.0.0.1/hook'"
    assert errors["nosuch"] == (
        "unknown platform 'nosuch': register it with `fairban platform add`"
    )
    assert {m.state for m in messages(new_engine, good)} == {OutboxState.DELIVERED}
    assert junk.deliveries() == []


@pytest.mark.slow
def test_the_worker_command_stops_gracefully(
    new_engine: Engine, new_db_url: str, sim: Any, tmp_path: Path
) -> None:
    # slow answers, then SIGTERM: what is in flight is finished and recorded
    register(new_engine, "wechat", sim.webhook)
    sim.control(delay_ms=300)
    add_messages(new_engine, "wechat", [(a, APPLY, "suspend") for a in accounts(70)])
    worker = subprocess.Popen(
        [sys.executable, "-m", "fairban.cli", "worker", "--concurrency", "4", "--batch", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(tmp_path, new_db_url),
    )
    try:
        deadline = time.monotonic() + 60
        while states(new_engine)[OutboxState.DELIVERED] < 4:
            assert time.monotonic() < deadline, "the worker delivers nothing"
            assert worker.poll() is None, worker.communicate()
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    delivered = states(new_engine)[OutboxState.DELIVERED]
    assert out.startswith(f"delivered {delivered} messages in ")
    assert out.rstrip().endswith(f"0 failed tries; 0 dead letters; {70 - delivered} pending")
    # nothing stays leased: each message is delivered or was never tried
    for m in messages(new_engine):
        assert m.state == OutboxState.DELIVERED or m.attempts == 0, m.id
    assert states(new_engine)[OutboxState.PENDING] > 0  # it did stop early


def test_a_claim_walks_past_messages_that_must_wait(session: Session) -> None:
    # more held and waiting messages than one window of the claim holds, then some that
    # may go: the claim passes over the first to lease the last
    directive = {"title": "held", "issuer": "test", "legal_basis": "test"}
    session.add(
        DirectiveRecord(
            id="held", current_version=1, paused=True, created_at=datetime.now(UTC), **directive
        )
    )
    for n in range(120):
        enqueue(
            session,
            platform="p",
            account_id=f"h{n}",
            kind=APPLY,
            body={},
            directive_id="held",
            now=datetime.now(UTC),
        )
    for n in range(60):
        enqueue(
            session, platform="p", account_id=f"h{n}", kind=LIFT, body={}, now=datetime.now(UTC)
        )  # behind them
    free = [
        enqueue(
            session, platform="p", account_id=f"f{n}", kind=APPLY, body={}, now=datetime.now(UTC)
        ).id
        for n in range(3)
    ]
    claimed = claim(session, limit=5, lease_s=30, max_attempts=3)
    assert [m.id for m in claimed] == free
    assert claim(session, limit=5, lease_s=30, max_attempts=3) == []  # leased now


def test_recording_an_acknowledgement_again_changes_nothing(session: Session) -> None:
    """A worker whose commit was lost in the database's crash (its answer never came)
    records the same tries again: the second record writes no attempt, no state and no
    audit entry, so the log says once that each message was acknowledged."""
    rng = random.Random(3)
    now = datetime.now(UTC)
    for account in ("a1", "a2"):
        enqueue(session, platform="p1", account_id=account, kind=APPLY, body={}, now=now)
    enqueue(session, platform="p2", account_id="b1", kind=APPLY, body={}, now=now)
    claimed = claim(session, limit=10, lease_s=30, max_attempts=4)
    assert len(claimed) == 3
    at = datetime.now(UTC)
    outcomes = [
        Outcome(m, at, 1.0, 200, f'{{"id":"{m.key}","applied":true}}', None) for m in claimed
    ]
    before = session.scalar(select(func.count()).select_from(AuditEntry))
    first = record(
        session, outcomes, max_attempts=4, backoff_base_s=1.0, backoff_cap_s=5.0, rng=rng
    )
    assert len(first.delivered) == 3
    again = record(
        session, outcomes, max_attempts=4, backoff_base_s=1.0, backoff_cap_s=5.0, rng=rng
    )
    assert again.delivered == again.retried == again.dead == []
    acks = session.scalars(
        select(AuditEntry.payload).where(AuditEntry.action == "platform:delivery:ack")
    ).all()
    assert sorted(i for p in acks for i in json.loads(p)["messages"]) == sorted(
        m.id for m in claimed
    )  # one entry per platform, each message in one
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == before + 2
    ids = [m.id for m in claimed]
    tries = select(func.count()).select_from(DeliveryAttempt)
    assert session.scalar(tries.where(DeliveryAttempt.message_id.in_(ids))) == 3
    assert verify(session).ok
