"""The review queue: its order (severity, then time to the deadline, then
vulnerability), worked out alone and on a real database (SQLite and PostgreSQL), and
claims that keep other reviewers off an appeal until released or stale."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.appeals.models import Appeal, AppealState
from fairban.audit.actions import Action
from fairban.cases.models import Case
from fairban.measures import Measure
from fairban.review.flows import decide
from fairban.review.models import ReviewAction, Role
from fairban.review.queue import (
    CLAIM_TTL,
    ClaimError,
    CursorError,
    claim,
    page,
    priority,
    queue,
    release,
)
from tests.support.appeals import SETTINGS, actions, console_user, file, queue_for_a_person
from tests.support.cases import NOW as FILED  # when the appeals below are filed

NOW = datetime(2019, 10, 15, 9, tzinfo=UTC)


def _case(measure: Measure, kind: str = "personal") -> Case:
    return Case(measure=measure, account_kind=kind)


def _appeal(hours_left: float, grounds: list[str]) -> Appeal:
    return Appeal(
        answer_by=NOW + timedelta(hours=hours_left),
        grounds=json.dumps(grounds),
        state=AppealState.QUEUED,
    )


def test_a_suspension_comes_before_a_restriction() -> None:
    assert priority(_case(Measure.SUSPEND), _appeal(48, ["other"]), 1, NOW) > priority(
        _case(Measure.RESTRICT), _appeal(48, ["other"]), 1, NOW
    )


def test_the_deadline_raises_priority_up_to_overdue() -> None:
    far = priority(_case(Measure.RESTRICT), _appeal(48, ["other"]), 1, NOW)
    near = priority(_case(Measure.RESTRICT), _appeal(6, ["other"]), 1, NOW)
    overdue = priority(_case(Measure.RESTRICT), _appeal(-5, ["other"]), 1, NOW)
    assert far < near < overdue
    assert overdue == priority(_case(Measure.RESTRICT), _appeal(-50, ["other"]), 1, NOW)


def test_vulnerability_a_shop_a_victim_several_accounts() -> None:
    base = priority(_case(Measure.RESTRICT), _appeal(48, ["other"]), 1, NOW)
    assert priority(_case(Measure.RESTRICT, "merchant"), _appeal(48, ["other"]), 1, NOW) == base + 1
    assert priority(_case(Measure.RESTRICT), _appeal(48, ["victim"]), 1, NOW) == base + 1
    assert priority(_case(Measure.RESTRICT), _appeal(48, ["other"]), 3, NOW) == base + 1


# --- the queue on a real database ------------------------------------------------------


def test_the_queue_puts_the_most_urgent_first(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    at = FILED
    overdue = queue_for_a_person(session, enforced["qq:low"], blobs, now=at - timedelta(hours=50))
    victim = queue_for_a_person(
        session, enforced["alipay:mule"], blobs, grounds=["victim"], now=at - timedelta(hours=12)
    )
    f1 = queue_for_a_person(session, enforced["wechat:f1"], blobs, now=at)
    solo = queue_for_a_person(session, enforced["wechat:solo"], blobs, now=at)
    file(session, enforced["wechat:low"], blobs, now=at)  # not re-checked yet: not queued

    items = queue(session, at)
    assert [i.appeal.id for i in items] == [overdue.id, f1.id, victim.id, solo.id]
    assert [(round(i.priority, 2), i.held_accounts) for i in items] == [
        (6.0, 2),  # restrict 2 + overdue 3 + two accounts held 1
        (4.0, 3),  # suspend 3 + three accounts held 1
        (3.75, 1),  # restrict 2 + 12 hours gone 0.75 + a victim 1
        (3.0, 1),  # suspend 3, no person
    ]
    assert [i.overdue for i in items] == [True, False, False, False]
    assert round(items[0].hours_left) == -2


def test_decided_appeals_leave_the_queue(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    appeal = queue_for_a_person(session, enforced["alipay:mule"], blobs)
    rita = console_user(session, "rita", Role.REVIEWER)
    reason = "the transfers are real"
    decide(session, appeal, rita, ReviewAction.UPHOLD, reason, SETTINGS, now=FILED)
    assert queue(session, FILED) == []


def test_a_claim_keeps_others_off_until_released_or_stale(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    appeal = queue_for_a_person(session, enforced["alipay:mule"], blobs)
    subject = f"case:{appeal.case.number}"
    rita = console_user(session, "rita", Role.REVIEWER)
    tom = console_user(session, "tom", Role.REVIEWER)
    claim(session, appeal, rita, FILED)
    assert (appeal.claimed_by, appeal.claimed_at) == ("rita", FILED)
    claim(session, appeal, rita, FILED + timedelta(minutes=5))  # her own: renewed
    with pytest.raises(ClaimError, match="claimed by rita"):
        claim(session, appeal, tom, FILED + timedelta(minutes=10))
    with pytest.raises(ClaimError, match="claimed by rita"):
        release(session, appeal, tom)
    release(session, appeal, rita)
    assert appeal.claimed_by is None
    claim(session, appeal, tom, FILED + timedelta(minutes=10))
    assert appeal.claimed_by == "tom"
    stale = FILED + timedelta(minutes=10) + CLAIM_TTL
    claim(session, appeal, rita, stale)  # left alone too long
    assert appeal.claimed_by == "rita"
    assert actions(session, subject)[-5:] == [
        Action.REVIEW_CLAIM,
        Action.REVIEW_CLAIM,
        Action.REVIEW_RELEASE,
        Action.REVIEW_CLAIM,
        Action.REVIEW_CLAIM,
    ]


def test_a_senior_may_release_anyones_claim(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    appeal = queue_for_a_person(session, enforced["alipay:mule"], blobs)
    rita = console_user(session, "rita", Role.REVIEWER)
    sam = console_user(session, "sam", Role.SENIOR)
    release(session, appeal, sam)  # nothing to release: nothing audited
    assert Action.REVIEW_RELEASE not in actions(session)
    claim(session, appeal, rita, FILED)
    release(session, appeal, sam)
    assert (appeal.claimed_by, appeal.claimed_at) == (None, None)
    assert actions(session)[-1] == Action.REVIEW_RELEASE


def test_only_queued_appeals_can_be_claimed(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    received, _ = file(session, enforced["alipay:mule"], blobs)
    rita = console_user(session, "rita", Role.REVIEWER)
    with pytest.raises(ClaimError, match="not in the queue"):
        claim(session, received, rita, FILED)
    assert received.claimed_by is None


# --- the queue page: keyset pages in deadline order -------------------------------------


def test_pages_walk_the_queue_in_deadline_order_both_ways(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    accounts = ["qq:low", "alipay:mule", "wechat:f1", "wechat:solo", "wechat:low"]
    filed = [
        queue_for_a_person(session, enforced[a], blobs, now=FILED - timedelta(hours=h))
        for h, a in zip((0, 50, 3, 3, 10), accounts, strict=True)
    ]
    order = [a.id for a in sorted(filed, key=lambda a: (a.answer_by, a.id))]
    first = page(session, FILED, size=2)
    assert [i.appeal.id for i in first.items] == order[:2]
    assert (first.total, first.overdue, first.prev_before) == (5, 1, None)
    assert first.next_after == order[1]
    second = page(session, FILED, size=2, after=first.next_after)
    assert [i.appeal.id for i in second.items] == order[2:4]
    last = page(session, FILED, size=2, after=second.next_after)
    assert [i.appeal.id for i in last.items] == order[4:]
    assert last.next_after is None
    assert last.prev_before == order[4]
    back = page(session, FILED, size=2, before=last.prev_before)
    assert [i.appeal.id for i in back.items] == order[2:4]
    assert (back.next_after, back.prev_before) == (order[3], order[2])
    assert page(session, FILED, size=2, before=back.prev_before).prev_before is None
    # the size is clamped; a filter counts and pages only what it keeps
    assert len(page(session, FILED, size=10**9).items) == 5
    assert len(page(session, FILED, size=-3).items) == 1
    suspended = page(session, FILED, where=[Case.measure == Measure.SUSPEND])
    assert suspended.total == len(suspended.items)
    assert {i.case.measure for i in suspended.items} == {Measure.SUSPEND}
    assert suspended.total < 5


def test_a_cursor_that_names_no_appeal_is_an_error(session: Session) -> None:
    with pytest.raises(CursorError):
        page(session, FILED, after=999_999)
    with pytest.raises(CursorError):
        page(session, FILED, before=999_999)
