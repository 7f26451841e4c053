"""Real processes for the platform tests: the reference platform (`fairban platform-sim`)
started as a subprocess on a free port, the command line, messages and workers. No
mocks: the worker talks HTTP to a server that keeps its own SQLite table.

The fixtures ``sims``, ``shared_sim`` and ``sim`` are registered for the whole suite by
tests/conftest.py; test modules import the helpers (``from tests.support.platforms
import Sim, add_messages``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import Engine, select

# the outbox's foreign key names the cases table: its model must be loaded
import fairban.cases.models
from fairban.db import session_factory
from fairban.measures import Measure
from fairban.platforms import webhooks
from fairban.platforms.client import PlatformClient
from fairban.platforms.models import OutboxMessage, OutboxState
from fairban.platforms.outbox import enqueue
from fairban.platforms.registry import add_platform
from fairban.platforms.webhooks import MessageKind
from fairban.platforms.worker import DeliveryWorker, WorkerConfig

SECRET = "test-secret-0123456789abcdef"
#: a worker that retries at once and gives up soon: tests do not wait for backoffs
FAST = WorkerConfig(
    batch=100,
    concurrency=8,
    max_attempts=50,
    backoff_base_s=0.005,
    backoff_cap_s=0.05,
    timeout_s=5.0,
    lease_s=10.0,
    poll_s=0.01,
    record_every_s=0.01,
)


def cli_env(home: Path, url: str | None) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "FAIRBAN_HOME": str(home)}
    env.pop("FAIRBAN_DATABASE_URL", None)
    env.pop("FAIRBAN_SIM_SECRET", None)
    if url is not None:
        env["FAIRBAN_DATABASE_URL"] = url
    return env


def fairban(
    *args: str, home: Path, url: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the command line as a person does; its exit status and output."""
    return subprocess.run(
        [sys.executable, "-m", "fairban.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=cli_env(home, url),
        timeout=timeout,
    )


@dataclass
class Sim:
    """A `fairban platform-sim` process and what the tests ask of it."""

    name: str
    db: Path
    home: Path
    secret: str = SECRET
    port: int = 0
    process: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook(self) -> str:
        return f"{self.base}/webhook"

    def start(self, timeout: float = 60.0) -> Sim:
        """Start (or restart, on the same port and table) and wait until it answers."""
        args = ["platform-sim", "--name", self.name, "--db", str(self.db), "--port", str(self.port)]
        env = cli_env(self.home, None) | {"FAIRBAN_SIM_SECRET": self.secret}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fairban.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.log.append(line)
        if "listening on http://127.0.0.1:" not in line:
            rest = self.process.stdout.read() if self.process.poll() is not None else ""
            raise RuntimeError(f"platform-sim did not start: {line}{rest}")
        self.port = int(line.split("http://127.0.0.1:")[1].split()[0])
        threading.Thread(target=self._drain, args=(self.process,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("platform-sim does not answer /health")

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.log.append(line)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (SIGTERM: gracefully; SIGKILL: at once)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def client(self) -> PlatformClient:
        return PlatformClient(self.name, self.webhook, self.secret, timeout_s=10.0)

    def control(self, **settings: Any) -> dict[str, Any]:
        with self.client() as client:
            return client.control(**settings)

    def reset(self) -> None:
        self.control(fail=False, fail_rate=0.0, garbage=False, lose_ack_rate=0.0, delay_ms=0)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.base}/stats", timeout=10.0).json()
        return result

    def deliveries(self, keys: set[str] | None = None) -> list[tuple[int, str, str, str, int]]:
        """(seq, key, account, type, duplicates) of every key applied, in the order
        applied, read from the platform's own table."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT seq, key, account_id, type, duplicates FROM deliveries ORDER BY seq"
            ).fetchall()
        return [r for r in rows if keys is None or r[1] in keys]


def register(engine: Engine, name: str, url: str, secret: str = SECRET) -> None:
    with session_factory(engine)() as session, session.begin():
        add_platform(session, name=name, url=url, secret=secret, actor="operator:test")


def contract_body(
    kind: MessageKind, measure: str, case_number: str, directive_id: str
) -> dict[str, Any]:
    """A webhook body as the case flows write it (``platforms/webhooks.py``): the
    reference platform refuses anything else. A lift without a measure lifts a
    suspension."""
    measure = measure or "suspend"
    fields: dict[str, Any] = {
        "case_number": case_number,
        "directive_id": directive_id,
        "directive_version": 1,
        "measure": measure,
        "functions": list(webhooks.FUNCTIONS[Measure(measure)]),
        "keeps": list(webhooks.KEEPS),
        "person_id": None,
        "automated": True,
        "appeal_url": f"https://fb.example/c/{case_number}?t=token",
        "sms": f"您的账号经反诈风险核查受到限制。https://fb.example/c/{case_number}",
    }
    if kind == MessageKind.APPLY:
        message: webhooks.ApplyBody | webhooks.LiftBody = webhooks.ApplyBody(
            **fields, reasons=[webhooks.Reason(code="r1", text="a reason")], expires_at=None
        )
    else:
        message = webhooks.LiftBody(**fields, lift_reason="appeal_granted")
    return webhooks.body(message)


def add_messages(
    engine: Engine,
    platform: str,
    plan: list[tuple[str, MessageKind, str]],
    *,
    directive_id: str | None = None,
) -> list[int]:
    """Enqueue (account, kind, measure) messages in one transaction, in order; their
    ids. Each account's measures share the case number ``C-<account>``."""
    ids = []
    with session_factory(engine)() as session, session.begin():
        for account, kind, measure in plan:
            body = contract_body(kind, measure, f"C-{account}", directive_id or "d-test")
            message = enqueue(
                session,
                platform=platform,
                account_id=account,
                kind=kind,
                body=body,
                directive_id=directive_id,
                now=datetime.now(UTC),
            )
            ids.append(message.id)
    return ids


def messages(engine: Engine, ids: list[int] | None = None) -> list[OutboxMessage]:
    with session_factory(engine, read_only=True)() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if ids is not None:
            query = query.where(OutboxMessage.id.in_(ids))
        return list(session.scalars(query))


def states(engine: Engine) -> dict[OutboxState, int]:
    counts = dict.fromkeys(OutboxState, 0)
    for m in messages(engine):
        counts[m.state] += 1
    return counts


def deliver_until(
    engine: Engine,
    done: Callable[[], bool],
    config: WorkerConfig = FAST,
    timeout: float = 60.0,
) -> DeliveryWorker:
    """Run a worker in a thread until ``done()`` holds; then stop it (gracefully)."""
    worker = DeliveryWorker(engine, config)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"not done after {timeout} s: {states(engine)}")
            if not thread.is_alive():
                raise AssertionError("the worker stopped by itself")
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    return worker


def all_delivered(engine: Engine) -> Callable[[], bool]:
    def check() -> bool:
        counts = states(engine)
        return counts[OutboxState.PENDING] == 0 and counts[OutboxState.DEAD] == 0

    return check


def in_order_per_account(sim: Sim, engine: Engine) -> None:
    """Assert that the platform applied every message of this database exactly once,
    and each account's messages in outbox (id) order."""
    sent = messages(engine)
    keys = {m.idempotency_key: m for m in sent}
    applied = sim.deliveries(set(keys))
    assert sorted(r[1] for r in applied) == sorted(keys), "some message was not applied"
    by_account: dict[str, list[int]] = {}
    for _, key, account, _, _ in applied:
        by_account.setdefault(account, []).append(keys[key].id)
    for account, ids in by_account.items():
        assert ids == sorted(ids), f"{account}: applied out of order {ids}"


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Sim]]:
    """``sims(name)`` starts a reference platform for the module; all stop at its end."""
    started: list[Sim] = []
    folder = tmp_path_factory.mktemp("sims")

    def start(name: str = "wechat") -> Sim:
        sim = Sim(name=name, db=folder / f"{name}-{uuid4().hex[:6]}.db", home=folder)
        started.append(sim)
        return sim.start()

    try:
        yield start
    finally:
        for sim in started:
            sim.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def shared_sim(sims: Callable[..., Sim]) -> Sim:
    """One reference platform for the module's tests (each resets its behaviour)."""
    return sims("wechat")


@pytest.fixture
def sim(shared_sim: Sim) -> Sim:
    """The module's reference platform, well-behaved at the start of the test."""
    if shared_sim.process is None or shared_sim.process.poll() is not None:
        shared_sim.start()
    shared_sim.reset()
    return shared_sim
