"""The review queue: its order (severity, then time to the deadline, then
vulnerability), worked out alone and on a real database (SQLite and PostgreSQL), the
queue page's keyset pages in that order over the whole queue, the stored priority kept
as its inputs change, and claims that keep other reviewers off an appeal until released
or stale."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.appeals.models import Appeal, AppealState
from fairban.audit.actions import Action
from fairban.cases.flows import lift_measure
from fairban.cases.models import Case
from fairban.cases.transitions import IN_FORCE, DeciderKind
from fairban.contract import Directive
from fairban.measures import Measure
from fairban.review.flows import decide
from fairban.review.models import ReviewAction, Role
from fairban.review.queue import (
    CLAIM_TTL,
    ClaimError,
    CursorError,
    claim,
    next_open,
    page,
    priority,
    queue,
    release,
)
from tests.support.appeals import (
    SETTINGS,
    actions,
    console_user,
    enforce_people,
    file,
    queue_for_a_person,
)
from tests.support.cases import NOW as FILED  # when the appeals below are filed
from tests.support.cases import D, Decide

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


# --- the queue page: keyset pages in priority order -------------------------------------

#: (account, hours before FILED it was filed) -> its priority at FILED, the order's:
#: severity + vulnerability (held accounts) + urgency (3 - hours left / 16, clamped)
SURGE = [
    ("wechat:low", 48),  # suspend 3 + two held 1 + at the deadline 3 = 7
    ("qq:low", 49),  # restrict 2 + two held 1 + an hour late 3 = 6
    ("alipay:f1", 40),  # restrict 2 + three held 1 + 8 h left 2.5 = 5.5
    ("alipay:mule", 100),  # restrict 2 + 52 h late 3 = 5: the earliest deadline, not first
    ("wechat:solo", 24),  # suspend 3 + 24 h left 1.5 = 4.5
    ("qq:f1", 8),  # suspend 3 + three held 1 + 40 h left 0.5 = 4.5: a later deadline
    ("wechat:f1", 0),  # suspend 3 + three held 1 + 48 h left 0 = 4
]


def _surge(session: Session, enforced: dict[str, Case], blobs: BlobStore) -> list[Appeal]:
    """:data:`SURGE` queued by the re-check, in the order the queue must give."""
    return [
        queue_for_a_person(session, enforced[a], blobs, now=FILED - timedelta(hours=h))
        for a, h in SURGE
    ]


def _walk(
    session: Session, size: int, *, back: bool = False, now: datetime = FILED
) -> list[list[int]]:
    """Every page of the queue at ``now``, first to last (or walked from the last back to
    the first)."""
    pages: list[list[int]] = []
    current = page(session, now, size=size)
    while back and current.next_after is not None:
        current = page(session, now, size=size, after=current.next_after)
    while len(pages) <= current.total + 1:  # more pages than appeals: a walk that loops
        pages.append([i.appeal.id for i in current.items])
        cursor = current.prev_before if back else current.next_after
        if cursor is None:
            return pages[::-1] if back else pages
        if back:
            current = page(session, now, size=size, before=cursor)
        else:
            current = page(session, now, size=size, after=cursor)
    raise AssertionError(f"the walk never ends: {pages[:5]}")


def test_pages_walk_the_whole_queue_in_priority_order_both_ways(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    appeals = _surge(session, enforced, blobs)
    order = [a.id for a in appeals]
    # the order checked against the priority worked out alone, deadline ties after
    held = {"p-low": 2, "p-f1": 3, "p-mule": 1}
    worked = sorted(
        appeals,
        key=lambda a: (
            -priority(a.case, a, held.get(a.case.person_id or "", 1), FILED),
            a.answer_by,
            a.id,
        ),
    )
    assert [a.id for a in worked] == order
    assert order != [a.id for a in sorted(appeals, key=lambda a: (a.answer_by, a.id))]
    for size in range(1, len(order) + 2):
        forward = _walk(session, size)
        assert [i for p in forward for i in p] == order  # every appeal once, in order
        assert all(len(p) == size for p in forward[:-1])
        assert _walk(session, size, back=True) == forward
    first = page(session, FILED, size=3)
    assert [round(i.priority, 4) for i in first.items] == [7.0, 6.0, 5.5]
    assert (first.total, first.overdue, first.prev_before) == (7, 2, None)
    # a high priority with a later deadline is pages ahead of a lower one due earlier
    pages = _walk(session, 3)
    assert pages == [order[:3], order[3:6], order[6:]]
    shop, mule = appeals[2], appeals[3]  # alipay:f1 (8 h left), alipay:mule (52 h late)
    assert shop.answer_by > mule.answer_by
    assert shop.id in pages[0]
    assert mule.id in pages[1]
    # the size is clamped; a filter counts and pages only what it keeps, in order
    assert len(page(session, FILED, size=10**9).items) == 7
    assert len(page(session, FILED, size=-3).items) == 1
    suspended = page(session, FILED, where=[Case.measure == Measure.SUSPEND])
    assert [i.appeal.id for i in suspended.items] == [
        a.id for a in appeals if a.case.measure == Measure.SUSPEND
    ]
    assert suspended.total == 4


def test_the_order_is_the_clocks_a_cursor_keeps_its_place(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    """Two days on every appeal is overdue: priority is severity + vulnerability + 3, so
    the order is the static priority, then the deadline; a decided cursor still counts."""
    appeals = _surge(session, enforced, blobs)
    later = FILED + timedelta(hours=49)
    everything = page(session, later, size=50).items
    assert all(i.overdue for i in everything)
    expected = sorted(appeals, key=lambda a: (-(a.queue_priority or 0), a.answer_by, a.id))
    assert [i.appeal.id for i in everything] == [a.id for a in expected]
    assert [i.priority for i in everything] == [7, 7, 7, 6, 6, 6, 5]
    rita = console_user(session, "rita", Role.REVIEWER)
    fourth = everything[3].appeal
    decide(
        session, fourth, rita, ReviewAction.UPHOLD, "the transfers are real", SETTINGS, now=later
    )
    assert fourth.state == AppealState.UPHELD
    rest = page(session, later, size=50, after=fourth.id)
    assert [i.appeal.id for i in rest.items] == [a.id for a in expected[4:]]
    before = page(session, later, size=50, before=fourth.id)
    assert [i.appeal.id for i in before.items] == [a.id for a in expected[:3]]


#: hours before FILED each appeal of the mixed queue is filed: on and beside the band's
#: edges (the deadline, 48 h left) and between, so that priorities tie across streams
FILED_AGO = (0, 0.25, 8, 16, 24, 24, 32, 40, 47.75, 48, 48, 48.25, 56, 64, 96, 120)


def test_every_page_is_the_orders_at_any_moment(
    session: Session, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    """Sixteen appeals of every static priority from 1 to 6 (measures, two- and
    three-account persons, shops, victims) read at moments before, inside and past the
    band: each walk, forward and back at every page size, is the priority order worked
    out alone (:func:`priority`; ties: the deadline, then the id)."""
    measures = ("monitor", "restrict", "suspend")
    rows: list[D | dict[str, Any]] = []
    for n in range(len(FILED_AGO)):
        person = f"p-{n // 3}" if n % 4 else ""  # a person of up to three accounts, or none
        rows.append(D(f"wechat:m{n}", measures[n % 3], person))
    rows.append(D("qq:m0", "suspend", "p-0"))  # an account held, not appealed
    cases = enforce_people(session, directive, decide, rows)
    for n in range(0, len(FILED_AGO), 5):
        cases[f"wechat:m{n}"].account_kind = "merchant"
    appeals = []
    for n, hours in enumerate(FILED_AGO):
        grounds = ["victim"] if n % 2 else ["never_been_there"]
        at = FILED - timedelta(hours=hours)
        appeal, _ = file(session, cases[f"wechat:m{n}"], blobs, grounds=grounds, now=at)
        appeal.state = AppealState.QUEUED  # no re-check needed for the order
        appeals.append(appeal)
    session.flush()
    held = dict(
        session.execute(
            select(Case.person_id, func.count())
            .where(Case.state.in_(list(IN_FORCE)), Case.person_id.is_not(None))
            .group_by(Case.person_id)
        ).all()
    )
    assert {a.queue_priority for a in appeals} == set(range(1, 7))
    for hours in (-30, 0, 0.25, 16, 47.75, 48, 60, 200):
        now = FILED + timedelta(hours=hours)
        worked = sorted(
            appeals,
            key=lambda a: (
                -priority(a.case, a, held.get(a.case.person_id, 1), now),
                a.answer_by,
                a.id,
            ),
        )
        order = [a.id for a in worked]
        for size in (1, 2, 3, 5, 16):
            forward = _walk(session, size, now=now)
            assert [i for p in forward for i in p] == order, (hours, size)
            assert _walk(session, size, now=now, back=True) == forward, (hours, size)


def test_the_next_appeal_is_the_first_in_order_no_one_else_holds(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    appeals = _surge(session, enforced, blobs)
    rita, tom, ana = (console_user(session, n, Role.REVIEWER) for n in ("rita", "tom", "ana"))
    assert next_open(session, rita, FILED) is appeals[0]
    claim(session, appeals[0], rita, FILED)
    assert next_open(session, rita, FILED) is appeals[0]  # her own claim: hers to work
    assert next_open(session, tom, FILED) is appeals[1]
    claim(session, appeals[1], tom, FILED)
    claim(session, appeals[2], tom, FILED)
    claim(session, appeals[3], tom, FILED)
    solo = appeals[4]  # a high-risk suspension: its uphold waits for a senior
    claim(session, solo, ana, FILED)
    decide(session, solo, ana, ReviewAction.UPHOLD, "the presence is real", SETTINGS, now=FILED)
    assert solo.state == AppealState.QUEUED
    assert next_open(session, ana, FILED) is appeals[5]
    assert next_open(session, ana, FILED, where=[Case.measure == Measure.RESTRICT]) is None
    stale = FILED + CLAIM_TTL + timedelta(minutes=1)
    assert next_open(session, ana, stale) is appeals[0]


def test_the_stored_priority_follows_the_accounts_held(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    """Lifting one of p-low's two accounts drops the other's appeal one point, in the
    database, at the flush that lifts; the page's order follows."""
    low = queue_for_a_person(session, enforced["wechat:low"], blobs, now=FILED)
    solo = queue_for_a_person(session, enforced["wechat:solo"], blobs, now=FILED)
    assert (low.queue_priority, solo.queue_priority) == (4, 3)
    assert [i.appeal.id for i in page(session, FILED).items] == [low.id, solo.id]
    lift_measure(
        session,
        enforced["qq:low"],
        actor="user:rita",
        actor_kind=DeciderKind.PERSON,
        reason="review",
        settings=SETTINGS,
        now=FILED,
    )
    session.flush()
    stored = session.scalar(select(Appeal.queue_priority).where(Appeal.id == low.id))
    assert stored == low.queue_priority == 3
    session.expire_all()  # what the database holds: a tie, the lower id first
    first = page(session, FILED).items
    assert [(i.appeal.id, i.priority, i.held_accounts) for i in first] == [
        (low.id, 3.0, 1),
        (solo.id, 3.0, 1),
    ]
    enforced["wechat:solo"].measure = Measure.RESTRICT  # the engine's new measure
    session.flush()
    session.expire_all()
    assert session.get(Appeal, solo.id).queue_priority == 2  # type: ignore[union-attr]


def test_an_appeal_queued_another_way_is_stamped_at_flush(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    appeal, _ = file(session, enforced["alipay:mule"], blobs, grounds=("victim",), now=FILED)
    session.flush()
    assert appeal.queue_priority is None  # received: not in the person queue yet
    appeal.state = AppealState.QUEUED
    session.flush()
    session.expire_all()
    assert appeal.queue_priority == 3  # restrict 2 + a victim 1


def test_a_cursor_that_names_no_appeal_is_an_error(session: Session) -> None:
    with pytest.raises(CursorError):
        page(session, FILED, after=999_999)
    with pytest.raises(CursorError):
        page(session, FILED, before=999_999)
