"""Outbox delivery to the reference platform: messages/s and lag from commit to
acknowledgement, on SQLite and on PostgreSQL.

    uv run python benchmarks/bench_delivery.py [--messages 20000] [--rate 1000]
        [--postgres URL] [--sqlite-only] [--batch 200] [--concurrency 16]
        [--insert bulk|enqueue] [--committers 1]

Processes as in production: `fairban platform-sim` (the reference platform, its own
SQLite table), `fairban worker`, and ``--committers`` processes committing the messages
in transactions of ``--tx``, each for its own accounts: by default with one multi-row
INSERT per transaction of rows exactly as ``platforms.outbox.enqueue`` writes them
(``--insert bulk``), or through ``enqueue`` itself, which flushes each message
(``--insert enqueue``: the commit then costs more CPU than the delivery). Two runs per
database:

- **steady**: messages committed at ``--rate`` a second altogether while the worker
  runs; the lag of each message is ``delivered_at - created_at`` (``created_at`` is set
  just before its transaction commits, ``delivered_at`` when the platform's
  acknowledgement arrived);
- **backlog**: ``--messages`` committed first, then a worker started to drain them: the
  most it delivers a second.

Each run checks that the platform applied every message exactly once. PostgreSQL:
``--postgres URL`` or ``FAIRBAN_TEST_POSTGRES_URL``; each run gets a schema of its own,
dropped afterwards. Peak RSS is each process's own ``VmHWM``; CPU is user+system time per
process over the run (the worker's includes its start-up), per message delivered; the
database server's is not counted. The load average is the machine's as the run began:
on a shared machine it says how much of the two cores the run could have.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.pool import NullPool

import fairban.cases.models  # noqa: F401  (the outbox's foreign key names the cases table)
from fairban.db import make_engine, normalize_url, session_factory, upgrade
from fairban.platforms.models import OutboxMessage, OutboxState
from fairban.platforms.outbox import enqueue
from fairban.platforms.registry import add_platform
from fairban.platforms.webhooks import MessageKind

SECRET = "bench-secret-0123456789abcdef"
CLI = [sys.executable, "-m", "fairban.cli"]


@dataclass
class Result:
    database: str
    mode: str
    messages: int
    seconds: float
    rate: float
    offered: float | None
    p50_ms: float
    p99_ms: float
    max_ms: float
    applied: int
    duplicates: int
    worker_rss: float
    sim_rss: float
    worker_cpu: float
    sim_cpu: float
    commit_cpu: float
    load: float  # the machine's 1-minute load average as the run began


# --------------------------------------------------------------------------- processes


def proc_status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


@contextmanager
def database(kind: str, folder: Path, postgres: str | None) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'fairban.db'}"
        return
    assert postgres
    schema = f"fairban_bench_{uuid4().hex[:10]}"
    base = normalize_url(postgres)
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def platform_sim(folder: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "FAIRBAN_SIM_SECRET": SECRET, "FAIRBAN_HOME": str(folder)}
    sim = subprocess.Popen(
        [*CLI, "platform-sim", "--name", "bench", "--db", str(folder / "sim.db")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert sim.stdout is not None
        line = sim.stdout.readline()
        base = "http://" + line.split("http://", 1)[1].split()[0]
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield sim, base
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=30)


def start_worker(url: str, folder: Path, args: argparse.Namespace) -> subprocess.Popen[str]:
    env = {**os.environ, "FAIRBAN_DATABASE_URL": url, "FAIRBAN_HOME": str(folder)}
    options = ["--batch", str(args.batch), "--concurrency", str(args.concurrency)]
    return subprocess.Popen(
        [*CLI, "worker", "-q", *options], stdout=subprocess.DEVNULL, text=True, env=env
    )


# --------------------------------------------------------------------------- a run


def message(i: int, accounts: int, share: int, shares: int) -> dict[str, Any]:
    """The ``i``-th message of committer ``share``: an account of its own, alternately
    a suspension and its lift."""
    number = (i * shares + share) % accounts
    lift = (i * shares // accounts) % 2 == 1
    body: dict[str, Any] = {
        "case_number": f"YN-2019-{number:06d}",
        "directive_id": "cn-mps-2019-10-14-mm-north",
        "person_id": None,
    }
    if lift:
        body["lift_reason"] = "appeal_granted"
    else:
        body |= {
            "measure": "suspend",
            "functions": ["login", "payments_out"],
            "reasons": ["presence_nights", "outreach_to_strangers"],
            "expires_at": None,
        }
    return {
        "account_id": f"wxid_bench_{number:06d}",
        "kind": MessageKind.LIFT if lift else MessageKind.APPLY,
        "body": body,
    }


def bulk_rows(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Outbox rows exactly as ``enqueue`` writes them (the same document, key order and
    JSON form), for one multi-row INSERT instead of a flush per message."""
    now = datetime.now(UTC)
    rows = []
    for m in messages:
        key = uuid4().hex
        document = {
            "id": key,
            "type": m["kind"].value,
            "platform": "bench",
            "account_id": m["account_id"],
            "created_at": now.isoformat().replace("+00:00", "Z"),
        } | m["body"]
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        rows.append(
            {
                "idempotency_key": key,
                "platform": "bench",
                "account_id": m["account_id"],
                "case_id": None,
                "directive_id": m["body"]["directive_id"],
                "kind": m["kind"],
                "payload": payload,
                "state": OutboxState.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    return rows


def commit_messages(
    url: str,
    n: int,
    rate: float,
    tx: int,
    accounts: int,
    share: int = 0,
    shares: int = 1,
    bulk: bool = False,
) -> float:
    """Commit ``n`` messages in transactions of ``tx``, at ``rate`` a second (0: as fast
    as possible); the rate reached. Committer ``share`` of ``shares`` takes the accounts
    whose number is ``share`` modulo ``shares``, so each account's messages come from
    one committer, in order. ``bulk``: one INSERT per transaction (``bulk_rows``)
    instead of ``enqueue``'s flush per message."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    start = time.monotonic()
    began = time.time()
    done = 0
    while done < n:
        if rate:
            pause = start + done / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        batch = [message(i, accounts, share, shares) for i in range(done, min(n, done + tx))]
        with sessions() as session, session.begin():
            if bulk:
                session.execute(insert(OutboxMessage), bulk_rows(batch))
            else:
                for m in batch:
                    enqueue(
                        session,
                        platform="bench",
                        account_id=m["account_id"],
                        kind=m["kind"],
                        body=m["body"],
                        directive_id=m["body"]["directive_id"],
                        now=datetime.now(UTC),
                    )
        done = min(n, done + tx)
    elapsed = time.monotonic() - start
    engine.dispose()
    cpu = time.process_time()
    print(json.dumps({"began": began, "ended": time.time(), "cpu": cpu}), flush=True)
    return n / elapsed


def commit_in_parallel(
    url: str, args: argparse.Namespace, rate: float, tx: int
) -> tuple[float, float]:
    """Commit ``--messages`` from ``--committers`` processes (several flows commit at
    once in production too); the rate reached altogether and their CPU seconds."""
    accounts = max(1, args.messages // 4)
    shares = args.committers
    children = []
    for share in range(shares):
        n = args.messages // shares + (1 if share < args.messages % shares else 0)
        job = {"url": url, "n": n, "rate": rate / shares, "tx": tx, "accounts": accounts}
        job |= {"share": share, "shares": shares, "bulk": args.insert == "bulk"}
        command = [sys.executable, __file__, "--commit-child", json.dumps(job)]
        children.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    spans = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit("a committer failed")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    # from the first commit to the last: the children's start-up is not committing time
    elapsed = max(s["ended"] for s in spans) - min(s["began"] for s in spans)
    return args.messages / elapsed, sum(s["cpu"] for s in spans)


def run(kind: str, mode: str, args: argparse.Namespace) -> Result:
    load = os.getloadavg()[0]
    postgres = args.postgres or os.environ.get("FAIRBAN_TEST_POSTGRES_URL")
    with (
        tempfile.TemporaryDirectory(prefix="fairban-bench-delivery-") as scratch,
        database(kind, Path(scratch), postgres) as url,
        platform_sim(Path(scratch)) as (sim, base),
    ):
        folder = Path(scratch)
        engine = make_engine(url)
        upgrade(engine)
        with session_factory(engine)() as session, session.begin():
            add_platform(session, name="bench", url=f"{base}/webhook", secret=SECRET, actor="bench")
        offered: float | None = None
        cpu_before = proc_cpu(sim.pid)
        if mode == "backlog":
            _, commit_cpu = commit_in_parallel(url, args, 0, 500)
            worker = start_worker(url, folder, args)
        else:
            worker = start_worker(url, folder, args)
            time.sleep(3.0)  # let it start (imports) before the clock matters
            offered, commit_cpu = commit_in_parallel(url, args, args.rate, args.tx)
        sessions = session_factory(engine, read_only=True)
        try:
            deadline = time.monotonic() + 600
            while True:
                with sessions() as session:
                    left = session.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.state != OutboxState.DELIVERED)
                    )
                if not left:
                    break
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise SystemExit(f"{kind} {mode}: {left} messages not delivered")
                time.sleep(0.2)
            worker_rss = proc_status(worker.pid, "VmHWM")
            worker_cpu = proc_cpu(worker.pid)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        sim_rss = proc_status(sim.pid, "VmHWM")
        sim_cpu = proc_cpu(sim.pid) - cpu_before
        stats = httpx.get(f"{base}/stats", timeout=10).json()
        with sessions() as session:
            rows = session.execute(
                select(OutboxMessage.created_at, OutboxMessage.delivered_at)
            ).all()
        engine.dispose()
    lags = sorted((d - c).total_seconds() * 1000 for c, d in rows if d is not None)
    first = min(c for c, _ in rows)
    last = max(d for _, d in rows if d is not None)
    seconds = (last - first).total_seconds()
    if mode == "backlog":
        started = min(d for _, d in rows if d is not None)
        seconds = (last - started).total_seconds()
    return Result(
        database="PostgreSQL" if kind == "postgresql" else "SQLite",
        mode=mode,
        messages=len(rows),
        seconds=seconds,
        rate=len(rows) / seconds if seconds else float("nan"),
        offered=offered,
        p50_ms=statistics.median(lags),
        p99_ms=lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        max_ms=lags[-1],
        applied=int(stats["applied"]),
        duplicates=int(stats["duplicates"]),
        worker_rss=worker_rss,
        sim_rss=sim_rss,
        worker_cpu=worker_cpu,
        sim_cpu=sim_cpu,
        commit_cpu=commit_cpu,
        load=load,
    )


# --------------------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        ram = f"{mem_kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        ram = "RAM unknown"
    return f"{cpu}, {os.cpu_count()} cores, {ram}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="steady run: commits/s")
    parser.add_argument("--tx", type=int, default=20, help="messages per committed transaction")
    parser.add_argument("--committers", type=int, default=1, help="committing processes")
    parser.add_argument(
        "--insert",
        choices=["enqueue", "bulk"],
        default="bulk",
        help="commit with enqueue (a flush per message) or one INSERT per transaction",
    )
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", help="PostgreSQL URL [FAIRBAN_TEST_POSTGRES_URL]")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database")
    parser.add_argument("--mode", choices=["steady", "backlog"], help="one kind of run")
    parser.add_argument("--commit-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.commit_child:
        commit_messages(**json.loads(args.commit_child))
        return

    kinds = ["sqlite"]
    if not args.sqlite_only and (args.postgres or os.environ.get("FAIRBAN_TEST_POSTGRES_URL")):
        kinds.append("postgresql")
    if args.only:
        kinds = [args.only]
    modes = [args.mode] if args.mode else ["steady", "backlog"]
    results = []
    for kind in kinds:
        for mode in modes:
            result = run(kind, mode, args)
            results.append(result)
            print(f"  {result}", file=sys.stderr, flush=True)

    print(f"Command: `{shlex.join(['uv', 'run', 'python', *sys.argv])}`  ")
    print(f"Machine: {machine()}\n")
    print(
        "| database | run | messages | seconds | delivered/s | committed/s | lag p50 ms "
        "| lag p99 ms | lag max ms | applied once | replays | peak RSS MiB: worker, platform "
        "| CPU µs/message: worker, platform, committers | load average |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in results:

        def per(seconds: float, messages: int = r.messages) -> str:
            return f"{seconds / messages * 1e6:,.0f}"

        offered = f"{r.offered:,.0f}" if r.offered is not None else "(before)"
        # a backlog's lag is mostly the time its commit took: not shown
        lags = (
            f"{r.p50_ms:,.0f} | {r.p99_ms:,.0f} | {r.max_ms:,.0f}"
            if r.mode == "steady"
            else "- | - | -"
        )
        once = "yes" if r.applied == r.messages else f"no ({r.applied:,})"
        print(
            f"| {r.database} | {r.mode} | {r.messages:,} | {r.seconds:.1f} | {r.rate:,.0f} "
            f"| {offered} | {lags} | {once} "
            f"| {r.duplicates:,} | {r.worker_rss:,.0f}, {r.sim_rss:,.0f} | {per(r.worker_cpu)}, "
            f"{per(r.sim_cpu)}, {per(r.commit_cpu)} | {r.load:.1f} |"
        )


if __name__ == "__main__":
    main()
