"""The reviewer console's reads at surge: the queue, its groups and the reviewers needed.

    uv run python benchmarks/bench_review_groups.py [--postgres URL] [--queued 56000]
        [--decided 2000] [--repeat 3]

URL defaults to $FAIRBAN_TEST_POSTGRES_URL; the run uses a new schema of that database,
dropped afterwards. QUEUED appeals (70% of them of persons with two accounts, a third of
all on a compound's phones, three kinds of grounds) and DECIDED person decisions of the
last 8 hours are written straight to the database; then, REPEAT times, the best of:
``review.queue.queue`` (every queued appeal with its case), ``review.groups.groups``
over it, ``review.staffing.staffing`` (the rate from the store and the arithmetic), and
a step of a group walk (``review.groups.near``: the largest group read around one of
its appeals, as ``/console/groups/ID`` does).
One line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, insert
from sqlalchemy.pool import NullPool

from fairban.appeals.models import Appeal
from fairban.cases.models import Case
from fairban.db import make_engine, normalize_url, session_factory, upgrade
from fairban.directives.models import DirectiveRecord
from fairban.review.groups import groups, near
from fairban.review.queue import queue
from fairban.review.staffing import staffing

AREAS = ("Laukkai", "Muse", "Mong La", "Pangkham", "Tachileik")
GROUNDS = (["never_been_there"], ["victim"], ["visited", "other"])


def _reasons(rng: random.Random, phones: bool) -> str:
    area = rng.choice(AREAS)
    out: list[dict[str, Any]] = [
        {
            "code": "PRESENCE_SUSTAINED",
            "text": f"seen on 30 nights in {area} (GPS, Wi-Fi) between 2019-08-25 and 2019-10-13",
            "weight": 2.0,
            "data": {"area": area, "nights_sure": 30},
        }
    ]
    if phones:
        out.insert(
            0,
            {
                "code": "DEVICE_FARM",
                "text": "used the same phones as 4 accounts that stay in the areas",
                "weight": 3.0,
                "data": {"device_peers": rng.randint(1, 6)},
            },
        )
    return json.dumps(out)


def seed(url: str, queued: int, decided: int, now: datetime) -> None:
    rng = random.Random(7)
    engine = make_engine(url)
    upgrade(engine)
    try:
        with session_factory(engine)() as session, session.begin():
            session.add(
                DirectiveRecord(
                    id="bench-2019",
                    title="bench",
                    issuer="bench",
                    legal_basis="bench",
                    current_version=1,
                    paused=False,
                    created_at=now,
                )
            )
            session.flush()
            cases, total = [], queued + decided
            for i in range(total):
                person = f"pid-{i // 2}" if i < 0.7 * total else None
                cases.append(
                    {
                        "id": i + 1,
                        "number": f"FB-B-{i:08d}",
                        "directive_id": "bench-2019",
                        "directive_version": 1,
                        "account_id": f"wechat:b{i}",
                        "platform": "wechat",
                        "person_id": person,
                        "account_kind": "personal",
                        "state": "appealed",
                        "measure": "suspend",
                        "risk": 0.9,
                        "reasons": _reasons(rng, rng.random() < 1 / 3),
                        "evidence": "[]",
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
            session.execute(insert(Case), cases)
            appeals = []
            for i in range(total):
                filed = now - timedelta(hours=rng.uniform(0, 50))
                done = i >= queued
                appeals.append(
                    {
                        "case_id": i + 1,
                        "directive_id": "bench-2019",
                        "submit_key": uuid.uuid4().hex,
                        "grounds": json.dumps(GROUNDS[(i // 2) % 3]),
                        "statement": "",
                        "lang": "zh-CN",
                        "state": "upheld" if done else "queued",
                        "filed_at": filed,
                        "answer_by": filed + timedelta(hours=48),
                        "decided_at": now - timedelta(minutes=rng.uniform(0, 480))
                        if done
                        else None,
                        "decided_by": f"user:r{rng.randint(1, 40)}" if done else None,
                    }
                )
            session.execute(insert(Appeal), appeals)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("FAIRBAN_TEST_POSTGRES_URL", ""))
    parser.add_argument("--queued", type=int, default=56000)
    parser.add_argument("--decided", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.postgres:
        sys.exit("bench_review_groups: give --postgres URL or set FAIRBAN_TEST_POSTGRES_URL")
    schema = f"fairban_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(args.postgres), poolclass=NullPool)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = (
        normalize_url(args.postgres)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    now = datetime.now(UTC)
    try:
        started = time.perf_counter()
        seed(url, args.queued, args.decided, now)
        seeded_s = time.perf_counter() - started
        engine = make_engine(url)
        best: dict[str, float] = {}
        result: dict[str, Any] = {}
        for _ in range(args.repeat):
            with session_factory(engine)() as session:
                t0 = time.perf_counter()
                items = queue(session, now)
                t1 = time.perf_counter()
                found = groups(items)
                t2 = time.perf_counter()
                staff = staffing(session, [i.appeal.answer_by for i in items], now)
                t3 = time.perf_counter()
                # a step of a group walk: the largest group, read around its first appeal
                big = max(found, key=lambda g: g.size)
                session.expunge_all()
                t4 = time.perf_counter()
                walked = near(session, session.get(Appeal, big.items[0].appeal.id), big.id, now)
                t5 = time.perf_counter()
                assert walked is not None
                assert walked.size == big.size
            timings = (
                ("queue_s", t1 - t0),
                ("groups_s", t2 - t1),
                ("staffing_s", t3 - t2),
                ("walk_step_s", t5 - t4),
            )
            for name, s in timings:
                best[name] = min(best.get(name, s), s)
            result = {
                "groups": len(found),
                "grouped_appeals": sum(g.size for g in found),
                "largest_group": max((g.size for g in found), default=0),
                "needed": staff.needed,
                "rate": round(staff.rate.per_reviewer_hour, 2),
                "active": staff.active,
            }
        engine.dispose()
        out = {"queued": args.queued, "decided": args.decided, "seed_s": round(seeded_s, 1)}
        out |= {k: round(v, 3) for k, v in best.items()} | result
        print(json.dumps(out))
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
