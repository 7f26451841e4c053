"""The reviewer console's reads at surge: the queue, its groups and the reviewers needed.

    uv run python benchmarks/bench_review_groups.py [--postgres URL] [--queued 56000]
        [--decided 2000] [--repeat 3] [--explain]

URL defaults to $FAIRBAN_TEST_POSTGRES_URL; the run uses a new schema of that database,
dropped afterwards. QUEUED appeals (70% of them of persons with two accounts, a third of
all on a compound's phones, three kinds of grounds) and DECIDED person decisions of the
last 8 hours are written straight to the database; then, REPEAT times, the best of:
``review.queue.queue`` (every queued appeal with its case), ``review.groups.groups``
over it, ``review.staffing.staffing`` (the rate from the store and the arithmetic), and
a step of a group walk (the largest group: ``review.groups.near`` as the console did,
around one of its appeals, and ``review.groups.members`` by its stored key, as it does
now). Side by side, the queue page's reads today: its first load
(``review.queue.page``, ``review.groups.listed``, ``review.staffing.queue_staffing``)
and its next page (``page`` after the first page's cursor). The seed stamps each queued
appeal's group keys as the re-check does (``appeals.grouping.stamp``'s code) and its
static priority as the flush does (``appeals.ordering.static_priority``).
One line of JSON; with ``--explain``, PostgreSQL's plan (EXPLAIN ANALYZE) of every
statement behind the page's first load and next page, on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert
from sqlalchemy.pool import NullPool

from fairban.appeals.grouping import compound_key, person_key
from fairban.appeals.models import Appeal
from fairban.appeals.ordering import static_priority
from fairban.cases.models import Case
from fairban.db import make_engine, normalize_url, session_factory, upgrade
from fairban.directives.models import DirectiveRecord
from fairban.review.groups import groups, listed, members, near
from fairban.review.queue import page, queue
from fairban.review.staffing import queue_staffing, staffing

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
            # every case is in force: a person's accounts held are their cases
            held = Counter(c["person_id"] for c in cases if c["person_id"])
            appeals = []
            for i in range(total):
                filed = now - timedelta(hours=rng.uniform(0, 50))
                done = i >= queued
                grounds = json.dumps(GROUNDS[(i // 2) % 3])
                # the keys the re-check stamps when the appeal enters the person queue
                row = Case(**{k: cases[i][k] for k in ("directive_id", "directive_version")})
                row.person_id, row.reasons = cases[i]["person_id"], cases[i]["reasons"]
                probe = Appeal(grounds=grounds)
                person, compound = person_key(probe, row), compound_key(probe, row)
                n = held[row.person_id] if row.person_id else 1
                appeals.append(
                    {
                        # and the static priority the flush stamps (migration 0013)
                        "queue_priority": static_priority("suspend", "personal", grounds, n),
                        "person_group": person.id if person else None,
                        "compound_group": compound[0].id if compound else None,
                        "case_id": i + 1,
                        "directive_id": "bench-2019",
                        "submit_key": uuid.uuid4().hex,
                        "grounds": grounds,
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
        # the statistics autovacuum would have gathered on a table grown by a surge
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("ANALYZE appeals")
            c.exec_driver_sql("ANALYZE cases")
    finally:
        engine.dispose()


def explain(engine: Engine, now: datetime) -> None:
    """EXPLAIN ANALYZE every statement the page's first load and next page run."""
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, sql: str, params: Any, *_rest: Any) -> None:
        statements.append((sql, params))

    event.listen(engine, "before_cursor_execute", keep)
    with session_factory(engine)() as session:
        first = page(session, now)
        listed(session, now)
        queue_staffing(session, now)
        page(session, now, after=first.next_after)
    event.remove(engine, "before_cursor_execute", keep)
    with engine.connect() as connection:
        for sql, params in statements:
            plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params)
            print(sql, "\n", "\n".join(r[0] for r in plan), "\n", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("FAIRBAN_TEST_POSTGRES_URL", ""))
    parser.add_argument("--queued", type=int, default=56000)
    parser.add_argument("--decided", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="the page's plans, on stderr")
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
            with session_factory(engine)() as session:
                # the queue page today: its first load, then its next page
                p0 = time.perf_counter()
                first = page(session, now)
                summaries, group_count = listed(session, now)
                queue_staffing(session, now)
                p1 = time.perf_counter()
                nxt = page(session, now, after=first.next_after)
                p2 = time.perf_counter()
                session.expunge_all()
                p3 = time.perf_counter()
                by_key = members(session, big.id, now)
                p4 = time.perf_counter()
                assert by_key is not None
                assert [i.appeal.id for i in by_key.items] == [i.appeal.id for i in big.items]
                assert group_count == len(found)
                assert [g.id for g in summaries] == [g.id for g in found[: len(summaries)]]
                assert len(nxt.items) == len(first.items) == 50
            timings = (
                ("queue_s", t1 - t0),
                ("groups_s", t2 - t1),
                ("staffing_s", t3 - t2),
                ("walk_step_s", t5 - t4),
                ("page_first_s", p1 - p0),
                ("page_next_s", p2 - p1),
                ("walk_step_by_key_s", p4 - p3),
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
        if args.explain:
            explain(engine, now)
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
