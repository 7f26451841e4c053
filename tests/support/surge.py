"""A small surge with real processes, for the fault tests: cases with verified portal
sessions, ``fairban serve`` (its re-check loop on), ``fairban appeals recheck --watch``
and ``fairban worker`` as processes of their own, two reference platforms, and a client
filing appeals over HTTP at a steady rate. After the faults, :func:`check_exactly_once`
says whether every appeal answered 201 was re-checked once and its lift applied by its
platform once.

The cases are accounts the evidence does not hold (``qq:surge-N``, ``wechat:surge-N``):
each re-check grants the appeal and lifts the measure on the account's platform.
"""

from __future__ import annotations

import functools
import json
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text

from fairban import audit
from fairban.appeals.models import Appeal, AppealState, PortalSession
from fairban.appeals.recheck import DecisionCache
from fairban.cases.models import Case
from fairban.db import make_engine, session_factory
from fairban.directives.content import directive_content
from fairban.platforms.models import OutboxMessage
from fairban.platforms.webhooks import MessageKind
from tests.support.appeal_world import F1, World, seed, settings_for
from tests.support.platforms import Sim, cli_env, register
from tests.support.servers import free_port, wait_for

PREFIX = "FB-S-"


@functools.cache
def _engine_run(world: World) -> Path:
    """The engine's decisions on the world's evidence, as the re-check caches them
    (``HOME/recheck``), computed once per session: each test's processes then read them
    instead of running the engine (seconds of CPU) while the surge is on."""
    folder = world.root / "recheck-cache"
    content, digest = directive_content(world.directive)
    cache = DecisionCache(world.evidence, folder)
    cache.decisions(cache.directive(digest, content), f"{world.directive.id}@{digest}")
    return folder


def seed_surge(url: str, world: World, home: Path, n: int, sims: dict[str, Sim]) -> list[str]:
    """Migrate and seed ``url`` (the appeal world), register the platforms, add ``n``
    cases under measure on qq and wechat, each with a verified portal session; returns
    the sessions' tokens, one per case, in case order."""
    settings = settings_for(home, url, world)
    seed(url, world, settings)
    shutil.copytree(_engine_run(world), home / "recheck")
    engine = make_engine(url)
    for name, sim in sims.items():
        register(engine, name, sim.webhook)
    now = datetime.now(UTC)
    tokens = [secrets.token_urlsafe(24) for _ in range(n)]
    try:
        with session_factory(engine)() as session, session.begin():
            f1 = session.scalars(select(Case).where(Case.account_id == F1)).one()
            template = {
                c: getattr(f1, c)
                for c in ("directive_id", "directive_version", "risk", "reasons", "evidence")
            }
            platforms = ("qq", "wechat")
            session.execute(
                insert(Case),
                [
                    {
                        **template,
                        "evidence_hash": f1.evidence_hash,
                        "number": f"{PREFIX}{i:06d}",
                        "account_id": f"{platforms[i % 2]}:surge-{i}",
                        "platform": platforms[i % 2],
                        "person_id": None,
                        "account_kind": "personal",
                        "state": "active",
                        "measure": "suspend",
                        "decided_by": "test",
                        "decided_by_kind": "automatic",
                        "decided_at": now,
                        "stage_bucket": 0,
                        "created_at": now,
                        "updated_at": now,
                        "row_version": 1,
                    }
                    for i in range(n)
                ],
            )
            ids = dict(
                session.execute(
                    select(Case.number, Case.id).where(Case.number.like(f"{PREFIX}%"))
                ).all()
            )
            session.execute(
                insert(PortalSession),
                [
                    {
                        "token_hash": sha256(token.encode()).hexdigest(),
                        "case_id": ids[f"{PREFIX}{i:06d}"],
                        "created_at": now,
                        "expires_at": now + timedelta(hours=2),
                        "verified_at": now,
                        "csrf": secrets.token_urlsafe(16),
                    }
                    for i, token in enumerate(tokens)
                ],
            )
    finally:
        engine.dispose()
    return tokens


@dataclass
class Proc:
    """A fairban command running as a process of its own; its output in a log file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Proc:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fairban.cli", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or rolled back by the process."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


@dataclass
class Surge:
    """The processes of a surge on one database."""

    url: str
    home: Path
    world: World
    port: int
    server: Proc
    recheck: Proc
    worker: Proc
    procs: list[Proc] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_server(self) -> None:
        self.server.start()
        wait_for(
            lambda: (
                self.server.alive()
                and httpx.get(f"{self.base}/api/v1/health", timeout=2).is_success
            ),
            "fairban serve",
        )
        assert self.server.alive(), self.server.output()

    def stop(self) -> None:
        for p in self.procs:
            p.stop()

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.output()}" for p in self.procs)


def start_surge(url: str, world: World, home: Path, folder: Path) -> Surge:
    """Start the server (its own re-check loop on), a re-check process and a worker."""
    env = cli_env(home, url) | {
        "FAIRBAN_SECRET_KEY": "surge-test-secret-key",
        "FAIRBAN_OTP_SENDER": "dev",
        "FAIRBAN_EVIDENCE_DIR": str(world.evidence),
        # every surge appeal is granted: the breaker must not pause the directive
        "FAIRBAN_BREAKER_MIN_DECIDED": "100000000",
        "FAIRBAN_WEB_THREADS": "4",
    }
    port = free_port()
    server = Proc("serve", ["serve", "--port", str(port)], env, folder / "serve.log")
    recheck = Proc(
        "recheck",
        ["appeals", "recheck", "--watch", "--batch", "8", "--poll", "0.05"],
        env,
        folder / "recheck.log",
    )
    worker_args = ["worker", "--poll", "0.02", "-q", "--batch", "10", "--lease", "3"]
    worker_args += ["--timeout", "2", "--backoff-base", "0.05", "--backoff-cap", "0.5"]
    worker = Proc("worker", worker_args, env, folder / "worker.log")
    surge = Surge(url, home, world, port, server, recheck, worker, [server, recheck, worker])
    surge.start_server()
    recheck.start()
    worker.start()
    return surge


@dataclass
class Answer:
    case: int  # index of the case (and its token)
    status: int | None  # None: no answer (the connection failed)
    appeal: int | None
    error: str = ""


class Filer:
    """Files one appeal per case over HTTP, ``rate`` a second (each request on a thread
    of a small pool, so a slow answer does not slow the pace); records every answer."""

    def __init__(self, base: str, tokens: list[str], rate: float) -> None:
        self.base = base
        self.tokens = tokens
        self.rate = rate
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(base_url=base, timeout=15.0)

    def start(self, cases: range) -> Filer:
        """File the appeals of ``cases`` (a thread of its own; :meth:`join` waits)."""
        self._thread = threading.Thread(target=self._run, args=(cases,), daemon=True)
        self._thread.start()
        return self

    def file(self, i: int) -> Answer:
        body = {"grounds": ["never_been_there"], "statement": "", "submit_key": f"surge-{i:06d}"}
        headers = {"Authorization": f"Bearer {self.tokens[i]}"}
        try:
            r = self._client.post("/api/v1/case/appeals", json=body, headers=headers)
        except httpx.HTTPError as e:
            return Answer(i, None, None, f"{type(e).__name__}: {e}")
        appeal = r.json().get("id") if r.status_code in (200, 201) else None
        return Answer(i, r.status_code, appeal, "" if appeal else r.text[:200])

    def _one(self, i: int) -> None:
        answer = self.file(i)
        with self._lock:
            self.answers.append(answer)

    def warm_up(self, url: str) -> None:
        """File the first case's appeal and wait for its re-check and its lift: every
        process is then up and at work before the surge."""
        self.answers.append(self.file(0))
        assert self.answers[0].status == 201, self.answers[0]
        granted = "SELECT count(*) FROM appeals WHERE state = 'granted'"
        wait_until(lambda: count(url, granted) == 1, "the first re-check")
        # and its lift delivered: the worker is at work too (its start takes seconds)
        delivered = f"SELECT count(*) {LIFTS} AND delivered_at IS NOT NULL"
        wait_until(lambda: count(url, delivered) == 1, "the first lift")

    def _run(self, cases: range) -> None:
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            for n, i in enumerate(cases):
                delay = started + n / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self._one, i)

    def count(self, status: int) -> int:
        with self._lock:
            return sum(1 for a in self.answers if a.status == status)

    def join(self, timeout: float = 300) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the filing client did not finish"

    def retry_failed(self) -> list[Answer]:
        """File again, with the same submit key, every appeal that got no 201 or 200:
        the first appeal when it was written before the fault (200), else a new one."""
        failed = {a.case for a in self.answers if a.status not in (200, 201)}
        again = [self.file(i) for i in sorted(failed)]
        self.answers += again
        return again

    def close(self) -> None:
        self._client.close()


def count(url: str, sql: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


WAITING = "SELECT count(*) FROM appeals WHERE state = 'received'"
LIFTS = "FROM outbox WHERE kind = 'measure.lift' AND platform IN ('qq', 'wechat')"


def wait_done(surge: Surge, timeout_s: float = 180) -> None:
    """Until no appeal waits for its re-check and every lift is delivered."""
    deadline = time.monotonic() + timeout_s
    pending = f"SELECT count(*) {LIFTS} AND delivered_at IS NULL"
    while count(surge.url, WAITING) or count(surge.url, pending):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not done after {timeout_s} s: {count(surge.url, WAITING)} appeals waiting, "
                f"{count(surge.url, pending)} lifts undelivered\n{surge.logs()}"
            )
        time.sleep(0.2)


def check_exactly_once(url: str, answers: list[Answer], sims: dict[str, Sim]) -> dict[str, Any]:
    """Assert the surge's promise; returns what was counted (for the test's message)."""
    answered = {a.appeal: a.case for a in answers if a.status == 201}
    by_case: dict[int, set[int]] = {}
    for a in answers:
        if a.appeal is not None:
            by_case.setdefault(a.case, set()).add(a.appeal)
    # a retry with the same submit key names the same appeal as the first answer
    assert all(len(ids) == 1 for ids in by_case.values()), by_case
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(Appeal.id, Appeal.state, Case.number)
                .join(Appeal.case)
                .where(Case.number.like(f"{PREFIX}%"))
            ).all()
            entries = session.execute(
                select(audit.AuditEntry.action, audit.AuditEntry.payload).where(
                    audit.AuditEntry.action.like("appeal:%")
                )
            ).all()
            lifts = session.execute(
                select(OutboxMessage.case_id, OutboxMessage.platform, OutboxMessage.idempotency_key)
                .join(Case, Case.id == OutboxMessage.case_id)
                .where(OutboxMessage.kind == MessageKind.LIFT, Case.number.like(f"{PREFIX}%"))
            ).all()  # fmt: skip
            surge_cases = session.scalar(
                select(func.count()).select_from(Case).where(Case.number.like(f"{PREFIX}%"))
            )
            report = audit.verify(session)
    finally:
        engine.dispose()
    assert report.ok, report.problems
    stored = {appeal: (state, number) for appeal, state, number in rows}
    # every 201 is an appeal in the store, of its own case
    missing = sorted(set(answered) - set(stored))
    assert not missing, f"answered 201 but not stored: {missing}"
    for appeal, case in answered.items():
        assert stored[appeal][1] == f"{PREFIX}{case:06d}"
    numbers = [number for _, number in stored.values()]
    assert len(numbers) == len(set(numbers)), "a case has two appeals"
    # every stored appeal (answered or not) is whole: re-checked, granted, audited once
    assert {state for state, _ in stored.values()} <= {AppealState.GRANTED}, stored
    filed: dict[int, int] = {}
    rechecked: dict[int, int] = {}
    for action, payload in entries:
        appeal = json.loads(payload).get("appeal")
        if action == "appeal:file":
            filed[appeal] = filed.get(appeal, 0) + 1
        elif action.startswith("appeal:recheck:"):
            rechecked[appeal] = rechecked.get(appeal, 0) + 1
    for appeal in stored:
        assert filed.get(appeal) == 1, f"appeal {appeal}: {filed.get(appeal)} appeal:file entries"
        assert rechecked.get(appeal) == 1, f"appeal {appeal}: {rechecked.get(appeal)} re-checks"
    # one lift per granted case, applied once by its platform
    assert len(lifts) == len(stored) == len({c for c, _, _ in lifts}), (len(lifts), len(stored))
    for name, sim in sims.items():
        keys = {k for _, p, k in lifts if p == name}
        applied = sim.deliveries(keys)
        assert {row[1] for row in applied} == keys, f"{name}: some lift never applied"
        assert len(applied) == len(keys), f"{name}: a lift applied twice"
    return {
        "cases": surge_cases,
        "answered_201": len(answered),
        "stored": len(stored),
        "lifts": len(lifts),
    }


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
