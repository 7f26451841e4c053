"""The attacks of the safeguards issue, each against the running app: ``fairban serve``
started as a deployment starts it (its own process, real HTTP on a loopback port), on a
case store seeded from the appeal world (SQLite and, with FAIRBAN_TEST_POSTGRES_URL,
PostgreSQL).

The fixture ``live`` is one server per test module and database kind: the server's
start takes seconds, and each module's tests leave state (rate limits, sessions) that
its own tests expect. A test that needs a clean server of its own starts one with
``start_live``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from fairban.config import Settings
from tests.support.appeal_world import Seeded, World, csrf_of, last_code, seed, settings_for
from tests.support.db import DATABASES, new_database
from tests.support.servers import free_port, wait_for

SECRET_KEY = "security-test-secret-key"


@dataclass
class Live:
    """A running ``fairban serve`` and what it was seeded with."""

    base: str
    url: str  # the case store's database URL
    home: Path
    settings: Settings
    seeded: Seeded
    world: World
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, **kwargs: Any) -> httpx.Client:
        """A new HTTP client (its own cookies) on the server; closed at the end."""
        c = httpx.Client(base_url=self.base, **{"timeout": 30.0, **kwargs})
        self.clients.append(c)
        return c

    def code(self, account: str) -> str:
        """The latest one-time code the development sender wrote for ``account``'s case."""
        return last_code(self.home, self.seeded.numbers[account])

    def codes_sent(self, account: str) -> int:
        """How many codes the development sender has written for ``account``'s case."""
        log = self.home / "codes.log"
        if not log.exists():
            return 0
        number = self.seeded.numbers[account]
        return sum(1 for line in log.read_text().splitlines() if json.loads(line)["case"] == number)

    def new_code(self, account: str, before: int) -> str:
        """The code sent after ``before`` codes: the server sends it after its answer
        (a background task), so it may land a moment after the request returns."""
        wait_for(lambda: self.codes_sent(account) > before, f"a new code for {account}", 30.0)
        return self.code(account)

    def sign_in(self, client: httpx.Client, account: str) -> None:
        """Open ``account``'s notice link and prove the phone over HTTP: ``client``'s
        cookie is then a verified portal session."""
        number, token = self.seeded.numbers[account], self.seeded.tokens[account]
        r = client.get(f"/c/{number}", params={"t": token}, follow_redirects=True)
        assert r.url.path == "/verify", r.status_code
        csrf = csrf_of(r.text)
        before = self.codes_sent(account)
        assert client.post("/verify/send", data={"csrf": csrf}).status_code == 303
        r = client.post("/verify", data={"csrf": csrf, "code": self.new_code(account, before)})
        assert r.headers.get("location") == "/case", r.status_code

    def rss(self) -> int:
        """The server process's resident memory, in bytes (one worker: uvicorn runs it
        in the process it was started as)."""
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def server_log(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_live(root: Path, db_url: str, world: World, *, env: dict[str, str] | None = None) -> Live:
    """Seed a case store at ``db_url`` and start ``fairban serve`` on it (``env`` adds
    or overrides its FAIRBAN_ settings)."""
    home = root / "home"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = settings_for(home, db_url, world, secret_key=SECRET_KEY, public_url=base)
    seeded = seed(db_url, world, settings)
    environment = {
        **os.environ,
        "FAIRBAN_HOME": str(home),
        "FAIRBAN_DATABASE_URL": db_url,
        "FAIRBAN_SECRET_KEY": SECRET_KEY,
        "FAIRBAN_PUBLIC_URL": base,
        "FAIRBAN_OTP_SENDER": "dev",
        **(env or {}),
    }
    log = root / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fairban.cli", "serve", "--port", str(port)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    live = Live(base, db_url, home, settings, seeded, world, environment, proc, log)
    try:
        wait_for(lambda: httpx.get(f"{base}/api/v1/health").is_success, "fairban serve")
    except AssertionError:
        live.stop()
        raise AssertionError(f"fairban serve did not start:\n{live.server_log()}") from None
    return live


@pytest.fixture(scope="module", params=DATABASES)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, appeal_world: World
) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live")
    with new_database(request.param, root) as url:
        server = start_live(root, url, appeal_world)
        try:
            yield server
        finally:
            server.stop()
