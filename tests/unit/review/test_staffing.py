"""How many reviewers the deadlines need: the arithmetic alone (an empty queue, no
history, an overdue queue), and the rate measured from decisions in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.cases.models import Case
from fairban.review.flows import decide, reject
from fairban.review.models import ReviewAction, Role
from fairban.review.staffing import (
    DEFAULT_RATE,
    Horizon,
    rate_of,
    reviewers_needed,
    staffing,
)
from tests.support.appeals import SETTINGS, console_user, queue_for_a_person
from tests.support.cases import NOW as FILED

NOW = datetime(2019, 10, 15, 9, tzinfo=UTC)


def _in(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def test_an_empty_queue_needs_nobody() -> None:
    horizons = reviewers_needed([], NOW, 6.0)
    assert all(h.due == 0 and h.needed == 0 for h in horizons)


def test_each_horizon_divides_the_appeals_due_by_the_work_it_allows() -> None:
    # 30 due within 4 h, 10 more within 24 h, at 5 decisions per reviewer-hour
    deadlines = [_in(3)] * 30 + [_in(20)] * 10
    assert reviewers_needed(deadlines, NOW, 5.0, horizons=(1, 4, 24)) == (
        Horizon(1, 0, 0),
        Horizon(4, 30, 2),  # 30 / (5 x 4) = 1.5, rounded up
        Horizon(24, 40, 1),  # 40 / (5 x 24) = 0.33, rounded up
    )


def test_an_overdue_queue_is_due_within_the_hour() -> None:
    deadlines = [_in(-5)] * 25
    [first, *rest] = reviewers_needed(deadlines, NOW, 6.0)
    assert first == Horizon(1, 25, 5)  # 25 / 6: five reviewers clear it in the hour
    assert all(h.due == 25 for h in rest)


def test_no_history_is_the_documented_default() -> None:
    rate = rate_of([])
    assert rate.per_reviewer_hour == DEFAULT_RATE
    assert not rate.measured


def test_the_rate_counts_reviewer_hours() -> None:
    # rita decides 6 within one clock hour, sam 1 in each of two hours
    at = datetime(2019, 10, 15, 8, tzinfo=UTC)
    decisions = [("rita", at + timedelta(minutes=5 * i)) for i in range(6)]
    decisions += [("sam", at), ("sam", at + timedelta(hours=1))]
    rate = rate_of(decisions)
    assert (rate.decisions, rate.reviewer_hours) == (8, 3)
    assert rate.per_reviewer_hour == pytest.approx(8 / 3)


def test_a_zero_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="above zero"):
        reviewers_needed([NOW], NOW, 0.0)


def test_staffing_from_the_store(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    at = FILED
    rita = console_user(session, "rita", Role.REVIEWER)
    before = staffing(session, [], at)
    assert not before.rate.measured
    assert before.needed == 0
    assert before.active == 0
    mule = queue_for_a_person(session, enforced["alipay:mule"], blobs, now=at)
    solo = queue_for_a_person(session, enforced["wechat:solo"], blobs, now=at)
    # a restriction upheld: no four eyes, decided at once
    reason = "The transfers are forwarded within the hour."
    decide(session, mule, rita, ReviewAction.UPHOLD, reason, SETTINGS, now=at)
    now = at + timedelta(minutes=30)
    # a suspension upheld waits for a second reviewer: the proposal counts as work
    proposed = decide(session, solo, rita, ReviewAction.UPHOLD, reason, SETTINGS, now=at)
    assert proposed.proposal is not None
    found = staffing(session, [now + timedelta(hours=2)] * 12, now)
    assert found.rate.measured
    assert (found.rate.decisions, found.rate.reviewer_hours) == (2, 1)
    assert found.active == 1
    assert found.needed == 2  # 12 due within 4 h at 2 an hour: 12 / 8, rounded up
    later = staffing(session, [], now + timedelta(hours=9))
    assert not later.rate.measured
    assert later.active == 0


def test_a_senior_answering_is_active_and_the_proposer_of_long_ago_is_not(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    at = FILED
    rita = console_user(session, "rita", Role.REVIEWER)
    sam = console_user(session, "sam", Role.SENIOR)
    solo = queue_for_a_person(session, enforced["wechat:solo"], blobs, now=at)
    reason = "The outreach to strangers is the operation's."
    proposal = decide(session, solo, rita, ReviewAction.UPHOLD, reason, SETTINGS, now=at).proposal
    assert proposal is not None
    later = at + timedelta(hours=2)
    assert staffing(session, [], later).active == 0
    reject(session, proposal, sam, "The grounds deserve a closer look.", now=later)
    assert staffing(session, [], later).active == 1  # sam, not rita
