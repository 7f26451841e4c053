"""No live notice token at rest once it went out: the running app's outbox is delivered
by ``fairban worker`` to the reference platforms (``fairban platform-sim``, each its own
process, real HTTP), and then every column of every table of the case store, read as
text, holds none of the tokens the webhooks carried, nor any token a notice link now
opens. The audit log keeps the SHA-256 of every message as it was sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import Engine, MetaData, select

from fairban.audit.actions import Action
from fairban.audit.models import AuditEntry
from fairban.cases.links import TOKEN_MASK
from fairban.db import make_engine
from fairban.digests import sha256_hex
from fairban.platforms.models import OutboxMessage, OutboxState
from tests.security.conftest import Live, free_port, wait_for

SIM_SECRET = "reference-platform-secret"


@pytest.fixture(scope="module")
def engine(live: Live) -> Iterator[Engine]:
    engine = make_engine(live.url)
    yield engine
    engine.dispose()


def _cli(live: Live, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "fairban.cli", *args],
        env=live.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _tokens_sent(engine: Engine) -> dict[int, str]:
    """The one-time token each waiting webhook carries, by message id."""
    found = {}
    with engine.connect() as c:
        for id_, payload in c.execute(select(OutboxMessage.id, OutboxMessage.payload)):
            link = json.loads(payload).get("appeal_url")
            if link:
                (token,) = parse_qs(urlsplit(link).query)["t"]
                found[id_] = token
    return found


def _every_value(engine: Engine) -> Iterator[tuple[str, str, str]]:
    """(table, column, value as text) for every non-null value in the case store."""
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as c:
        for table in tables.sorted_tables:
            for row in c.execute(select(table)):
                for column, value in row._mapping.items():
                    if value is None:
                        continue
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                    yield table.name, str(column), str(text)


@pytest.fixture(scope="module")
def sims(live: Live, tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[None]:
    """A reference platform per platform the outbox writes to, registered in fairban."""
    with engine.connect() as c:
        names = sorted(set(c.scalars(select(OutboxMessage.platform))))
    root = tmp_path_factory.mktemp("sims")
    procs = []
    try:
        for name in names:
            port = free_port()
            db = root / f"sim-{name}.db"
            args = ["platform-sim", "--name", name, "--port", str(port), "--db", str(db)]
            with (root / f"{name}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "fairban.cli", *args],
                        env={**os.environ, "FAIRBAN_SIM_SECRET": SIM_SECRET},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=root,
                    )
                )
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda u=url: httpx.get(u).status_code < 500, f"platform-sim {name}")
            _cli(live, "platform", "add", name, "--url", f"{url}/webhook", "--secret", SIM_SECRET)
        yield
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=15)


def test_no_delivered_token_is_left_in_the_database(
    live: Live, engine: Engine, sims: None, tmp_path: Path
) -> None:
    sent = _tokens_sent(engine)
    assert sent, "the outbox carries notice links"
    secrets = set(sent.values()) | set(live.seeded.tokens.values())
    assert all(len(s) >= 24 for s in secrets)

    _cli(live, "worker", "--once", "--quiet")
    with engine.connect() as c:
        states = set(c.scalars(select(OutboxMessage.state)))
        masked = c.execute(select(OutboxMessage.id, OutboxMessage.payload)).all()
        acks = [
            json.loads(p)
            for p in c.scalars(
                select(AuditEntry.payload).where(AuditEntry.action == Action.PLATFORM_DELIVERY_ACK)
            )
        ]
    assert states == {OutboxState.DELIVERED}
    leaks = [
        (table, column)
        for table, column, text in _every_value(engine)
        if any(s in text for s in secrets)
    ]
    assert leaks == [], f"live tokens at rest in {sorted(set(leaks))}"
    # the stored copy shows the link as the notices do; the log knows what was sent
    for id_, payload in masked:
        if id_ in sent:
            assert json.loads(payload)["appeal_url"].endswith(f"?t={TOKEN_MASK}")
    digests = {i: d for a in acks for i, d in zip(a["messages"], a["sha256"], strict=True)}
    assert set(digests) == {id_ for id_, _ in masked}
    # what the platform got is not what is kept: the digest is of the sent bytes
    assert all(digests[i] != sha256_hex(p) for i, p in masked if i in sent)
