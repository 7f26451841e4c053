"""The surge: appeals waiting for the automatic re-check, drained by ``fairban appeals
recheck --watch`` processes, against PostgreSQL with durable commits.

    uv run --group bench python benchmarks/bench_surge.py [--postgres URL]
        [--appeals 20000] [--processes 1 2] [--held 0.1] [--profile OUT.txt]

URL defaults to $FAIRBAN_TEST_POSTGRES_URL; each run uses a new schema of that database,
dropped afterwards. A small simulated world gives the evidence (``fairban simulate
--accounts 300``) so the re-check really judges: APPEALS synthetic cases under its
2019 directive, each with an appeal filed (written straight to the table, as the intake
writes them); a share HELD of them are cases of accounts the engine still holds (they
are queued for a person), the rest are of accounts it no longer links to the areas
(granted: lifted with notices and webhooks to two registered platforms).

For each count of re-check processes, the appeals are drained and the script reports
the time, appeals/s (from the processes' start: their imports and the engine's one run
included), the steady appeals/s (from the second batch's start to the last's: the
re-check itself), filing-to-outcome latency, and that every appeal was re-checked
exactly once (one ``appeal:recheck:*`` audit entry each, one ``measure.lift`` message
per platform and lifted case) and that the audit log verifies. ``--baseline`` also runs
the code of another git revision (a worktree) in the same run, side by side.
``--profile OUT.txt`` runs the first process under cProfile (the standard library's;
OUT.pstats beside it), for the last code given.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("give --postgres URL or set FAIRBAN_TEST_POSTGRES_URL")
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
    print(
        "| code | processes | appeals | seconds | appeals/s | steady appeals/s | "
        "filing to outcome p50 s | "
        "p99 s | re-checked twice | waiting | lift messages (distinct) | audit log |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
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
                for processes in args.processes:
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
                        seed(url, world, args.appeals, args.held)
                        home = scratch / f"home-{schema}"
                        home.mkdir()
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
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
