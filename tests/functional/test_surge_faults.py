"""The surge's fault tests, with real processes and a real PostgreSQL: the re-check
process, the delivery worker or the server is killed (SIGKILL) in the middle of its work
and started again, or the database crashes and restarts (a throwaway cluster of the
test's own: tests/support/pgcluster.py); every appeal answered 201 is still re-checked
exactly once, and each lift reaches every platform once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text

from fairban import audit
from fairban.appeals.models import Appeal, AppealState
from fairban.cases.models import Case
from fairban.db import make_engine, session_factory
from fairban.platforms.models import OutboxMessage
from fairban.platforms.webhooks import MessageKind
from tests.support import surge
from tests.support.appeal_world import F1, World, seed, settings_for
from tests.support.db import kind_of
from tests.support.pgcluster import PgCluster
from tests.support.platforms import Sim, cli_env, register

pytestmark = pytest.mark.slow

N = 60  # appeals of accounts the engine no longer holds: each lifted on its platform


def _file_appeals(url: str, directive_id: str) -> None:
    """N cases under measure on qq and wechat, each appealed (as the intake writes it),
    and F1's appeal, whom the evidence still holds."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        with session_factory(engine)() as session, session.begin():
            f1 = session.scalars(select(Case).where(Case.account_id == F1)).one()
            template = {
                c: getattr(f1, c)
                for c in ("directive_version", "risk", "reasons", "evidence", "evidence_hash")
            }
            session.execute(
                insert(Case),
                [
                    {
                        **template,
                        "number": f"FB-F-{i:06d}",
                        "directive_id": directive_id,
                        "account_id": f"{('qq', 'wechat')[i % 2]}:surge-{i}",
                        "platform": ("qq", "wechat")[i % 2],
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
                    for i in range(N)
                ],
            )
            ids = [f1.id, *session.scalars(select(Case.id).where(Case.number.like("FB-F-%")))]
            session.execute(
                insert(Appeal),
                [
                    {
                        "case_id": case_id,
                        "directive_id": directive_id,
                        "submit_key": f"fault-{case_id}",
                        "grounds": '["never_been_there"]',
                        "statement": "",
                        "lang": "zh-CN",
                        "state": AppealState.RECEIVED,
                        "filed_at": now,
                        "answer_by": now + timedelta(hours=48),
                    }
                    for case_id in ids
                ],
            )
    finally:
        engine.dispose()


def _count(url: str, sql: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _wait(what: Callable[[], bool], timeout_s: float, why: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


def test_a_killed_recheck_loses_nothing_and_does_nothing_twice(
    new_db_url: str, tmp_path: Path, appeal_world: World, sims: Callable[..., Sim]
) -> None:
    if kind_of(new_db_url) != "postgresql":
        pytest.skip("the surge's fault test runs on PostgreSQL")
    home = tmp_path / "home"
    settings = settings_for(home, new_db_url, appeal_world)
    seed(new_db_url, appeal_world, settings)
    platforms = {name: sims(name) for name in ("qq", "wechat")}
    engine = make_engine(new_db_url)
    for name, sim in platforms.items():
        register(engine, name, sim.webhook)
    engine.dispose()
    _file_appeals(new_db_url, appeal_world.directive.id)
    env = cli_env(home, new_db_url) | {"FAIRBAN_BREAKER_MIN_DECIDED": "100000000"}
    recheck = [
        sys.executable, "-m", "fairban.cli", "appeals", "recheck", "--watch",
        "--data", str(appeal_world.evidence), "--batch", "4", "--poll", "0.05",
    ]  # fmt: skip
    waiting = "SELECT count(*) FROM appeals WHERE state = 'received'"

    # killed as soon as its first batches have committed: the next one is under way
    first = subprocess.Popen(recheck, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _count(new_db_url, waiting) < N + 1, 120, "no batch committed")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    left = _count(new_db_url, waiting)
    assert 0 < left < N + 1, "the kill came after the whole queue: nothing was in flight"

    second = subprocess.Popen(recheck, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _count(new_db_url, waiting) == 0, 180, "appeals left after the restart")
    finally:
        second.terminate()
        second.wait(timeout=30)

    # the worker delivers every lift; killed once too, then run to the end
    # (a message the killed worker had leased is sent again when its lease ends: 3 s)
    worker = [sys.executable, "-m", "fairban.cli", "worker", "--poll", "0.02", "-q"]
    worker += ["--batch", "10", "--lease", "3", "--timeout", "2"]
    lifts_of_surge = "FROM outbox WHERE kind = 'measure.lift' AND platform IN ('qq', 'wechat')"
    pending = f"SELECT count(*) {lifts_of_surge} AND delivered_at IS NULL"
    delivery = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL)
    try:
        total = _count(new_db_url, f"SELECT count(*) {lifts_of_surge}")
        _wait(lambda: _count(new_db_url, pending) < total, 120, "nothing delivered")
    finally:
        delivery.send_signal(signal.SIGKILL)
        delivery.wait(timeout=30)
    delivery = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL)
    try:
        _wait(lambda: _count(new_db_url, pending) == 0, 120, "messages left undelivered")
    finally:
        delivery.terminate()
        delivery.wait(timeout=30)

    engine = make_engine(new_db_url)
    try:
        with session_factory(engine)() as session:
            states = dict(
                session.execute(select(Case.account_id, Appeal.state).join(Appeal.case)).all()
            )
            entries = session.scalars(
                select(audit.AuditEntry.payload).where(
                    audit.AuditEntry.action.like("appeal:recheck:%")
                )
            ).all()
            lifts = session.execute(
                select(OutboxMessage.case_id, OutboxMessage.platform, OutboxMessage.idempotency_key)
                .where(OutboxMessage.kind == MessageKind.LIFT)
            ).all()  # fmt: skip
            surge_cases = session.scalar(
                select(func.count()).select_from(Case).where(Case.number.like("FB-F-%"))
            )
            report = audit.verify(session)
    finally:
        engine.dispose()
    assert report.ok, report.problems
    assert states[F1] == AppealState.QUEUED  # the evidence still holds F1
    assert {s for a, s in states.items() if a != F1} == {AppealState.GRANTED}
    appealed = sorted(json.loads(p)["appeal"] for p in entries)
    assert len(appealed) == N + 1 == len(set(appealed))  # each re-checked exactly once
    assert surge_cases == N
    assert len(lifts) == N == len({(c, p) for c, p, _ in lifts})  # one lift a case
    for name, sim in platforms.items():
        keys = {k for _, p, k in lifts if p == name}
        applied = sim.deliveries(keys)
        assert {row[1] for row in applied} == keys  # every lift reached its platform
        assert len(applied) == len(keys)  # applied once each (a resend is a duplicate)


# --- the server killed, the database crashed: appeals filed over HTTP meanwhile ------

SURGE = 161  # appeals filed over HTTP, one per case: a warm-up, then two halves
RATE = 20.0  # a second
HALF = range(1, 81), range(81, SURGE)


def _surge(
    url: str, tmp_path: Path, world: World, sims: Callable[..., Sim]
) -> tuple[surge.Surge, surge.Filer, dict[str, Sim]]:
    platforms = {name: sims(name) for name in ("qq", "wechat")}
    home = tmp_path / "home"
    tokens = surge.seed_surge(url, world, home, SURGE, platforms)
    running = surge.start_surge(url, world, home, tmp_path)
    filer = surge.Filer(running.base, tokens, RATE)
    try:
        filer.warm_up(url)
    except BaseException:
        filer.close()
        running.stop()
        raise
    return running, filer, platforms


def _in_the_middle(running: surge.Surge, filer: surge.Filer) -> None:
    """Until some appeals of the first half were answered 201 and some re-checked."""
    granted = "SELECT count(*) FROM appeals WHERE state = 'granted'"
    surge.wait_until(
        lambda: filer.count(201) >= 20 and surge.count(running.url, granted) >= 10,
        "the first re-checks",
    )
    assert len(filer.answers) < len(HALF[0]), "the first half was over before the fault"


def _finish(running: surge.Surge, filer: surge.Filer, platforms: dict[str, Sim]) -> dict[str, int]:
    """The second half filed, then again (same submit key) every appeal that got no
    answer; wait for every re-check and lift; every process must still be running
    (none died of the fault); then the checks."""
    try:
        filer.start(HALF[1]).join()
        filer.retry_failed()
        surge.wait_done(running)
        dead = [p.name for p in running.procs if not p.alive()]
        assert not dead, f"died: {dead}\n{running.logs()}"
    finally:
        filer.close()
        running.stop()
    return surge.check_exactly_once(running.url, filer.answers, platforms)


def test_a_killed_server_loses_no_answered_appeal(
    new_db_url: str, tmp_path: Path, appeal_world: World, sims: Callable[..., Sim]
) -> None:
    """SIGKILL of `fairban serve` (its intake and its re-check loop) while appeals
    come in; it is started again and the filing goes on. Every 201 is re-checked once
    and lifted on its platform once; requests without an answer, filed again with the
    same submit key, name one appeal each."""
    if kind_of(new_db_url) != "postgresql":
        pytest.skip("the surge's fault test runs on PostgreSQL")
    running, filer, platforms = _surge(new_db_url, tmp_path, appeal_world, sims)
    try:
        filer.start(HALF[0])
        _in_the_middle(running, filer)
        running.server.kill()
        filer.join()  # the rest of the first half finds nobody listening
        running.start_server()
    except BaseException:
        filer.close()
        running.stop()
        raise
    counted = _finish(running, filer, platforms)
    unanswered = [a for a in filer.answers if a.status is None]
    assert unanswered, "no request failed: the kill came when nothing was in flight"
    assert counted["stored"] == SURGE  # each failed one was filed again


def test_a_database_crash_loses_no_answered_appeal(
    pg_cluster: PgCluster, tmp_path: Path, appeal_world: World, sims: Callable[..., Sim]
) -> None:
    """PostgreSQL crashes (``pg_ctl restart -m immediate``: every backend killed, WAL
    replayed) while appeals come in, the server's and a separate process's re-checks
    run and the worker delivers. Server, re-check and worker reconnect (none exits);
    every 201 is re-checked once and lifted on its platform once."""
    running, filer, platforms = _surge(pg_cluster.url, tmp_path, appeal_world, sims)
    try:
        filer.start(HALF[0])
        _in_the_middle(running, filer)
        pg_cluster.restart("immediate")
        filer.join()
    except BaseException:
        filer.close()
        running.stop()
        raise
    counted = _finish(running, filer, platforms)
    assert counted["stored"] == SURGE
    # while the database was away the intake said so (503: file again), never 500
    odd = [a for a in filer.answers if a.status not in (200, 201, 503, None)]
    assert not odd, f"{odd}\n{running.server.output()[-6000:]}"


def test_the_watching_recheck_waits_out_a_database_restart(
    pg_cluster: PgCluster, tmp_path: Path, appeal_world: World
) -> None:
    """`fairban appeals recheck --watch` loses its database in the middle of its batches
    (stopped for seconds): it stays up, says so in one line at a time (no traceback),
    and once the database is back re-checks every appeal, each once."""
    home = tmp_path / "home"
    seed(pg_cluster.url, appeal_world, settings_for(home, pg_cluster.url, appeal_world))
    _file_appeals(pg_cluster.url, appeal_world.directive.id)
    args = ["appeals", "recheck", "--watch", "--data", str(appeal_world.evidence)]
    args += ["--batch", "4", "--poll", "0.05"]
    recheck = surge.Proc("recheck", args, cli_env(home, pg_cluster.url), tmp_path / "recheck.log")
    recheck.start()
    try:
        _wait(lambda: surge.count(pg_cluster.url, surge.WAITING) < N + 1, 120, "no batch done")
        pg_cluster.stop("immediate")
        time.sleep(2.0)
        assert recheck.alive(), recheck.output()
        pg_cluster.start()
        _wait(lambda: surge.count(pg_cluster.url, surge.WAITING) == 0, 120, "not re-checked")
        assert recheck.alive(), recheck.output()
    finally:
        recheck.stop()
    log = recheck.output()
    assert "re-check: database unavailable (" in log
    assert "Traceback" not in log, log
    rechecked = "SELECT count(DISTINCT payload::json->>'appeal'), count(*) FROM audit_log"
    rechecked += " WHERE action LIKE 'appeal:recheck:%'"
    engine = make_engine(pg_cluster.url)
    try:
        with engine.connect() as c:
            assert tuple(c.execute(text(rechecked)).one()) == (N + 1, N + 1)
    finally:
        engine.dispose()


def test_the_server_answers_503_while_its_database_is_away(
    pg_cluster: PgCluster, tmp_path: Path, appeal_world: World
) -> None:
    """The database stopped under a running server: the intake's own path, an API route
    and a page (each on its own pool) answer 503 with ``Retry-After`` (the page in the
    person's language), never a 500; once it is back, the same appeal is filed once."""
    from contextlib import contextmanager

    from tests.support.appeal_world import P4, api_sign_in, make_portal

    with contextmanager(make_portal)(pg_cluster.url, tmp_path, appeal_world) as portal:
        c = portal.client
        auth = api_sign_in(portal, P4)
        number = portal.seeded.numbers[P4]
        body = {"grounds": ["other"], "submit_key": "away-000001"}
        pg_cluster.stop("immediate")
        try:
            answers = {
                "intake": c.post("/api/v1/case/appeals", headers=auth, json=body),
                "route": c.get("/api/v1/case", headers=auth),
                "page": c.get(f"/c/{number}", follow_redirects=False),
            }
        finally:
            pg_cluster.start()
        for where, r in answers.items():
            assert r.status_code == 503, (where, r.status_code, r.text[:300])
            assert r.headers["retry-after"] == "1", where
        assert answers["intake"].json() == {"detail": "database unavailable, try again"}
        assert answers["route"].json() == {"detail": "database unavailable, try again"}
        assert "服务繁忙，请稍后再试。" in answers["page"].text
        # back: the retry with the same key files the appeal, once
        again = c.post("/api/v1/case/appeals", headers=auth, json=body)
        assert again.status_code == 201, again.text
        assert c.post("/api/v1/case/appeals", headers=auth, json=body).status_code == 200
        assert c.get("/api/v1/case", headers=auth).status_code == 200
