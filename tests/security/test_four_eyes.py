"""Four eyes without a side door, against the running app: a reviewer alone who
downgrades a high-risk suspension to monitor (or to a restriction) gets a proposal, not
a decision. The case keeps its measure and no ``measure.lift`` is written to the outbox
until a senior reviewer approves it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.appeals.models import Appeal, AppealState
from fairban.cases.models import Case
from fairban.cases.transitions import CaseState
from fairban.db import make_engine, session_factory
from fairban.measures import Measure
from fairban.platforms.models import OutboxMessage
from fairban.platforms.webhooks import MessageKind
from fairban.review.flows import HIGH_RISK
from fairban.review.models import Role
from fairban.review.users import add_user
from tests.security.conftest import Live, wait_for
from tests.support.appeal_world import F1, csrf_of, field_of

PASSWORD = "correct horse battery"
REASON = "Presence is certain, fraud behaviour much less so."


@pytest.fixture(scope="module")
def db(live: Live) -> Iterator[Any]:
    """Sessions on the live server's database (what it committed), and its users."""
    engine = make_engine(live.url)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        now = datetime.now(UTC)
        for name, role in (("rita", Role.REVIEWER), ("sam", Role.SENIOR)):
            add_user(s, name, role, PASSWORD, now)
    yield factory
    engine.dispose()


def _sign_in_portal(live: Live, account: str) -> httpx.Client:
    c = live.client(follow_redirects=True)
    number, token = live.seeded.numbers[account], live.seeded.tokens[account]
    assert c.get(f"/c/{number}", params={"t": token}).status_code == 200
    csrf = csrf_of(c.get("/verify").text)
    before = live.codes_sent(account)
    assert c.post("/verify/send", data={"csrf": csrf}).status_code == 200
    r = c.post("/verify", data={"csrf": csrf, "code": live.new_code(account, before)})
    assert str(r.url).endswith("/case"), r.text
    return c


def _queued_appeal(live: Live, db: Any, account: str) -> int:
    """File an appeal over HTTP and wait for the server's re-check to queue it."""
    c = _sign_in_portal(live, account)
    page = c.get("/case").text
    data = {
        "csrf": csrf_of(page),
        "submit_key": field_of(page, "submit_key"),
        "grounds": ["never_been_there"],
    }
    assert c.post("/case/appeal", data=data).status_code == 200

    def queued() -> bool:
        with db() as s:
            appeal = s.scalars(
                select(Appeal).join(Case).where(Case.account_id == account)
            ).one_or_none()
            return appeal is not None and appeal.state == AppealState.QUEUED

    wait_for(queued, "the appeal's re-check")
    with db() as s:
        return int(s.scalars(select(Appeal.id).join(Case).where(Case.account_id == account)).one())


def _console(live: Live, name: str) -> httpx.Client:
    c = live.client(follow_redirects=True)
    c.cookies.set("fb_lang", "en")  # the console's words in English
    csrf = csrf_of(c.get("/console/login").text)
    r = c.post("/console/login", data={"name": name, "password": PASSWORD, "csrf": csrf})
    assert str(r.url).endswith("/console/queue"), r.text
    return c


def _case(s: Session, account: str) -> Case:
    return s.scalars(select(Case).where(Case.account_id == account)).one()


def _kinds(s: Session, case: Case) -> list[MessageKind]:
    query = select(OutboxMessage.kind).where(OutboxMessage.case_id == case.id)
    return list(s.scalars(query.order_by(OutboxMessage.id)))


def test_a_reviewer_alone_cannot_downgrade_a_high_risk_suspension(live: Live, db: Any) -> None:
    with db() as s:
        case = _case(s, F1)
        assert (case.measure, case.risk >= HIGH_RISK) == (Measure.SUSPEND, True)
        before = _kinds(s, case)
    assert MessageKind.LIFT not in before
    appeal_id = _queued_appeal(live, db, F1)

    rita = _console(live, "rita")
    page = rita.get(f"/console/appeals/{appeal_id}").text
    csrf = csrf_of(page)
    assert rita.post(f"/console/appeals/{appeal_id}/claim", data={"csrf": csrf}).is_success
    form = rita.get(f"/console/appeals/{appeal_id}").text
    # said on the form, before the reviewer submits
    assert "monitor (a senior reviewer must approve)" in form
    r = rita.post(
        f"/console/appeals/{appeal_id}/decide",
        data={"csrf": csrf, "action": "downgrade", "to_measure": "monitor", "reason": REASON},
    )
    assert r.status_code == 200
    assert "Waiting for a second, senior reviewer" in r.text
    time.sleep(1.5)  # give the server's loops their chance to send anything
    with db() as s:
        case = _case(s, F1)
        assert (case.state, case.measure) == (CaseState.APPEALED, Measure.SUSPEND)
        assert _kinds(s, case) == before  # no measure.lift, no new measure
        assert s.get(Appeal, appeal_id).state == AppealState.QUEUED  # type: ignore[union-attr]

    # a senior's approval applies it
    sam = _console(live, "sam")
    page = sam.get(f"/console/appeals/{appeal_id}").text
    assert "downgrade to monitor" in page
    proposal = page.split('action="/console/proposals/')[1].split("/")[0]
    r = sam.post(f"/console/proposals/{proposal}/approve", data={"csrf": csrf_of(page)})
    assert r.is_success
    with db() as s:
        case = _case(s, F1)
        assert (case.state, case.measure) == (CaseState.DOWNGRADED, Measure.MONITOR)
        assert _kinds(s, case)[len(before) :] == [MessageKind.LIFT]
        appeal = s.get(Appeal, appeal_id)
        assert appeal is not None
        assert (appeal.state, appeal.decided_by) == (AppealState.DOWNGRADED, "user:rita+sam")
