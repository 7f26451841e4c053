"""The reference platform (``fairban platform-sim``): a small, real HTTP server that
takes fairban's webhooks as a platform should.

It verifies every signature (401 when missing, wrong or outside the replay window),
applies each idempotency key at most once to its own account table (a SQLite file, so
that survives its restart: a replay answers 200 with the first acknowledgement and
``duplicate: true``), and answers the reads fairban and the portal use. It can be told
at run time to fail, to answer garbage, to lose acknowledgements or to slow down.

Endpoints (all but ``/health`` and ``/stats`` signed, docs/platforms.md):

- ``POST /webhook``: a measure or lift; answers the acknowledgement
  ``{"id", "applied", "duplicate", "platform", "received_at", "account"}``
- ``GET /accounts?after=ID&limit=N``: every account it knows, by id, a page at a time
- ``GET /accounts/{id}``: one account's state and measures (404 if unknown)
- ``GET /accounts/{id}/export``: the account's own data, history included
- ``POST /control``: ``{"fail", "fail_rate", "garbage", "lose_ack_rate", "delay_ms"}``
- ``GET /health``, ``GET /stats`` (counts only)

Writes are group-committed: requests that arrive together share one transaction,
committed before any of them is answered. Everything runs on one thread (the event
loop's); the table is small and each commit short.

Why one module of this size: it is the reference a platform's engineers read and copy,
and a whole working server in one file (routes, store, signature checks, misbehaviour)
is easier to port than a package.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fairban.measures import VISIBLE_VALUES
from fairban.platforms import webhooks
from fairban.platforms.signing import (
    DEFAULT_TOLERANCE_S,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    verify,
)
from fairban.platforms.webhooks import MessageKind

#: weakest first: an account's state is its strongest
MEASURES = VISIBLE_VALUES
#: requests committed in one transaction at most
GROUP = 512

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    type TEXT NOT NULL,
    case_number TEXT NOT NULL,
    measure TEXT,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL,
    ack TEXT NOT NULL,
    duplicates INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_account ON deliveries (account_id, seq);
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    person_id TEXT,
    first_seen TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS measures (
    account_id TEXT NOT NULL,
    case_number TEXT NOT NULL,
    measure TEXT NOT NULL,
    functions TEXT,
    directive_id TEXT,
    expires_at TEXT,
    applied_at TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (account_id, case_number)
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Store:
    """The platform's own tables in a SQLite file. Not thread-safe: the server calls it
    from its event loop only."""

    def __init__(self, path: Path, name: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # committed before it is acknowledged: WAL with NORMAL keeps every commit through
        # a crash or SIGKILL of this process (not through a power cut of the machine)
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def apply(self, documents: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Apply webhooks in one transaction, in order; one acknowledgement each (the
        first one again, with ``duplicate: true``, for a key seen before)."""
        acks: list[dict[str, Any]] = []
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for doc in documents:
                key = str(doc["id"])
                row = db.execute("SELECT ack FROM deliveries WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    db.execute(
                        "UPDATE deliveries SET duplicates = duplicates + 1 WHERE key = ?", (key,)
                    )
                    ack = json.loads(row[0])
                    ack["duplicate"] = True
                    acks.append(ack)
                    continue
                acks.append(self._apply_one(doc, key))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return acks

    def _apply_one(self, doc: Mapping[str, Any], key: str) -> dict[str, Any]:
        db = self.db
        now = _now()
        account = str(doc["account_id"])
        case = str(doc.get("case_number") or "")
        kind = doc["type"]
        db.execute(
            "INSERT INTO accounts (account_id, person_id, first_seen, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET updated_at = "
            "excluded.updated_at, person_id = coalesce(excluded.person_id, person_id)",
            (account, doc.get("person_id"), now, now),
        )
        if kind == "measure.apply":
            db.execute(
                "INSERT INTO measures (account_id, case_number, measure, functions, "
                "directive_id, expires_at, applied_at, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (account_id, case_number) DO UPDATE SET measure = "
                "excluded.measure, functions = excluded.functions, directive_id = "
                "excluded.directive_id, expires_at = excluded.expires_at, applied_at = "
                "excluded.applied_at, key = excluded.key",
                (
                    account,
                    case,
                    doc["measure"],
                    _dumps(doc.get("functions") or []),
                    doc.get("directive_id"),
                    doc.get("expires_at"),
                    now,
                    key,
                ),
            )
        elif case:
            db.execute(
                "DELETE FROM measures WHERE account_id = ? AND case_number = ?", (account, case)
            )
        else:  # a lift that names no case lifts everything fairban put on the account
            db.execute("DELETE FROM measures WHERE account_id = ?", (account,))
        ack = {
            "id": key,
            "applied": True,
            "duplicate": False,
            "platform": self.name,
            "received_at": now,
            "account": self._state(account),
        }
        db.execute(
            "INSERT INTO deliveries (key, account_id, type, case_number, measure, "
            "received_at, body, ack) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, account, kind, case, doc.get("measure"), now, _dumps(doc), _dumps(ack)),
        )
        return ack

    def _measures(self, account: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT case_number, measure, functions, directive_id, expires_at, applied_at "
            "FROM measures WHERE account_id = ? ORDER BY case_number",
            (account,),
        ).fetchall()
        return [
            {
                "case_number": case or None,
                "measure": measure,
                "functions": json.loads(functions or "[]"),
                "directive_id": directive,
                "expires_at": expires,
                "applied_at": applied,
            }
            for case, measure, functions, directive, expires, applied in rows
        ]

    def _state(self, account: str) -> dict[str, Any]:
        measures = self._measures(account)
        strongest = max((MEASURES.index(m["measure"]) for m in measures), default=-1)
        return {
            "account_id": account,
            "state": MEASURES[strongest] if strongest >= 0 else "none",
            "measures": measures,
        }

    def account(self, account: str) -> dict[str, Any] | None:
        """One account's state, or ``None`` when it never received a webhook."""
        row = self.db.execute(
            "SELECT first_seen, updated_at FROM accounts WHERE account_id = ?", (account,)
        ).fetchone()
        if row is None:
            return None
        return {**self._state(account), "first_seen": row[0], "updated_at": row[1]}

    def accounts(self, after: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """A page of accounts by id, after ``after``; and the cursor of the next page."""
        ids = [
            r[0]
            for r in self.db.execute(
                "SELECT account_id FROM accounts WHERE account_id > ? ORDER BY account_id LIMIT ?",
                (after, limit + 1),
            )
        ]
        more = len(ids) > limit
        ids = ids[:limit]
        page = [self._state(i) for i in ids]
        return page, (ids[-1] if more and ids else None)

    def export(self, account: str) -> dict[str, Any] | None:
        """Everything this platform holds about ``account``: what a person gets when
        they ask for their data (a suspended account included)."""
        row = self.db.execute(
            "SELECT person_id, first_seen, updated_at FROM accounts WHERE account_id = ?",
            (account,),
        ).fetchone()
        if row is None:
            return None
        history = []
        for received, body in self.db.execute(
            "SELECT received_at, body FROM deliveries WHERE account_id = ? ORDER BY seq",
            (account,),
        ):
            doc = json.loads(body)
            history.append(
                {"received_at": received}
                | {
                    k: doc.get(k)
                    for k in (
                        "type",
                        "case_number",
                        "directive_id",
                        "measure",
                        "functions",
                        "reasons",
                        "expires_at",
                        "lift_reason",
                    )
                    if k in doc
                }
            )
        return {
            "platform": self.name,
            "exported_at": _now(),
            **self._state(account),
            "person_id": row[0],
            "first_seen": row[1],
            "updated_at": row[2],
            "history": history,
        }

    def stats(self) -> dict[str, int]:
        """Keys applied, replays answered, accounts known."""
        applied, duplicates = self.db.execute(
            "SELECT count(*), coalesce(sum(duplicates), 0) FROM deliveries"
        ).fetchone()
        (accounts,) = self.db.execute("SELECT count(*) FROM accounts").fetchone()
        return {"applied": applied, "duplicates": duplicates, "accounts": accounts}


@dataclass
class Behaviour:
    """How the platform misbehaves, changed at run time through ``POST /control``."""

    fail: bool = False  # answer every webhook 503, applying nothing
    fail_rate: float = 0.0  # the share of webhooks answered 503, applying nothing
    garbage: bool = False  # answer 200 with a body that is no acknowledgement
    lose_ack_rate: float = 0.0  # the share applied, then answered 503 (the ack is lost)
    delay_ms: int = 0  # wait this long before handling a webhook

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a ``/control`` body; ``ValueError`` for an unknown key or a bad value."""
        for name, value in changes.items():
            if name in ("fail", "garbage"):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif name in ("fail_rate", "lose_ack_rate"):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name} must be a number")
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name} must be between 0 and 1")
                value = float(value)
            elif name == "delay_ms":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("delay_ms must be a whole number >= 0")
            else:
                raise ValueError(f"unknown setting {name!r}")
            setattr(self, name, value)


class _Writer:
    """Feeds the store, committing the requests that arrived together in one transaction.

    The store runs on the event loop's own thread: with ``synchronous=NORMAL`` a commit
    takes about 0.1 ms, less than handing it to another thread costs on a busy machine.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queue: asyncio.Queue[tuple[Mapping[str, Any], asyncio.Future[dict[str, Any]]]] = (
            asyncio.Queue()
        )
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.store.close()

    async def apply(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        await self.queue.put((doc, future))
        return await future

    async def _run(self) -> None:
        while True:
            group = [await self.queue.get()]
            while len(group) < GROUP and not self.queue.empty():
                group.append(self.queue.get_nowait())
            try:
                acks = self.store.apply([doc for doc, _ in group])
            except Exception as e:
                for _, future in group:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (_, future), ack in zip(group, acks, strict=True):
                if not future.done():
                    future.set_result(ack)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    *,
    name: str,
    secret: str,
    db_path: Path,
    behaviour: Behaviour | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    rng: random.Random | None = None,
) -> ASGIApp:
    """The reference platform as an ASGI app (its store opens at startup)."""
    behaviour = behaviour or Behaviour()
    rng = rng or random.Random()
    rejected = {"signature": 0, "invalid": 0}
    state: dict[str, _Writer] = {}

    def writer() -> _Writer:
        return state["writer"]

    def check(request: Request, signed: bytes | str) -> JSONResponse | None:
        try:
            verify(secret, request.headers.get(SIGNATURE_HEADER), signed, tolerance_s=tolerance_s)
        except SignatureError as e:
            rejected["signature"] += 1
            return _error(401, e.reason)
        return None

    def target(request: Request) -> str:
        # what the sender signed for a GET: the path and query exactly as sent
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        query = request.scope.get("query_string", b"")
        text = raw.decode("latin-1")
        return f"{text}?{query.decode('latin-1')}" if query else text

    async def webhook(body: bytes, signed: str | None, key: str | None) -> tuple[int, bytes]:
        try:
            verify(secret, signed, body, tolerance_s=tolerance_s)
        except SignatureError as e:
            rejected["signature"] += 1
            return 401, _error_body(e.reason)
        if behaviour.delay_ms:
            await asyncio.sleep(behaviour.delay_ms / 1000)
        if behaviour.fail or (behaviour.fail_rate and rng.random() < behaviour.fail_rate):
            return 503, _error_body("unavailable (told to fail)")
        if behaviour.garbage:
            return 200, b"<html><body>OK!</body></html>"
        try:
            doc = json.loads(body)
        except ValueError:
            rejected["invalid"] += 1
            return 422, _error_body("body is not JSON")
        problem = _invalid(doc, key, name)
        if problem:
            rejected["invalid"] += 1
            return 422, _error_body(problem)
        ack = await writer().apply(doc)
        if behaviour.lose_ack_rate and rng.random() < behaviour.lose_ack_rate:
            return 503, _error_body("applied, but the answer was lost (told to lose it)")
        return 200, _dumps(ack).encode()

    async def accounts(request: Request) -> Response:
        refused = check(request, target(request))
        if refused is not None:
            return refused
        after = request.query_params.get("after", "")
        try:
            limit = int(request.query_params.get("limit", "1000"))
        except ValueError:
            return _error(400, "limit must be a whole number")
        limit = max(1, min(limit, 10_000))
        page, cursor = writer().store.accounts(after, limit)
        return JSONResponse({"platform": name, "accounts": page, "next": cursor})

    async def account(request: Request) -> Response:
        refused = check(request, target(request))
        if refused is not None:
            return refused
        found = writer().store.account(request.path_params["id"])
        if found is None:
            return _error(404, "unknown account")
        return JSONResponse(found)

    async def export(request: Request) -> Response:
        refused = check(request, target(request))
        if refused is not None:
            return refused
        found = writer().store.export(request.path_params["id"])
        if found is None:
            return _error(404, "unknown account")
        return JSONResponse(found)

    async def control(request: Request) -> Response:
        body = await request.body()
        refused = check(request, body)
        if refused is not None:
            return refused
        try:
            changes = json.loads(body)
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            trial = Behaviour(**asdict(behaviour))
            trial.update(changes)
        except ValueError as e:
            return _error(422, str(e))
        behaviour.update(changes)
        return JSONResponse(asdict(behaviour))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "platform": name})

    async def stats(request: Request) -> Response:
        counts = writer().store.stats()
        return JSONResponse({"platform": name, **counts, "rejected": dict(rejected)})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["writer"] = _Writer(Store(db_path, name))
        writer().start()
        try:
            yield
        finally:
            await writer().stop()

    routes = Starlette(
        routes=[
            Route("/accounts", accounts, methods=["GET"]),
            Route("/accounts/{id:str}/export", export, methods=["GET"]),
            Route("/accounts/{id:str}", account, methods=["GET"]),
            Route("/control", control, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
        ],
        lifespan=lifespan,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # the webhook, the hot path, as plain ASGI: Starlette's routing and middleware
        # would cost it a third more CPU; everything else goes through Starlette
        if scope["type"] != "http" or scope["path"] != "/webhook":
            await routes(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _answer(send, 405, _error_body("use POST"))
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        signed = headers.get(SIGNATURE_HEADER.lower().encode())
        key = headers.get(IDEMPOTENCY_HEADER.lower().encode())
        status, answer = await webhook(
            b"".join(chunks),
            signed.decode("latin-1") if signed is not None else None,
            key.decode("latin-1") if key is not None else None,
        )
        await _answer(send, status, answer)

    return app


async def _answer(send: Send, status: int, body: bytes) -> None:
    kind = b"application/json" if body[:1] in (b"{", b"[") else b"text/html"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _error_body(message: str) -> bytes:
    return _dumps({"error": message}).encode()


def _invalid(doc: Any, key_header: str | None, name: str) -> str | None:
    """Why a webhook body cannot be applied, or ``None``: the idempotency key and the
    address first, then the webhook contract (``platforms/webhooks.py``)."""
    if not isinstance(doc, dict):
        return "body is not a JSON object"
    key = doc.get("id")
    if not isinstance(key, str) or not key:
        return "no id (idempotency key) in the body"
    if key_header != key:
        return f"the {IDEMPOTENCY_HEADER} header does not match the body's id"
    if doc.get("platform") != name:
        return f"addressed to platform {doc.get('platform')!r}, this is {name!r}"
    account = doc.get("account_id")
    if not isinstance(account, str) or not account:
        return "no account_id"
    if (
        doc.get("type") in (MessageKind.APPLY, MessageKind.LIFT)
        and doc.get("measure") not in MEASURES
    ):
        return f"measure must be one of {', '.join(MEASURES)}"
    return webhooks.problem(doc)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port`` 0: a free one, read it from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio then sets TCP_NODELAY on each accepted connection (with
    # proto 0 it does not, and Nagle holds every second segment of an answer for 40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    *,
    name: str,
    secret: str,
    db_path: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    behaviour: Behaviour | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run the reference platform until SIGINT or SIGTERM. ``announce`` gets the line
    saying where it listens (with the real port when ``port`` is 0) once it does."""
    import uvicorn  # the server only: importing this module does not need it

    sock = listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    app = create_app(
        name=name, secret=secret, db_path=db_path, behaviour=behaviour, tolerance_s=tolerance_s
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # access lines would carry account ids in URLs
        http="h11",
        loop="asyncio",
        lifespan="on",
        timeout_keep_alive=75,
        backlog=2048,
    )
    server = uvicorn.Server(config)
    line = (
        f"platform-sim {name} listening on http://{shown}:{bound} "
        f"(webhook http://{shown}:{bound}/webhook, accounts in {db_path})"
    )
    (announce or (lambda text: print(text, flush=True, file=sys.stdout)))(line)
    server.run(sockets=[sock])
