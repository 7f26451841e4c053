"""Nothing lost (issue 4, item 7), with real processes: the worker killed with SIGKILL
in the middle of delivering, twice, and restarted; the platform killed and brought back
while messages keep coming. Every message arrives, in order per account, and the
platform applies none twice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, func, select

from fairban.db import session_factory
from fairban.platforms.models import DeliveryAttempt, OutboxState
from fairban.platforms.webhooks import MessageKind
from tests.support.platforms import (
    add_messages,
    cli_env,
    in_order_per_account,
    messages,
    register,
    states,
)

APPLY, LIFT = MessageKind.APPLY, MessageKind.LIFT


def start_worker(url: str, home: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fairban.cli", "worker", "-q", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(home, url),
    )


def wait_for(
    check: Callable[[], bool], process: subprocess.Popen[str] | None, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the worker exited: {process.communicate()[1]}")
        time.sleep(0.05)


def delivered(engine: Engine) -> int:
    return int(states(engine)[OutboxState.DELIVERED])


def plan(accounts: list[str]) -> list[tuple[str, MessageKind, str]]:
    steps = [(APPLY, "restrict"), (APPLY, "suspend"), (LIFT, "")]
    return [(a, kind, measure) for kind, measure in steps for a in accounts]


@pytest.mark.slow
def test_a_worker_killed_twice_loses_nothing(
    new_engine: Engine, new_db_url: str, sim: Any, tmp_path: Path
) -> None:
    register(new_engine, "wechat", sim.webhook)
    accounts = [f"wxid_{uuid4().hex[:6]}_{i}" for i in range(700)]
    add_messages(new_engine, "wechat", plan(accounts))  # 2,100 messages
    total = 2100
    options = ("--lease", "3", "--timeout", "2", "--batch", "100", "--concurrency", "8")
    worker: subprocess.Popen[str] | None = None
    # slow enough (8 in flight, 20 ms each: at most 400 a second) that the kills land
    # mid-delivery even when this test's polling is starved on a loaded machine
    sim.control(delay_ms=20)
    try:
        for kill_after in (total // 5, total // 2):
            worker = start_worker(new_db_url, tmp_path, *options)
            wait_for(lambda n=kill_after: delivered(new_engine) >= n, worker)
            worker.send_signal(signal.SIGKILL)  # mid-delivery: claimed, sent, not recorded
            worker.wait(timeout=10)
            assert delivered(new_engine) < total
        sim.control(delay_ms=0)
        worker = start_worker(new_db_url, tmp_path, *options)
        wait_for(lambda: delivered(new_engine) == total, worker)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()

    in_order_per_account(sim, new_engine)  # each applied once, in order
    sent = messages(new_engine)
    assert {m.state for m in sent} == {OutboxState.DELIVERED}
    keys = {m.idempotency_key for m in sent}
    applied = sim.deliveries(keys)
    assert len(applied) == total
    # what the kills cut off between claim and record went out again after its lease;
    # what had reached the platform was answered as a duplicate, not applied again
    assert max(m.attempts for m in sent) >= 2
    assert all(r[4] <= 2 for r in applied)
    with session_factory(new_engine, read_only=True)() as session:
        tries = session.scalar(select(func.count()).select_from(DeliveryAttempt))
    assert tries is not None
    assert tries >= total
    with sim.client() as client:
        assert {client.account(a)["state"] for a in accounts[:50]} == {"none"}


@pytest.mark.slow
def test_a_platform_down_for_a_while_gets_everything_after(
    new_engine: Engine, new_db_url: str, sims: Any, tmp_path: Path
) -> None:
    sim = sims("alipay")  # its own process: this test kills it
    register(new_engine, "alipay", sim.webhook)
    accounts = [f"2088{uuid4().hex[:6]}{i:03d}" for i in range(100)]
    add_messages(new_engine, "alipay", plan(accounts)[:200])
    # retries every half second at most, and enough of them to outlast the outage
    options = ("--backoff-base", "0.05", "--backoff-cap", "0.5", "--max-attempts", "10000")
    worker = start_worker(new_db_url, tmp_path, *options)
    try:
        wait_for(lambda: delivered(new_engine) >= 50, worker)
        sim.stop(signal.SIGKILL)  # down, abruptly
        add_messages(new_engine, "alipay", plan(accounts)[200:])  # while it is down

        def refused() -> bool:
            with session_factory(new_engine, read_only=True)() as session:
                query = select(func.count()).select_from(DeliveryAttempt)
                query = query.where(DeliveryAttempt.error == "connection refused")
                return int(session.scalar(query) or 0) >= 100

        wait_for(refused, worker)
        assert delivered(new_engine) < 300
        assert states(new_engine)[OutboxState.DEAD] == 0

        sim.start()  # back, on the same port, with the same table
        wait_for(lambda: delivered(new_engine) == 300, worker)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()

    in_order_per_account(sim, new_engine)
    assert sim.stats()["applied"] == 300
    with sim.client() as client:
        assert {client.account(a)["state"] for a in accounts[:20]} == {"none"}
