"""Appeal intake and appeal-to-lift latency against PostgreSQL with durable commits.

    uv run --group bench python benchmarks/bench_appeals.py [--postgres URL]
        [--cases 20000] [--concurrency 64] [--intake-rate 1000] [--intake-seconds 8]
        [--workers 2] [--lift 300] [--lift-rate 20] [--no-recheck] [--attackers 20]

URL defaults to $FAIRBAN_TEST_POSTGRES_URL; the run uses a new schema of that database,
dropped afterwards, and checks that ``synchronous_commit`` is ``on``.

1. Intake. CASES synthetic cases (suspend, under the 2019 directive of a small
   simulated world), each with a verified portal session, are written straight to the
   database. ``fairban serve --workers W`` with its re-check loop off
   (``FAIRBAN_RECHECK_IN_SERVER=false``) takes ``POST /api/v1/case/appeals`` from a
   load generator in its own process (asyncio + aiohttp), twice, half the cases each:
   through FastAPI's route (``FAIRBAN_FAST_INTAKE=false``, the baseline) and through
   the intake's own path (the default on PostgreSQL). Each: first open loop, INTAKE_RATE
   appeals a second for INTAKE_SECONDS, then closed loop, CONCURRENCY requests in flight,
   one appeal per case. With ``--attackers N``, a third server (the intake's own path,
   behind a trusted proxy) takes the same load while N clients, each from an address of
   its own, send oversized chunked bodies without end (200 MiB multipart to the appeal
   form, 100 MiB JSON to the API's sign-in): the safeguards issue's load. Each row also
   gives the server's memory (its processes' RSS) at the start and at its peak.
   Reports, for each, appeals/s, p50/p90/p99 latency, and
   that every 201 is an appeal row in the database and no row is missing or doubled
   (zero lost). Then one ``fairban appeals recheck --watch`` process takes them all in
   (case -> appealed, audit entry) and re-checks them (no evidence folder: each is
   queued for a person); reports how long that took.
2. Lift. LIFT persons, each with a QQ and a WeChat account under measure, appeal at
   LIFT_RATE per second (open loop) against ``fairban serve --data EVIDENCE``; the
   engine finds nothing against these accounts, so the re-check lifts both accounts,
   ``fairban worker`` delivers the lifts to two ``fairban platform-sim`` processes,
   which acknowledge them. Reports the time from each appeal's filing to the last
   acknowledgement of its person's lifts (p50/p99), read from the outbox.

Everything runs on this machine: server, worker, platforms, load generator and
PostgreSQL share its cores. Prints markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: the open loop's connections to the server (see ``_paced``)
PACED_CONNECTIONS = 256
#: rows per insert when seeding
SLICE = 10_000


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- the load generator (its own process) ---------------------------------------------


async def _load(base: str, tokens: list[str], concurrency: int) -> dict[str, Any]:
    # aiohttp: its HTTP parser is C, so the generator takes a small share of the two
    # cores it shares with the server and PostgreSQL (httpx took more than the server)
    import aiohttp

    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in tokens:
        queue.put_nowait(t)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:

        async def one() -> None:
            while not queue.empty():
                token = queue.get_nowait()
                body = {
                    "grounds": ["never_been_there"],
                    "statement": "bench",
                    "submit_key": sha256(token.encode()).hexdigest()[:40],
                }
                started = time.perf_counter()
                try:
                    async with client.post(
                        "/api/v1/case/appeals",
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                    ) as r:
                        await r.read()
                        code = r.status
                except aiohttp.ClientError:
                    code = 0
                latencies.append(time.perf_counter() - started)
                statuses[code] = statuses.get(code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {"wall_s": wall, "latencies": latencies, "statuses": statuses}


async def _paced(base: str, tokens: list[str], rate: float) -> dict[str, Any]:
    import aiohttp

    statuses: dict[int, int] = {}
    latencies: list[float] = []
    # at most PACED_CONNECTIONS kept-alive connections, as a reverse proxy keeps to the
    # app; a request waiting for one is timed from when it was due (no coordinated
    # omission). Unbounded, every late request opened a connection of its own, which
    # cost the server more than the appeal
    connector = aiohttp.TCPConnector(limit=PACED_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:

        async def one(token: str) -> None:
            body = {"grounds": ["never_been_there"], "submit_key": token[:40]}
            started = time.perf_counter()
            try:
                async with client.post(
                    "/api/v1/case/appeals", json=body, headers={"Authorization": f"Bearer {token}"}
                ) as r:
                    await r.read()
                    code = r.status
            except (aiohttp.ClientError, TimeoutError):
                # no answer within the client's minute (an intake past its capacity):
                # counted as no answer, as a person's phone would give up
                code = 0
            latencies.append(time.perf_counter() - started)
            statuses[code] = statuses.get(code, 0) + 1

        tasks = []
        t0 = time.time()  # the wall clock's, for a caller that lines up the database's times
        started = time.perf_counter()
        for i, token in enumerate(tokens):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(token)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - started
    return {"statuses": statuses, "latencies": latencies, "wall_s": wall, "t0": t0}


async def _attack(base: str, clients: int, seconds: float) -> dict[str, Any]:
    """CLIENTS attackers for SECONDS, each sending one oversized chunked body after
    another: 200 MiB of multipart to the appeal form (no cookie), 100 MiB of JSON to
    the API's sign-in. Each comes from an address of its own behind the trusted proxy
    (``X-Forwarded-For``), so their refusals count against them, not the real appeals."""
    import aiohttp

    chunk = b"x" * 65536
    statuses: dict[int, int] = {}
    sent = 0

    async def body(total: int) -> Any:
        nonlocal sent
        for _ in range(total // len(chunk)):
            sent += len(chunk)
            yield chunk

    deadline = time.perf_counter() + seconds
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, timeout=timeout) as client:

        async def one(i: int) -> None:
            forwarded = {"X-Forwarded-For": f"203.0.113.{i + 1}"}
            while time.perf_counter() < deadline:
                if i % 2:
                    url, kind, total = "/case/appeal", "multipart/form-data; boundary=b", 200 << 20
                else:
                    url, kind, total = "/api/v1/access/link", "application/json", 100 << 20
                try:
                    headers = {**forwarded, "Content-Type": kind}
                    async with client.post(url, data=body(total), headers=headers) as r:
                        await r.read()
                        code = r.status
                except (aiohttp.ClientError, TimeoutError):
                    code = 0  # the server closed the connection on a body past its limit
                statuses[code] = statuses.get(code, 0) + 1

        await asyncio.gather(*(one(i) for i in range(clients)))
    return {"statuses": statuses, "sent_bytes": sent}


class _Rss:
    """The peak resident memory of a server and its workers, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        import threading

        import psutil

        self.root = psutil.Process(pid)
        self.start = self.now()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        import psutil

        total = 0
        for p in [self.root, *self.root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a worker that just exited
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.now())

    def stop(self) -> tuple[float, float]:
        """(MiB at start, peak MiB)."""
        self._stop.set()
        self._thread.join()
        return self.start / 2**20, self.peak / 2**20


def load_main(args: argparse.Namespace) -> None:
    if args.attackers:
        result = asyncio.run(_attack(args.load, args.attackers, args.seconds))
        Path(args.out).write_text(json.dumps(result))
        return
    tokens = json.loads(Path(args.tokens).read_text())
    if args.rate:
        result = asyncio.run(_paced(args.load, tokens, args.rate))
    else:
        result = asyncio.run(_load(args.load, tokens, args.concurrency))
    Path(args.out).write_text(json.dumps(result))


# --- setting up ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _register_platforms(engine: Any) -> dict[str, int]:
    """Register QQ and WeChat as platforms whose webhooks go to a free local port each
    (the ``fairban platform-sim`` to start there, with secret ``bench-platform``);
    returns the ports by name."""
    from fairban.platforms.models import Platform

    sims = {name: _free_port() for name in ("qq", "wechat")}
    now = datetime.now(UTC)
    with engine.begin() as c:
        for name, port in sims.items():
            c.execute(
                Platform.__table__.insert().values(
                    name=name,
                    webhook_url=f"http://127.0.0.1:{port}/webhook",
                    secret="bench-platform",
                    enabled=True,
                    created_at=now,
                    updated_at=now,
                )
            )
    return sims


def _wait_http(url: str, timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {url}")


def _seed(
    url: str, world: Path, n: int, prefix: str, persons: bool, accounts: Sequence[str] = ()
) -> list[str]:
    """``n`` cases (two per person, qq and wechat, when ``persons``) with verified portal
    sessions; returns one session token per appeal to file (on the first case of each).
    The first cases may be of given ``accounts`` (``platform:id``, e.g. ones the engine
    holds: bench_surge's), the rest are of accounts the engine has never seen."""
    from sqlalchemy import insert

    from fairban.appeals.models import AccountContact, PortalSession
    from fairban.cases.models import Case
    from fairban.contract import load_directive
    from fairban.db import make_engine, session_factory
    from fairban.directives.content import directive_content
    from fairban.directives.models import DirectiveRecord, DirectiveVersion

    directive = load_directive(world / "directive.yaml")
    engine = make_engine(url)
    now = datetime.now(UTC)
    tokens: list[str] = []
    try:
        with session_factory(engine)() as session, session.begin():
            if session.get(DirectiveRecord, directive.id) is None:
                content, digest = directive_content(directive)
                session.add(
                    DirectiveRecord(
                        id=directive.id,
                        title=directive.title,
                        issuer=directive.issuer,
                        legal_basis=directive.legal_basis,
                        current_version=1,
                        paused=False,
                        created_at=now,
                    )
                )
                session.flush()
                session.add(
                    DirectiveVersion(
                        directive_id=directive.id,
                        version=1,
                        content_hash=digest,
                        content=content,
                        loaded_at=now,
                        loaded_by="bench",
                    )
                )
            reasons = json.dumps(
                [
                    {
                        "code": "PRESENCE_SOME",
                        "text": "seen near an area",
                        "weight": 1.0,
                        "data": {"nights_w": 2},
                    }
                ]
            )
            cases, sessions, contacts = [], [], []
            platforms = ("qq", "wechat") if persons else ("qq",)
            for i in range(n):
                for platform in platforms:
                    account = f"{platform}:{prefix}-{i}"
                    if i < len(accounts) and platform == platforms[0]:
                        account = accounts[i]
                    cases.append(
                        {
                            "number": f"FB-{prefix}-{platform[:2]}-{i:07d}",
                            "directive_id": directive.id,
                            "directive_version": 1,
                            "account_id": account,
                            "platform": account.split(":")[0],
                            "person_id": f"pid-{prefix}-{i}" if persons else None,
                            "account_kind": "personal",
                            "state": "active",
                            "measure": "suspend",
                            "risk": 0.9,
                            "reasons": reasons,
                            "evidence": "{}",
                            "evidence_hash": "0" * 64,
                            "decided_by": "bench",
                            "decided_by_kind": "automatic",
                            "decided_at": now,
                            "stage_bucket": 0,
                            "created_at": now,
                            "updated_at": now,
                            "row_version": 1,
                        }
                    )
                    contacts.append(
                        {"account_id": account, "phone": f"+86139{i:08d}", "updated_at": now}
                    )
            # in slices: one statement of a surge's 600,000 rows builds all its parameters first
            for start in range(0, len(cases), SLICE):
                session.execute(insert(Case), cases[start : start + SLICE])
                session.execute(insert(AccountContact), contacts[start : start + SLICE])
            ids = dict(
                session.execute(
                    Case.__table__.select()
                    .with_only_columns(Case.number, Case.id)
                    .where(Case.number.like(f"FB-{prefix}-qq-%"))
                ).all()
            )
            for i in range(n):
                token = secrets.token_urlsafe(32)
                tokens.append(token)
                sessions.append(
                    {
                        "token_hash": sha256(token.encode()).hexdigest(),
                        "case_id": ids[f"FB-{prefix}-qq-{i:07d}"],
                        "created_at": now,
                        "expires_at": now + timedelta(hours=6),
                        "verified_at": now,
                        "csrf": secrets.token_urlsafe(16),
                    }
                )
            for start in range(0, len(sessions), SLICE):
                session.execute(insert(PortalSession), sessions[start : start + SLICE])
    finally:
        engine.dispose()
    return tokens


class Procs:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.procs = env, logs, []  # type: ignore[var-annotated]

    def start(self, name: str, *args: str, nice: int = 0) -> subprocess.Popen[bytes]:
        """``fairban ARGS`` with its log in ``NAME.log``; ``nice`` > 0 runs it at a lower
        CPU priority (background work that yields the cores to the intake)."""
        out = (self.logs / f"{name}.log").open("wb")
        p = subprocess.Popen(
            [sys.executable, "-m", "fairban.cli", *args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )
        self.procs.append(p)
        return p

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []


def _generator_cmd(
    base: str, tokens: list[str], scratch: Path, **opts: Any
) -> tuple[list[str], Path]:
    file = scratch / f"tokens-{uuid.uuid4().hex[:6]}.json"
    file.write_text(json.dumps(tokens))
    out = scratch / f"result-{uuid.uuid4().hex[:6]}.json"
    cmd = [sys.executable, __file__, "--load", base, "--tokens", str(file), "--out", str(out)]
    for k, v in opts.items():
        cmd += [f"--{k}", str(v)]
    return cmd, out


def _generator(base: str, tokens: list[str], scratch: Path, **opts: Any) -> dict[str, Any]:
    cmd, out = _generator_cmd(base, tokens, scratch, **opts)
    subprocess.run(cmd, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("FAIRBAN_TEST_POSTGRES_URL", ""))
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--intake-rate", type=float, default=1000.0, help="open-loop appeals/s")
    parser.add_argument("--intake-seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lift", type=int, default=300)
    parser.add_argument(
        "--no-recheck",
        action="store_true",
        help="skip the re-check of the intake's appeals (with --lift 0)",
    )
    parser.add_argument("--lift-rate", type=float, default=20.0)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep its logs")
    # the load generator's own process
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--attackers",
        type=int,
        default=0,
        help="also run the intake's own path while this many clients send oversized chunked "
        "bodies (the safeguards issue's load: 20)",
    )
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_main(args)
        return
    if not args.postgres:
        raise SystemExit("give --postgres URL or set FAIRBAN_TEST_POSTGRES_URL")
    if args.no_recheck and args.lift > 0:
        # the lift run's re-check would first work through every intake appeal
        raise SystemExit("--no-recheck needs --lift 0")

    from sqlalchemy import create_engine, func, select, text
    from sqlalchemy.pool import NullPool

    from fairban.appeals.models import Appeal
    from fairban.cases.models import Case
    from fairban.db import make_engine, normalize_url, upgrade
    from fairban.platforms.models import OutboxMessage
    from fairban.platforms.webhooks import MessageKind

    base_url = normalize_url(args.postgres)
    schema = f"fairban_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, poolclass=NullPool)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sync = c.exec_driver_sql("SHOW synchronous_commit").scalar()
        fsync = c.exec_driver_sql("SHOW fsync").scalar()
        version = c.exec_driver_sql("SHOW server_version").scalar()
    if sync != "on":
        raise SystemExit(f"synchronous_commit is {sync}: the benchmark needs durable commits")
    url = base_url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    procs: Procs | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="fairban-bench-appeals-") as tmp:
            scratch = Path(tmp)
            if args.keep:
                scratch = args.keep
                scratch.mkdir(parents=True, exist_ok=True)
            world = scratch / "world"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "fairban.cli",
                    "simulate",
                    "--accounts",
                    "300",
                    "--seed",
                    "7",
                    "--out",
                    str(world),
                    "-q",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            engine = make_engine(url)
            upgrade(engine)
            t0 = time.perf_counter()
            tokens = _seed(url, world, args.cases, "in", persons=False)
            seeded_s = time.perf_counter() - t0
            env = {
                **os.environ,
                "FAIRBAN_DATABASE_URL": url,
                "FAIRBAN_HOME": str(scratch / "home"),
                "FAIRBAN_SECRET_KEY": "bench",
                "FAIRBAN_SIM_SECRET": "bench-platform",
                "FAIRBAN_APPEALS_PER_WINDOW": "1000",
                # every synthetic appeal of the lift run is rightly granted: the breaker
                # would (rightly) pause the directive and hold the lifts being timed
                "FAIRBAN_BREAKER_MIN_DECIDED": "100000000",
            }
            env.pop("FAIRBAN_EVIDENCE_DIR", None)
            procs = Procs(env, scratch)

            # 1. intake, side by side in the same run: FastAPI's route (the baseline:
            # FAIRBAN_FAST_INTAKE=false) and the intake's own path; each its own server
            # and its own half of the cases (one appeal per case)
            print(
                f"PostgreSQL {version}, synchronous_commit={sync}, fsync={fsync}; "
                f"{os.cpu_count()} cores shared by everything\n"
            )
            print(f"### Intake: `fairban serve --workers {args.workers}`\n")
            print(
                "| path | load | appeals | appeals/s | p50 ms | p90 ms | p99 ms | max ms "
                "| answers | server MiB, start -> peak |"
            )
            print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
            created = 0
            runs = [("FastAPI route (baseline)", "false", 0), ("intake's own path", "true", 0)]
            if args.attackers:
                runs.append(
                    (f"intake's own path, {args.attackers} attackers", "true", args.attackers)
                )
            share = len(tokens) // len(runs)
            attacked: dict[str, Any] | None = None
            for k, (mode, fast, attackers) in enumerate(runs):
                part = tokens[k * share : (k + 1) * share]
                port = _free_port()
                base = f"http://127.0.0.1:{port}"
                procs.env["FAIRBAN_RECHECK_IN_SERVER"] = "false"  # measured on its own below
                procs.env["FAIRBAN_FAST_INTAKE"] = fast
                if attackers:  # each attacker an address of its own behind a proxy
                    procs.env["FAIRBAN_TRUSTED_PROXIES"] = "127.0.0.1"
                server = procs.start(
                    f"serve-intake-{k}",
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                )
                for key in ("FAIRBAN_RECHECK_IN_SERVER", "FAIRBAN_FAST_INTAKE"):
                    procs.env.pop(key)
                procs.env.pop("FAIRBAN_TRUSTED_PROXIES", None)
                _wait_http(f"{base}/api/v1/health")
                _generator(base, part[:200], scratch, concurrency=8)  # warm up: connections
                created += 200
                # open loop first (appeals sent at a fixed rate, whatever the answers),
                # then closed loop (CONCURRENCY in flight: the most the server takes)
                paced_n = min(int(args.intake_rate * args.intake_seconds), (len(part) - 200) // 2)
                memory = _Rss(server.pid)
                attack = None
                if attackers:
                    cmd = [sys.executable, __file__, "--load", base, "--attackers", str(attackers)]
                    seconds = paced_n / args.intake_rate + 2
                    attack_out = scratch / f"attack-{k}.json"
                    cmd += ["--seconds", f"{seconds:.1f}", "--out", str(attack_out)]
                    attack = subprocess.Popen(cmd)
                    time.sleep(1.0)  # the attack is under way before the appeals come
                paced = _generator(base, part[200 : 200 + paced_n], scratch, rate=args.intake_rate)
                paced_mem = memory.stop()
                if attack is not None:
                    attack.wait(timeout=120)
                    attacked = json.loads(attack_out.read_text())
                memory = _Rss(server.pid)
                load = _generator(
                    base, part[200 + paced_n :], scratch, concurrency=args.concurrency
                )
                load_mem = memory.stop()
                procs.stop()
                created += load["statuses"].get("201", 0) + paced["statuses"].get("201", 0)
                for name, run, mem in (
                    (f"open loop, {args.intake_rate:,.0f}/s offered", paced, paced_mem),
                    (f"closed loop, {args.concurrency} in flight", load, load_mem),
                ):
                    ms = [x * 1000 for x in run["latencies"]]
                    answers = ", ".join(f"{k}: {v:,}" for k, v in sorted(run["statuses"].items()))
                    print(
                        f"| {mode} | {name} | {len(ms):,} | {len(ms) / run['wall_s']:,.0f} | "
                        f"{statistics.median(ms):.1f} | {_percentile(ms, 90):.1f} | "
                        f"{_percentile(ms, 99):.1f} | {max(ms):.1f} | {answers} | "
                        f"{mem[0]:,.0f} -> {mem[1]:,.0f} |"
                    )
                sys.stdout.flush()
            if attacked is not None:
                answers = ", ".join(
                    f"{'closed' if k == '0' else k}: {v:,}"
                    for k, v in sorted(attacked["statuses"].items())
                )
                print(
                    f"\nThe {args.attackers} attackers, during the open loop: "
                    f"{sum(attacked['statuses'].values()):,} oversized chunked bodies begun "
                    f"(200 MiB multipart to /case/appeal, 100 MiB JSON to /api/v1/access/link), "
                    f"{attacked['sent_bytes'] / 2**20:,.0f} MiB sent before the server cut them "
                    f"off; answers {answers}."
                )
            with engine.connect() as c:
                rows = c.execute(select(func.count()).select_from(Appeal)).scalar_one()
                keys = c.execute(select(func.count(func.distinct(Appeal.submit_key)))).scalar_one()
            expected = created  # the warm-ups' appeals are rows too
            lost = max(0, expected - rows)
            print(
                f"\nAppeal rows: {rows:,} (distinct keys {keys:,}) for {expected:,} answered "
                f"201 (warm-ups included): {lost} lost.\n"
            )
            sys.stdout.flush()
            # then the take-in and re-check of all of them by one separate process
            if not args.no_recheck:
                drain_started = time.perf_counter()
                procs.start("recheck", "appeals", "recheck", "--watch")
                _wait_taken_in(engine, timeout_s=900)
                drain_s = time.perf_counter() - drain_started
                procs.stop()
                print(
                    f"Then one `fairban appeals recheck --watch` process took in and "
                    f"re-checked all {rows:,} in {drain_s:.1f} s: {rows / drain_s:,.0f} "
                    "appeals/s (batches of 200, one transaction each; every appeal queued: "
                    f"no evidence folder). Seeding {args.cases:,} cases and sessions took "
                    f"{seeded_s:.1f} s.\n"
                )

            if args.lift <= 0:
                return
            # 2. appeal -> lift acknowledged by every platform
            sims = _register_platforms(engine)
            lift_tokens = _seed(url, world, args.lift + 1, "lift", persons=True)
            for name, p in sims.items():
                procs.start(
                    f"sim-{name}",
                    "platform-sim",
                    "--name",
                    name,
                    "--port",
                    str(p),
                    "--db",
                    str(scratch / f"sim-{name}.db"),
                )
            for p in sims.values():
                _wait_http(f"http://127.0.0.1:{p}/health")
            procs.start("worker", "worker", "--poll", "0.02", "-q")
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            procs.start(
                "serve-lift", "serve", "--port", str(port), "--data", str(world / "evidence")
            )
            _wait_http(f"{base}/api/v1/health")
            # the first re-check runs the engine once (then it is cached): not measured
            _generator(base, lift_tokens[:1], scratch, rate=1)
            _wait_lifted(engine, 1, timeout_s=120)
            started = time.perf_counter()
            _generator(base, lift_tokens[1:], scratch, rate=args.lift_rate)
            _wait_lifted(engine, args.lift + 1, timeout_s=300)
            procs.stop()
            with engine.connect() as c:
                appeals = c.execute(
                    select(Appeal.filed_at, Case.person_id)
                    .join(Case, Case.id == Appeal.case_id)
                    .where(Case.number.like("FB-lift-%"))
                ).all()
                acks = dict(
                    c.execute(
                        select(Case.person_id, func.max(OutboxMessage.delivered_at))
                        .join(Case, Case.id == OutboxMessage.case_id)
                        .where(
                            OutboxMessage.kind == MessageKind.LIFT, Case.number.like("FB-lift-%")
                        )
                        .group_by(Case.person_id)
                    ).all()
                )
                platforms_acked = c.execute(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(
                        OutboxMessage.kind == MessageKind.LIFT,
                        OutboxMessage.delivered_at.is_not(None),
                    )
                ).scalar_one()
            delays = sorted(
                (acks[p] - filed).total_seconds() for filed, p in appeals[1:] if acks.get(p)
            )
            print(
                f"### Appeal to lift acknowledged by every platform: {len(delays):,} "
                f"auto-granted appeals at {args.lift_rate:g}/s, 2 accounts (qq, wechat) each\n"
            )
            print("| p50 s | p90 s | p99 s | max s | lifts acknowledged |")
            print("|---:|---:|---:|---:|---:|")
            print(
                f"| {statistics.median(delays):.2f} | {_percentile(delays, 90):.2f} | "
                f"{_percentile(delays, 99):.2f} | {max(delays):.2f} | {platforms_acked:,} |"
            )
            print(f"\n(lift phase wall time {time.perf_counter() - started:.1f} s)")
            engine.dispose()
    finally:
        if procs is not None:
            procs.stop()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _wait_taken_in(engine: Any, timeout_s: float) -> None:
    """Until no appeal waits for the re-check loop."""
    from sqlalchemy import func, select

    from fairban.appeals.models import Appeal, AppealState

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as c:
            waiting = c.execute(
                select(func.count()).select_from(Appeal).where(Appeal.state == AppealState.RECEIVED)
            ).scalar_one()
        if waiting == 0:
            return
        time.sleep(0.25)
    raise SystemExit(f"appeals still waiting for the re-check after {timeout_s} s")


def _wait_lifted(engine: Any, persons: int, timeout_s: float) -> None:
    """Until every lift of ``persons`` persons' cases is acknowledged."""
    from sqlalchemy import func, select

    from fairban.cases.models import Case
    from fairban.platforms.models import OutboxMessage
    from fairban.platforms.webhooks import MessageKind

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as c:
            done = c.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .join(Case, Case.id == OutboxMessage.case_id)
                .where(
                    OutboxMessage.kind == MessageKind.LIFT,
                    OutboxMessage.delivered_at.is_not(None),
                    Case.number.like("FB-lift-%"),
                )
            ).scalar_one()
        if done >= 2 * persons:
            return
        time.sleep(0.25)
    raise SystemExit(f"lifts not all acknowledged after {timeout_s} s")


if __name__ == "__main__":
    main()
