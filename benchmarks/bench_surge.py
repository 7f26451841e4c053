"""The surge: appeals re-checked by ``fairban appeals recheck --watch`` processes, against
PostgreSQL with durable commits; either drained from the table or, with
``--intake-rate``, filed through the intake while the re-check and the worker run.

    uv run --group bench python benchmarks/bench_surge.py [--postgres URL]
        [--appeals 20000] [--processes 1 2] [--held 0.1] [--profile OUT.txt]
        [--baseline REV]
    uv run --group bench python benchmarks/bench_surge.py [--postgres URL]
        --intake-rate 1000 [--intake-seconds 300] [--recheckers 1 2] [--held 0.1]
        [--serve-workers 2] [--one-account] [--sample 5] [--drain-timeout 900] [--nice 0]
        [--baseline REV]

URL defaults to $FAIRBAN_TEST_POSTGRES_URL; each run uses a new schema of that database,
dropped afterwards. A small simulated world gives the evidence (``fairban simulate
--accounts 300``) so the re-check really judges. ``--baseline`` also runs the code of
another git revision (a worktree) in the same run, side by side, each run migrated by
the code it runs.

The drain (without ``--intake-rate``): APPEALS synthetic cases under the world's 2019
directive, each with an appeal filed (written straight to the table, as the intake
writes them); a share HELD of them are cases of accounts the engine still holds (they
are queued for a person), the rest are of accounts it no longer links to the areas
(granted: lifted with notices and webhooks to two registered platforms). For each count
of re-check processes, the appeals are drained and the script reports the time,
appeals/s (from the processes' start: their imports and the engine's one run
included), the steady appeals/s (from the second batch's start to the last's: the
re-check itself), filing-to-outcome latency, and that every appeal was re-checked
exactly once (one ``appeal:recheck:*`` audit entry each, one ``measure.lift`` message
per platform and lifted case) and that the audit log verifies. ``--profile OUT.txt``
runs the first process under cProfile (the standard library's; OUT.pstats beside it),
for the last code given.

The surge (``--intake-rate RATE``): RATE x INTAKE_SECONDS appellants (two accounts each,
qq and wechat, of one person; one with ``--one-account``), a share HELD of them (at most
as many as the world has) on an account the engine holds, each with a verified portal
session (bench_appeals' seeding). Started: ``fairban serve --workers W`` (the intake's
own path, its re-check loop off), each count of ``--recheckers`` N ``fairban appeals
recheck --watch --data EVIDENCE`` processes, ``fairban worker`` and two ``fairban
platform-sim`` processes registered as the platforms. 200 warm-up appeals (connections,
the engine's one run) are filed and delivered first; then bench_appeals' open-loop load
generator (its own process) offers RATE appeals a second for INTAKE_SECONDS, and the
run waits until nothing waits for a re-check or a delivery (at most DRAIN_TIMEOUT s).
One table, a row per run: offered and answered rate, intake p50/p99, filing to the
automatic outcome's commit p50/p99 (the commit seen on the audit log's head, sampled
every 0.1 s), from that commit and from filing to the lift acknowledged by every
platform of the appellant (the outbox's ``delivered_at``), appeals re-checked per
second during the offered window and after it, the peak queue, the drain's time after
the window, and lost: appeals
answered 201 without a row, without their one ``appeal:recheck:*`` entry, or granted
without one acknowledged lift per account. Below it, per run: the checks in detail
(rows = 201s, re-checked exactly once, lifts neither missing nor doubled, no dead
letters, the audit log verifies, nothing waiting), the queue every SAMPLE s (filed,
waiting, re-checked, lifts pending and acknowledged), and the CPU seconds of each
process (with its children) and of the PostgreSQL backends serving it (by client
port), with what the rest of the machine used in the meantime.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def seed(url: str, world: Path, n: int, held_share: float) -> None:
    """``n`` cases with an appeal each (state ``received``), a share of them on accounts
    the engine still holds, and two platforms to deliver lifts to."""
    import pyarrow.parquet as pq
    from sqlalchemy import insert

    from fairban.appeals.models import Appeal, AppealState
    from fairban.cases.models import Case
    from fairban.contract import load_directive
    from fairban.db import make_engine, session_factory
    from fairban.directives.content import directive_content
    from fairban.directives.models import DirectiveRecord, DirectiveVersion
    from fairban.platforms.models import Platform

    directive = load_directive(world / "directive.yaml")
    decisions = pq.read_table(world / "decisions" / "decisions.parquet").to_pylist()
    held = [d["account_id"] for d in decisions if d["measure"] in ("restrict", "suspend")]
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        with session_factory(engine)() as session, session.begin():
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
            for name in ("qq", "wechat"):
                session.add(
                    Platform(
                        name=name,
                        webhook_url=f"http://127.0.0.1:9/{name}",
                        secret="bench-platform",
                        enabled=True,
                        created_at=now,
                        updated_at=now,
                    )
                )
            reasons = json.dumps(
                [{"code": "PRESENCE_SOME", "text": "seen near an area", "weight": 1.0}]
            )
            n_held = min(len(held), round(n * held_share))
            cases = []
            for i in range(n):
                account = held[i] if i < n_held else f"qq:surge-{i}"
                cases.append(
                    {
                        "number": f"FB-S-{i:08d}",
                        "directive_id": directive.id,
                        "directive_version": 1,
                        "account_id": account,
                        "platform": account.split(":")[0],
                        "person_id": None,
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
            for start in range(0, n, 10_000):
                session.execute(insert(Case), cases[start : start + 10_000])
            ids = dict(
                session.execute(
                    Case.__table__.select().with_only_columns(Case.number, Case.id)
                ).all()
            )
            appeals = [
                {
                    "case_id": ids[f"FB-S-{i:08d}"],
                    "directive_id": directive.id,
                    "submit_key": f"surge-{i}",
                    "grounds": '["never_been_there"]',
                    "statement": "bench",
                    "lang": "zh-CN",
                    "state": AppealState.RECEIVED,
                    "filed_at": now,
                    "answer_by": now + timedelta(hours=48),
                }
                for i in range(n)
            ]
            for start in range(0, n, 10_000):
                session.execute(insert(Appeal), appeals[start : start + 10_000])
    finally:
        engine.dispose()


def _steady_rate(starts: list[tuple[datetime, int]]) -> float | None:
    """Appeals a second from the second batch's start to the last's (None: too few)."""
    if len(starts) < 3:
        return None
    span = (starts[-1][0] - starts[1][0]).total_seconds()
    return sum(count for _, count in starts[1:-1]) / span if span > 0 else None


def check(url: str, n: int) -> dict[str, Any]:
    """Exactly once: one re-check entry per appeal, one lift message per platform and
    lifted case, no appeal left waiting; and the audit log's chain."""
    from sqlalchemy import func, select, text

    from fairban import audit
    from fairban.appeals.models import Appeal, AppealState
    from fairban.db import make_engine, session_factory

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            waiting = c.execute(
                select(func.count()).select_from(Appeal).where(Appeal.state == AppealState.RECEIVED)
            ).scalar_one()
            rechecks = dict(
                c.execute(
                    text(
                        "SELECT action, count(*) FROM audit_log WHERE action LIKE "
                        "'appeal:recheck:%' GROUP BY action"
                    )
                ).all()
            )
            twice = c.execute(
                text(
                    "SELECT count(*) FROM (SELECT payload::json->>'appeal' FROM audit_log "
                    "WHERE action LIKE 'appeal:recheck:%' GROUP BY 1 HAVING count(*) > 1) t"
                )
            ).scalar_one()
            lifts = c.execute(
                text(
                    "SELECT count(*), count(DISTINCT (case_id, platform)) FROM outbox "
                    "WHERE kind = 'measure.lift'"
                )
            ).one()
            # each batch stamps its appeals with its start: the rate between the second
            # batch's start and the last's leaves out the process's start and the
            # engine's run (in the first batch)
            starts = [
                (r[0], r[1])
                for r in c.execute(
                    text(
                        "SELECT rechecked_at, count(*) FROM appeals "
                        "WHERE rechecked_at IS NOT NULL GROUP BY 1 ORDER BY 1"
                    )
                )
            ]
            latency = [
                r[0]
                for r in c.execute(
                    text("SELECT extract(epoch FROM rechecked_at - filed_at) FROM appeals")
                )
                if r[0] is not None
            ]
        with session_factory(engine)() as session:
            report = audit.verify(session)
    finally:
        engine.dispose()
    return {
        "waiting": waiting,
        "rechecks": rechecks,
        "twice": twice,
        "lift_messages": lifts[0],
        "lift_distinct": lifts[1],
        "audit_ok": report.ok,
        "audit_entries": report.entries,
        "latency": latency,
        "steady": _steady_rate(starts),
        "n": n,
    }


def drain(
    url: str,
    world: Path,
    home: Path,
    processes: int,
    python: str,
    cwd: Path,
    n: int,
    profile: Path | None,
) -> float:
    env = {
        **os.environ,
        "FAIRBAN_DATABASE_URL": url,
        "FAIRBAN_HOME": str(home),
        "FAIRBAN_SECRET_KEY": "bench",
        "FAIRBAN_BREAKER_MIN_DECIDED": "100000000",
        "PYTHONPATH": str(cwd / "src"),
    }
    env.pop("FAIRBAN_EVIDENCE_DIR", None)
    # the engine's first run is not the surge's: warm the cache in this home first
    cmd = ["-m", "fairban.cli", "appeals", "recheck", "--data", str(world / "evidence")]
    started = time.perf_counter()
    procs = []
    for k in range(processes):
        args = [python, *cmd, "--watch", "--poll", "0.05"]
        if profile is not None and k == 0:
            # cProfile (the standard library's): the bench group has no sampling profiler
            args = [python, "-m", "cProfile", "-o", str(profile.with_suffix(".pstats")), *cmd]
        log = (home / f"recheck-{k}.log").open("wb")
        procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd))
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        while True:
            with engine.connect() as c:
                waiting = c.execute(
                    text("SELECT count(*) FROM appeals WHERE state = 'received'")
                ).scalar_one()
            if waiting == 0:
                break
            if all(p.poll() is not None for p in procs):
                raise SystemExit(f"re-check processes exited with {waiting} appeals waiting")
            time.sleep(0.1)
    finally:
        engine.dispose()
    took = time.perf_counter() - started
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        p.wait(timeout=60)
    if profile is not None:
        _profile_text(profile.with_suffix(".pstats"), profile)
    return took


def _profile_text(stats_path: Path, out: Path) -> None:
    """The profile as text: the functions by cumulative time, then by their own time."""
    import io
    import pstats

    buf = io.StringIO()
    stats = pstats.Stats(str(stats_path), stream=buf).strip_dirs()
    stats.sort_stats("cumulative").print_stats(80)
    stats.sort_stats("tottime").print_stats(60)
    out.write_text(buf.getvalue())


# --- the surge: intake, re-check, worker and platforms at once -------------------------

#: appeals filed before the offered window (connections opened, the engine's one run)
WARM = 200
#: seconds between looks at the audit log's head (when a re-check became visible)
HEAD_EVERY_S = 0.1
#: rows of the queue's table at most (samples are skipped evenly past it)
QUEUE_ROWS = 60
#: the bench process itself (its monitor thread and its waits), apart from its children
BENCH = "bench (monitor, waits)"


def held_accounts(world: Path) -> list[str]:
    """The accounts the engine holds (restrict, suspend) in the world's decisions."""
    import pyarrow.parquet as pq

    decisions = pq.read_table(world / "decisions" / "decisions.parquet").to_pylist()
    return [d["account_id"] for d in decisions if d["measure"] in ("restrict", "suspend")]


class Monitor:
    """Samples while the surge runs, in a thread of the bench process.

    Every HEAD_EVERY_S the audit log's last id: ids are given under the log's lock, held
    until the writer commits, so they become visible in id order, and the first sample
    at or past a re-check's entry is when its outcome was committed (at most
    HEAD_EVERY_S late). Every ``every_s`` the queue (appeals filed, waiting, re-checked;
    lift messages pending, acknowledged) and the CPU seconds of each process (and its
    children) and of the PostgreSQL backends serving it (matched by client port)."""

    def __init__(self, url: str, roots: dict[str, int], every_s: float) -> None:
        import threading

        import psutil
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.engine = create_engine(url, poolclass=NullPool)
        self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        own = self.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        self.pg_port = self.engine.url.port or 5432
        self.roots = {name: psutil.Process(pid) for name, pid in roots.items()}
        self.every_s = every_s
        self.heads: list[tuple[float, int]] = []
        self.queue: list[tuple[float, int, int, int, int, int]] = []
        #: pid -> (owner, CPU seconds when last seen)
        self.cpu: dict[int, tuple[str, float]] = {}
        self.base: dict[int, float] = {}
        self.backends: dict[int, str] = {own: BENCH}
        self.machine_base = self._machine()
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sample_cpu()
        self.base = {pid: s for pid, (_, s) in self.cpu.items()}
        self._thread.start()

    def add(self, name: str, pid: int) -> None:
        import psutil

        self.roots[name] = psutil.Process(pid)

    @staticmethod
    def _machine() -> float:
        import psutil

        t = psutil.cpu_times()
        # steal is the hypervisor's, not this machine's work
        return float(t.user + t.nice + t.system + t.irq + t.softirq)

    def _run(self) -> None:
        next_queue = 0.0
        while not self._stop.is_set():
            self._sample_head()
            now = time.time()
            if now >= next_queue:
                self._sample_queue(now)
                self._sample_cpu()
                next_queue = now + self.every_s
            self._stop.wait(HEAD_EVERY_S)

    def _sample_head(self) -> None:
        head = self.conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM audit_log").scalar()
        # timed after the answer: what it shows was committed by then
        self.heads.append((time.time(), int(head or 0)))

    def _sample_queue(self, now: float) -> None:
        a = self.conn.exec_driver_sql(
            "SELECT count(*), count(*) FILTER (WHERE state = 'received'), count(rechecked_at) "
            "FROM appeals"
        ).one()
        o = self.conn.exec_driver_sql(
            "SELECT count(*) FILTER (WHERE state = 'pending'), "
            "count(*) FILTER (WHERE state = 'delivered') FROM outbox WHERE kind = 'measure.lift'"
        ).one()
        self.queue.append((now - self.started, a[0], a[1], a[2], o[0], o[1]))

    def _tree(self, name: str) -> list[Any]:
        import psutil

        root = self.roots[name]
        if name == BENCH:
            return [root]  # the bench's children are the processes measured
        try:
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def _sample_cpu(self) -> None:
        import psutil

        for name in list(self.roots):
            for p in self._tree(name):
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    self.cpu[p.pid] = (name, t.user + t.system)
        rows = self.conn.exec_driver_sql(
            "SELECT pid, client_port FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend'"
        ).all()
        unknown = [(pid, port) for pid, port in rows if pid not in self.backends]
        if unknown:
            ports = self._ports()
            for pid, port in unknown:
                if port in ports:
                    self.backends[pid] = ports[port]
        for pid, owner in self.backends.items():
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                self.cpu[pid] = (f"{owner}: PostgreSQL", t.user + t.system)

    def _ports(self) -> dict[int, str]:
        """Local port -> process, for the connections to PostgreSQL."""
        import psutil

        ports: dict[int, str] = {}
        for name in list(self.roots):
            for p in self._tree(name):
                with contextlib.suppress(psutil.Error):
                    for c in p.net_connections(kind="tcp"):
                        if c.raddr and c.raddr.port == self.pg_port:
                            ports[c.laddr.port] = name
        return ports

    def ended(self, name: str, pid: int, seconds: float) -> None:
        """A process that exited, with the CPU seconds its exit reported."""
        self.cpu[pid] = (name, seconds)

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self._sample_head()
        now = time.time()
        self._sample_queue(now)
        self._sample_cpu()
        self.elapsed = now - self.started
        self.machine = self._machine() - self.machine_base
        self.conn.close()
        self.engine.dispose()
        self._head_ids = [h for _, h in self.heads]

    def seen(self, entry_id: int) -> float | None:
        """When the audit entry ``entry_id`` was first seen committed (after ``stop``)."""
        import bisect

        k = bisect.bisect_left(self._head_ids, entry_id)
        return self.heads[k][0] if k < len(self.heads) else None

    def cpu_by_owner(self) -> dict[str, float]:
        """CPU seconds since the monitor started, per process (and per process's
        PostgreSQL backends)."""
        out: dict[str, float] = {}
        for pid, (owner, seconds) in self.cpu.items():
            out[owner] = out.get(owner, 0.0) + seconds - self.base.get(pid, 0.0)
        return out


def _wait_idle(url: str, timeout_s: float) -> float | None:
    """Until no appeal waits for its re-check and no lift for its delivery; returns the
    wall-clock time it was so (None: still not after ``timeout_s``)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    deadline = time.monotonic() + timeout_s
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            while time.monotonic() < deadline:
                busy = c.exec_driver_sql(
                    "SELECT EXISTS (SELECT 1 FROM appeals WHERE state = 'received') "
                    "OR EXISTS (SELECT 1 FROM outbox WHERE state = 'pending')"
                ).scalar()
                if not busy:
                    return time.time()
                time.sleep(0.5)
    finally:
        engine.dispose()
    return None


def surge(
    url: str, world: Path, home: Path, cwd: Path, recheckers: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One surge: seed, start every process, warm up, offer INTAKE_RATE appeals a second
    for INTAKE_SECONDS while sampling, drain, check."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from bench_appeals import (
        Procs,
        _free_port,
        _generator,
        _generator_cmd,
        _register_platforms,
        _seed,
        _wait_http,
    )

    n = int(args.intake_rate * args.intake_seconds)
    held = held_accounts(world)[: round(n * args.held)]
    t0 = time.perf_counter()
    persons = not args.one_account
    warm = _seed(url, world, WARM, "warm", persons=persons)
    tokens = _seed(url, world, n, "in", persons=persons, accounts=held)
    seeded_s = time.perf_counter() - t0
    engine = create_engine(url, poolclass=NullPool)
    sims = _register_platforms(engine)
    engine.dispose()
    env = {
        **os.environ,
        "FAIRBAN_DATABASE_URL": url,
        "FAIRBAN_HOME": str(home),
        "FAIRBAN_SECRET_KEY": "bench",
        "FAIRBAN_SIM_SECRET": "bench-platform",
        # the re-check runs in its own processes, as many as asked
        "FAIRBAN_RECHECK_IN_SERVER": "false",
        # most appeals are rightly granted: the breaker would pause the directive
        "FAIRBAN_BREAKER_MIN_DECIDED": "100000000",
        "PYTHONPATH": str(cwd / "src"),
    }
    env.pop("FAIRBAN_EVIDENCE_DIR", None)
    procs = Procs(env, home)
    roots: dict[str, int] = {BENCH: os.getpid()}
    monitor: Monitor | None = None
    try:
        for name, p in sims.items():
            # its account table: FAIRBAN_HOME/sim-NAME.db
            sim = procs.start(f"sim-{name}", "platform-sim", "--name", name, "--port", str(p))
            roots[f"platform-sim {name}"] = sim.pid
        for p in sims.values():
            _wait_http(f"http://127.0.0.1:{p}/health")
        roots["worker"] = procs.start(
            "worker", "worker", "--poll", "0.02", "-q", nice=args.nice
        ).pid
        evidence = str(world / "evidence")
        for k in range(recheckers):
            roots[f"recheck {k + 1}"] = procs.start(
                f"recheck-{k + 1}",
                "appeals",
                "recheck",
                "--watch",
                "--poll",
                "0.05",
                "--data",
                evidence,
                nice=args.nice,
            ).pid
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = procs.start(
            "serve", "serve", "--port", str(port), "--workers", str(args.serve_workers)
        )
        roots[f"serve ({args.serve_workers} workers)"] = server.pid
        _wait_http(f"{base}/api/v1/health")
        # warm-up: the server's connections, the engine's one run (then cached), the
        # worker's connections to the platforms; all done before the window opens
        _generator(base, warm, home, concurrency=8)
        if _wait_idle(url, timeout_s=300) is None:
            raise SystemExit("the warm-up's appeals were not re-checked and delivered in 300 s")
        monitor = Monitor(url, roots, args.sample)
        cmd, out = _generator_cmd(base, tokens, home, rate=args.intake_rate)
        generator = subprocess.Popen(cmd)
        monitor.add("load generator", generator.pid)
        # reaped here, for its CPU seconds (gone before the monitor's next look)
        _, status, usage = os.wait4(generator.pid, 0)
        generator.returncode = os.waitstatus_to_exitcode(status)
        monitor.ended("load generator", generator.pid, usage.ru_utime + usage.ru_stime)
        if generator.returncode != 0:
            raise SystemExit("the load generator failed")
        load: dict[str, Any] = json.loads(out.read_text())
        # the offered window: while the generator sends (its answers may come later)
        window = (load["t0"], load["t0"] + n / args.intake_rate)
        idle_at = _wait_idle(url, timeout_s=args.drain_timeout)
        monitor.stop()
    finally:
        if monitor is not None:
            monitor.stop()
        procs.stop()
    assert monitor is not None
    result = surge_check(url, load, window, monitor)
    result.update(
        n=n,
        held=len(held),
        seeded_s=seeded_s,
        window=window,
        idle_at=idle_at,
        monitor=monitor,
        recheckers=recheckers,
    )
    return result


def surge_check(
    url: str, load: dict[str, Any], window: tuple[float, float], monitor: Monitor
) -> dict[str, Any]:
    """Per appeal of the window (the warm-up's left out): its row, its one re-check entry,
    when that was committed, its case's lift messages and their acknowledgements; and
    the audit log's chain."""
    from sqlalchemy import text

    from fairban import audit
    from fairban.db import make_engine, session_factory

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(
                text(
                    """
                    WITH e AS (
                        SELECT (payload::json->>'appeal')::bigint AS appeal, count(*) AS n,
                               min(id) AS entry
                        FROM audit_log WHERE action LIKE 'appeal:recheck:%' GROUP BY 1),
                    k AS (
                        SELECT coalesce(person_id, id::text) AS who, count(*) AS cases
                        FROM cases GROUP BY 1),
                    l AS (
                        SELECT coalesce(c.person_id, c.id::text) AS who, count(*) AS n,
                               count(DISTINCT (o.case_id, o.platform)) AS distinct_n,
                               count(o.delivered_at) AS acked, max(o.delivered_at) AS last
                        FROM outbox o JOIN cases c ON c.id = o.case_id
                        WHERE o.kind = 'measure.lift' GROUP BY 1)
                    SELECT a.case_id, a.state, extract(epoch FROM a.filed_at),
                           extract(epoch FROM a.rechecked_at), e.n, e.entry, k.cases,
                           l.n, l.distinct_n, l.acked, extract(epoch FROM l.last)
                    FROM appeals a JOIN cases c ON c.id = a.case_id
                    JOIN k ON k.who = coalesce(c.person_id, c.id::text)
                    LEFT JOIN e ON e.appeal = a.id
                    LEFT JOIN l ON l.who = coalesce(c.person_id, c.id::text)
                    WHERE c.number LIKE 'FB-in-%'
                    """
                )
            ).all()
            dead = c.execute(text("SELECT count(*) FROM outbox WHERE state = 'dead'")).scalar_one()
        with session_factory(engine)() as session:
            report = audit.verify(session)
    finally:
        engine.dispose()
    created = load["statuses"].get("201", 0)
    outcome, recorded, acked_after, filed_to_acked, committed = [], [], [], [], []
    never = twice = granted = lift_missing = lift_extra = waiting = 0
    lost_appeals = 0
    for (
        _case,
        state,
        filed,
        rechecked,
        n_entries,
        entry,
        cases,
        lifts,
        distinct,
        acks,
        last,
    ) in rows:
        filed = float(filed)
        waiting += state == "received"
        if rechecked is not None:
            recorded.append(float(rechecked) - filed)
        seen = monitor.seen(entry) if entry is not None else None
        if seen is not None:
            committed.append(seen)
            outcome.append(seen - filed)
        never += n_entries is None
        twice += (n_entries or 0) > 1
        lost = n_entries is None
        if state == "granted":
            granted += 1
            # one lift per account of the appellant (each on its platform), acknowledged
            full = lifts == cases and distinct == cases and acks == cases
            lift_missing += (lifts or 0) < cases or (acks or 0) < (lifts or 0)
            lift_extra += (lifts or 0) > (distinct or 0)
            if full and last is not None:
                filed_to_acked.append(float(last) - filed)
                if seen is not None:
                    # from the commit as seen (at most HEAD_EVERY_S late): a batch's
                    # start (``rechecked_at``) would add its whole time
                    acked_after.append(max(0.0, float(last) - seen))
            lost = lost or not full
        lost_appeals += lost
    in_window = sum(1 for t in committed if window[0] <= t <= window[1])
    last_committed = max(committed) if committed else None
    after = None
    if last_committed is not None and last_committed > window[1]:
        late = sum(1 for t in committed if t > window[1])
        after = late / (last_committed - window[1])
    return {
        "load": load,
        "created": created,
        "rows": len(rows),
        "doubled": len(rows) - len({r[0] for r in rows}),
        "lost": max(0, created - len(rows)) + lost_appeals,
        "never": never,
        "twice": twice,
        "waiting": waiting,
        "granted": granted,
        "lift_missing": lift_missing,
        "lift_extra": lift_extra,
        "dead": dead,
        "audit_ok": report.ok,
        "audit_entries": report.entries,
        "outcome": outcome,
        "recorded": recorded,
        "acked_after": acked_after,
        "filed_to_acked": filed_to_acked,
        "rate_in_window": in_window / (window[1] - window[0]),
        "rate_after_window": after,
        "last_committed": last_committed,
    }


def _q(values: list[float], p: float, scale: float = 1.0, fmt: str = ".1f") -> str:
    return format(_percentile(values, p) * scale, fmt) if values else "-"


def print_surge(label: str, r: dict[str, Any], rate: float) -> None:
    """The surge's row of the one table."""
    load = r["load"]
    ms = load["latencies"]
    answered = sum(load["statuses"].values()) / load["wall_s"]
    others = ", ".join(
        f"{'failed' if k == '0' else k}: {v:,}"
        for k, v in sorted(load["statuses"].items())
        if k != "201"
    )
    window = r["window"]
    drain = "-"
    if r["idle_at"] is not None:
        drain = f"{max(0.0, r['idle_at'] - window[1]):.1f}"
    elif r["last_committed"] is not None:
        drain = f"timed out ({r['waiting']:,} waiting)"
    peak = max((q[2] for q in r["monitor"].queue), default=0)
    after = r["rate_after_window"]
    lost = f"{r['lost']:,}" + (f" ({r['waiting']:,} still waiting)" if r["waiting"] else "")
    print(
        f"| {label} | {r['recheckers']} | {rate:,.0f}/s x {window[1] - window[0]:.0f} s | "
        f"{answered:,.0f} (last answer at {load['wall_s']:.0f} s) | "
        f"{r['created']:,}{f' ({others})' if others else ''} | "
        f"{_q(ms, 50, 1000, '.0f')} | {_q(ms, 99, 1000, '.0f')} | "
        f"{_q(r['outcome'], 50)} | {_q(r['outcome'], 99)} | "
        f"{_q(r['acked_after'], 50, fmt='.2f')} | {_q(r['acked_after'], 99, fmt='.2f')} | "
        f"{_q(r['filed_to_acked'], 99)} | {r['rate_in_window']:,.0f} | "
        f"{f'{after:,.0f}' if after else '-'} | {peak:,} | {drain} | {lost} |"
    )
    sys.stdout.flush()


def print_surge_details(label: str, r: dict[str, Any]) -> None:
    """What the row stands on: the checks, the queue over time, the CPU by process."""
    m: Monitor = r["monitor"]
    print(f"\n#### {label}, {r['recheckers']} re-check process(es)\n")
    print(
        f"{r['n']:,} cases seeded ({r['held']:,} of accounts the engine holds) and "
        f"{WARM} warm-up appeals in {r['seeded_s']:.0f} s. Appeal rows {r['rows']:,} for "
        f"{r['created']:,} answered 201 ({r['doubled']} doubled); re-checked once: "
        f"{r['rows'] - r['never'] - r['twice']:,} (never {r['never']}, twice {r['twice']}); "
        f"{r['waiting']} still waiting; {r['granted']:,} granted, each with one lift "
        f"message per account of the appellant, acknowledged ({r['lift_missing']} "
        f"missing or unacknowledged, {r['lift_extra']} doubled, {r['dead']} dead letters); "
        "audit log "
        f"{'verifies' if r['audit_ok'] else 'BROKEN'}, {r['audit_entries']:,} entries. "
        f"Filing to outcome as `appeals.rechecked_at` records it (the batch's start): "
        f"p50 {_q(r['recorded'], 50)} s, p99 {_q(r['recorded'], 99)} s; the table's is "
        f"to its commit (seen on the audit log's head, at most {HEAD_EVERY_S} s late); "
        "outcome to acknowledgement is from that commit (so at most as much too short).\n"
    )
    print(
        "| t s | appeals filed | waiting for the re-check | re-checked | re-checked/s | "
        "lifts pending | lifts acknowledged |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    prev: tuple[float, int] | None = None
    step = -(-len(m.queue) // QUEUE_ROWS)
    shown = m.queue[::step]
    if shown[-1] is not m.queue[-1]:
        shown.append(m.queue[-1])
    for t, filed, waiting, rechecked, pending, acked in shown:
        per_s = f"{(rechecked - prev[1]) / (t - prev[0]):,.0f}" if prev and t > prev[0] else "-"
        print(
            f"| {t:.0f} | {filed:,} | {waiting:,} | {rechecked:,} | {per_s} | "
            f"{pending:,} | {acked:,} |"
        )
        prev = (t, rechecked)
    cpu = m.cpu_by_owner()
    cores = os.cpu_count() or 1
    mine = sum(cpu.values())
    print(
        f"\nCPU over the {m.elapsed:.0f} s from the window's start to the drain's end "
        f"({cores} cores: {cores * m.elapsed:.0f} CPU s):\n"
    )
    print("| process | CPU s | cores | its PostgreSQL backends, CPU s |")
    print("|---|---:|---:|---:|")
    owners = sorted({o for o in cpu if not o.endswith(": PostgreSQL")}, key=lambda o: -cpu[o])
    for owner in owners:
        pg = cpu.get(f"{owner}: PostgreSQL")
        print(
            f"| {owner} | {cpu[owner]:.1f} | {cpu[owner] / m.elapsed:.2f} | "
            f"{f'{pg:.1f}' if pg is not None else '-'} |"
        )
    print(
        f"| everything else on the machine (PostgreSQL's own processes, other users) | "
        f"{m.machine - mine:.1f} | {(m.machine - mine) / m.elapsed:.2f} | |"
    )
    rechecked = r["rows"] - r["never"]
    re_cpu = sum(v for o, v in cpu.items() if o.startswith("recheck"))
    intake = sum(v for o, v in cpu.items() if o.startswith("serve"))
    if rechecked:
        print(
            f"\nRe-check: {1000 * re_cpu / rechecked:.2f} ms CPU per appeal (its processes "
            f"and their backends); intake: {1000 * intake / max(1, r['created']):.2f} ms "
            "(the server and its backends)."
        )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("FAIRBAN_TEST_POSTGRES_URL", ""))
    parser.add_argument("--appeals", type=int, default=20_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--held", type=float, default=0.1)
    parser.add_argument(
        "--profile", type=Path, help="cProfile the first run's process (text; OUT.pstats beside it)"
    )
    parser.add_argument(
        "--baseline", help="a git revision whose re-check runs first, in the same run"
    )
    surge_args = parser.add_argument_group("the surge (with --intake-rate)")
    surge_args.add_argument(
        "--intake-rate", type=float, default=0.0, help="appeals/s offered (open loop)"
    )
    surge_args.add_argument("--intake-seconds", type=float, default=20.0)
    surge_args.add_argument(
        "--recheckers", type=int, nargs="+", default=[1], help="re-check processes (each a run)"
    )
    surge_args.add_argument("--serve-workers", type=int, default=2)
    surge_args.add_argument(
        "--one-account",
        action="store_true",
        help="one account per appellant (as the drain seeds) instead of two (qq, wechat)",
    )
    surge_args.add_argument(
        "--sample", type=float, default=5.0, help="seconds between samples of the queue and CPU"
    )
    surge_args.add_argument(
        "--drain-timeout", type=float, default=900.0, help="seconds to wait after the window"
    )
    surge_args.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the re-check processes and the worker at this nice level (the intake first)",
    )
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("give --postgres URL or set FAIRBAN_TEST_POSTGRES_URL")
    surging = args.intake_rate > 0
    if surging and args.profile:
        raise SystemExit("--profile is for the drain (without --intake-rate)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from fairban.db import normalize_url

    base_url = normalize_url(args.postgres)
    admin = create_engine(base_url, poolclass=NullPool)
    with admin.connect() as c:
        sync = c.exec_driver_sql("SHOW synchronous_commit").scalar()
        version = c.exec_driver_sql("SHOW server_version").scalar()
    if sync != "on":
        raise SystemExit(f"synchronous_commit is {sync}: the benchmark needs durable commits")
    print(
        f"PostgreSQL {version}, synchronous_commit={sync}; {os.cpu_count()} cores; "
        f"load before: {os.getloadavg()[0]:.2f}\n"
    )
    if surging:
        print(
            "| code | re-check processes | offered | answered /s | 201 (other answers) | "
            "intake p50 ms | p99 ms | filing to outcome committed p50 s | p99 s | "
            "outcome to lift acknowledged by every platform p50 s | p99 s | "
            "filing to every acknowledgement p99 s | re-checked /s in the window | "
            "after it | peak waiting | drain after the window s | lost |"
        )
        print("|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    else:
        print(
            "| code | processes | appeals | seconds | appeals/s | steady appeals/s | "
            "filing to outcome p50 s | "
            "p99 s | re-checked twice | waiting | lift messages (distinct) | audit log |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    surges: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="fairban-surge-") as tmp:
        scratch = Path(tmp)
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
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fairban.cli",
                "target",
                str(world / "directive.yaml"),
                "--data",
                str(world / "evidence"),
                "--out",
                str(world / "decisions"),
                "-q",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        codes: list[tuple[str, Path]] = []
        if args.baseline:
            tree = scratch / "baseline"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.baseline],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            codes.append((f"baseline {args.baseline}", tree))
        codes.append(("this commit", ROOT))
        try:
            for label, cwd in codes:
                for processes in args.recheckers if surging else args.processes:
                    schema = f"fairban_surge_{uuid.uuid4().hex[:10]}"
                    with admin.begin() as c:
                        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
                    url = base_url.update_query_dict(
                        {"options": f"-csearch_path={schema}"}
                    ).render_as_string(hide_password=False)
                    try:
                        # migrated by the code that runs (the baseline's may be older)
                        subprocess.run(
                            [sys.executable, "-m", "fairban.cli", "db", "upgrade"],
                            env={
                                **os.environ,
                                "FAIRBAN_DATABASE_URL": url,
                                "PYTHONPATH": str(cwd / "src"),
                            },
                            cwd=cwd,
                            check=True,
                            stdout=subprocess.DEVNULL,
                        )
                        home = scratch / f"home-{schema}"
                        home.mkdir()
                        if surging:
                            r = surge(url, world, home, cwd, processes, args)
                            print_surge(label, r, args.intake_rate)
                            surges.append((label, r))
                            continue
                        seed(url, world, args.appeals, args.held)
                        took = drain(
                            url,
                            world,
                            home,
                            processes,
                            sys.executable,
                            cwd,
                            args.appeals,
                            args.profile if label == codes[-1][0] else None,
                        )
                        r = check(url, args.appeals)
                        lat = r["latency"]
                        steady = r["steady"]
                        print(
                            f"| {label} | {processes} | {args.appeals:,} | {took:.1f} | "
                            f"{args.appeals / took:,.0f} | "
                            f"{f'{steady:,.0f}' if steady else '-'} | "
                            f"{statistics.median(lat):.1f} | "
                            f"{_percentile(lat, 99):.1f} | {r['twice']} | {r['waiting']} | "
                            f"{r['lift_messages']:,} ({r['lift_distinct']:,}) | "
                            f"{'verifies' if r['audit_ok'] else 'BROKEN'}, "
                            f"{r['audit_entries']:,} entries |"
                        )
                        sys.stdout.flush()
                    finally:
                        with admin.begin() as c:
                            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        finally:
            if args.baseline:
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(ROOT),
                        "worktree",
                        "remove",
                        "--force",
                        str(scratch / "baseline"),
                    ],
                    check=False,
                )
    for label, r in surges:
        print_surge_details(label, r)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
