"""Every number of the transparency report, checked against the case store: by queries
of the tables written here (not the report's code), and against what the scenario of
``tests/support/transparency.py`` did."""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.audit.checkpoint import open_note
from fairban.audit.heads import signing_key
from fairban.clock import BEIJING
from fairban.config import Settings
from fairban.contract import Directive
from fairban.errors import InputError
from fairban.reports.numbers import Period, Report, compute, median_p90
from tests.support.cases import Decide
from tests.support.transparency import END, START, Store, build

IN_FORCE = "('active', 'appealed', 'upheld', 'downgraded')"
# a measure begins where a case's event puts a restrict or suspend in force that the
# event before did not already hold (imposed, re-imposed, changed)
MEASURE_STARTS = f"""
SELECT c.platform, c.person_id, c.account_id, c.reasons, e.measure, e.actor_kind, e.at
FROM (
  SELECT case_id, at, measure, actor_kind, to_state,
         LAG(to_state) OVER (PARTITION BY case_id ORDER BY id) AS prev_state,
         LAG(measure) OVER (PARTITION BY case_id ORDER BY id) AS prev_measure
  FROM case_events
) e JOIN cases c ON c.id = e.case_id
WHERE e.to_state IN {IN_FORCE} AND e.measure IN ('restrict', 'suspend')
  AND NOT (e.prev_state IS NOT NULL AND e.prev_state IN {IN_FORCE}
           AND e.prev_measure = e.measure)
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", public_url="https://fb.example")


@pytest.fixture
def store(
    session: Session, directive: Directive, decide: Decide, blobs: BlobStore, tmp_path: Path
) -> Store:
    return build(session, directive, decide, blobs, tmp_path)


def _bounds(period: Period) -> tuple[datetime, datetime]:
    return period.since, period.until


def _rows(session: Session, sql: str, **params: Any) -> list[Any]:
    return list(session.execute(text(sql), params))


def _t(value: datetime | str | None) -> datetime | None:
    """A timestamp as raw SQL returns it (SQLite: text of naive UTC), aware."""
    if value is None:
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _in(at: datetime | str | None, period: Period) -> bool:
    t = _t(at)
    return t is not None and period.since <= t < period.until


def _report(session: Session, settings: Settings, period: Period) -> Report:
    return compute(session, settings, period, now=datetime.now(UTC))


def test_the_period_is_beijing_days_both_ends_included() -> None:
    period = Period(START, END)
    assert period.since == datetime(2019, 10, 14, 16, 0, tzinfo=UTC)
    assert period.until == datetime(2019, 10, 16, 16, 0, tzinfo=UTC)
    assert period.since.astimezone(BEIJING).hour == 0
    with pytest.raises(InputError, match="--to: 2019-10-15 is before --from 2019-10-16"):
        Period(END, START)


def test_median_and_p90() -> None:
    assert median_p90([]) == (None, None)
    assert median_p90([3.0]) == (3.0, 3.0)
    assert median_p90([28.0, 2.0, 9.0, 4.0]) == (6.5, 28.0)
    values = [float(v) for v in range(1, 101)]
    assert median_p90(values) == (50.5, 90.0)


def test_measures_match_the_case_events(session: Session, store: Store, settings: Settings) -> None:
    period = Period(START, END)
    report = _report(session, settings, period)
    starts = [r for r in _rows(session, MEASURE_STARTS) if _in(r.at, period)]
    by_platform: dict[str, Counter[str]] = {}
    grounds: Counter[str] = Counter()
    for r in starts:
        by_platform.setdefault(r.platform, Counter())[r.measure] += 1
        grounds.update(x["code"] for x in json.loads(r.reasons) if x["weight"] > 0)
    m = report.measures
    assert m.total == len(starts) == 8  # 7 imposed, 1 downgrade of wechat:f1 to restrict
    assert {p: dict(c) for p, c in by_platform.items()} == {
        p: {k: v for k, v in by.items() if v} for p, by in m.by_platform.items()
    }
    assert m.by_platform == {
        "alipay": {"restrict": 2, "suspend": 0},
        "qq": {"restrict": 1, "suspend": 1},
        "wechat": {"restrict": 1, "suspend": 3},
    }
    assert m.by_measure == {"restrict": 4, "suspend": 4}
    assert m.automated == sum(r.actor_kind == "automatic" for r in starts) == 7
    assert sum(r.decisions for r in m.rows) == m.total
    assert [
        (r.platform, r.measure, r.automated, r.decisions) for r in m.rows if not r.automated
    ] == [("wechat", "restrict", False, 1)]
    assert m.by_ground == dict(grounds)
    assert m.people == len({r.person_id or r.account_id for r in starts}) == 4
    # wechat:low lifted by the engine, alipay:mule by a reviewer, wechat:f1's suspend replaced
    assert m.by_ending == {"in_force": 5, "lifted": 2, "replaced": 1}
    # the late directive's measures (three days on) are another period's
    later = _report(session, settings, Period(START, START + timedelta(days=5)))
    assert later.measures.total == 10
    assert [o.directive for o in later.orders] == ["test-2019-late", "test-2019-mm"]


def test_appeals_match_the_appeals_table(
    session: Session, store: Store, settings: Settings
) -> None:
    period = Period(START, END)
    a = _report(session, settings, period).appeals
    rows = _rows(
        session, "SELECT state, grounds, filed_at, decided_at, decided_by, answer_by FROM appeals"
    )
    filed = [r for r in rows if _in(r.filed_at, period)]
    decided = [r for r in rows if r.decided_at is not None and _in(r.decided_at, period)]
    assert a.received == len(filed) == 5
    assert a.received_by_ground == {"never_been_there": 5, "visited": 5}
    assert a.decided == len(decided) == 4
    assert (
        a.by_outcome
        == dict(Counter(r.state for r in decided))
        == {
            "granted": 2,
            "downgraded": 1,
            "upheld": 1,
        }
    )
    assert a.by_decider == {
        "automatic": {"granted": 1, "downgraded": 0, "upheld": 0},
        "person": {"granted": 1, "downgraded": 1, "upheld": 1},
    }
    assert sum(r.decided_by == "fairban:recheck" for r in decided) == 1
    assert a.reversed == 3
    assert a.reversal_rate == 0.75
    hours = sorted((_t(r.decided_at) - _t(r.filed_at)).total_seconds() / 3600 for r in decided)
    assert hours == [2.0, 4.0, 9.0, 28.0]
    assert a.median_hours == (hours[1] + hours[2]) / 2 == 6.5
    assert a.p90_hours == hours[math.ceil(0.9 * len(hours)) - 1] == 28.0
    assert a.within_deadline == sum(_t(r.decided_at) <= _t(r.answer_by) for r in decided) == 4
    assert a.open_at_end == 1  # wechat:solo; wechat:late's was filed after the period
    assert a.overdue_at_end == 0  # its answer is due on 2019-10-17


def test_a_shorter_period_leaves_the_second_day_out(
    session: Session, store: Store, settings: Settings
) -> None:
    report = _report(session, settings, Period(START, START))
    assert report.appeals.decided == 3  # qq:low was upheld on the 16th
    assert report.appeals.open_at_end == 2
    assert report.breaker == []  # the breaker tripped on the 16th
    assert report.measures.total == 8


def test_the_breaker_trip_and_the_operators_pauses(
    session: Session, store: Store, settings: Settings
) -> None:
    report = _report(session, settings, Period(START, END))
    alerts = _rows(session, "SELECT directive_id, created_at, message FROM alerts")
    assert len(alerts) == 1
    (trip,) = report.breaker
    assert (trip.directive, trip.granted, trip.decided) == ("test-2019-mm", 2, 4)
    assert trip.at == "2019-10-16T11:00:00Z"
    assert trip.message == alerts[0].message
    # pauses are timed by their audit entries, written now: only a period of today has them
    assert report.pauses == []
    today = datetime.now(BEIJING).date()
    pauses = _report(session, settings, Period(today, today)).pauses
    assert [(p.directive, p.actor, p.reason) for p in pauses] == [
        ("test-2019-late", "operator:li", "checking Tachileik")
    ]


def test_orders_deliveries_and_statements(
    session: Session, store: Store, settings: Settings
) -> None:
    period = Period(START, END)
    report = _report(session, settings, period)
    (order,) = report.orders
    assert (order.directive, order.measures, order.versions, order.paused) == (
        "test-2019-mm",
        8,
        1,
        True,
    )
    assert order.issuer == "Test office against telecom fraud"
    notices = [
        r
        for r in _rows(session, "SELECT measure, locale, created_at FROM notices")
        if _in(r.created_at, period)
    ]
    assert report.deliveries.notices_by_kind == dict(Counter(r.measure for r in notices))
    # restrict: the 8 of the measures, and the uphold of one told in both languages
    assert report.deliveries.notices_by_kind == {"lift": 4, "restrict": 10, "suspend": 8}
    assert report.deliveries.notices_by_locale == {"en": 11, "zh-CN": 11}
    lifts = [
        r
        for r in _rows(
            session, "SELECT created_at, delivered_at FROM outbox WHERE kind = 'measure.lift'"
        )
        if _in(r.created_at, period)
    ]
    assert report.deliveries.lifts_sent == len(lifts) == 2
    assert report.deliveries.lifts_delivered == 0
    # 2019 is before the DSA database's first application date: every statement refused
    assert report.statements.by_platform == {}
    assert report.statements.refused == report.measures.total


def test_the_audit_head(session: Session, store: Store, settings: Settings) -> None:
    today = datetime.now(BEIJING).date()
    report = _report(session, settings, Period(today - timedelta(days=1), today))
    ids = [r.id for r in _rows(session, "SELECT id FROM audit_log ORDER BY id")]
    h = report.audit
    assert (h.entries_in_period, h.first_id, h.last_id) == (len(ids), ids[0], ids[-1])
    assert h.checkpoint_size == len(ids)
    key = signing_key(settings).verifier
    assert h.verifier_key == str(key)
    head = open_note(h.checkpoint, key)  # signed with the installation's key
    # the whole log is in the period, so its state at the end is the checkpoint's root
    assert h.root_at_end == base64.b64encode(head.root).decode("ascii")
    assert (settings.home / "audit" / "checkpoint").read_text(encoding="utf-8") == h.checkpoint
    old = _report(session, settings, Period(START, END)).audit
    assert (old.entries_in_period, old.first_id, old.root_at_end) == (0, None, None)
