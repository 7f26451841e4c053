"""The reviewer console over HTTP: sign-in, roles, the queue, claim, decisions with
four eyes, operators' statistics and the circuit breaker's alert, the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from fairban.appeals.models import Alert, Appeal, AppealState
from fairban.cases.models import Case
from fairban.cases.transitions import CaseState
from fairban.directives.models import DirectiveRecord
from fairban.review.models import ProposalState, ReviewProposal, Role
from fairban.review.users import add_user
from tests.support.appeal_world import F1, P3, P4, csrf_of, file_appeal_form, run_rechecks

PASSWORD = "correct horse battery"


def _users(portal: Any) -> None:
    with portal.session() as s, s.begin():
        now = datetime.now(UTC)
        for name, role in (
            ("rita", Role.REVIEWER),
            ("sam", Role.SENIOR),
            ("sue", Role.SENIOR),
            ("olga", Role.OPERATOR),
            ("aude", Role.AUDITOR),
        ):
            add_user(s, name, role, PASSWORD, now)


def _login(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    page = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"name": name, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )


def _queued(portal: Any, account: str) -> int:
    """File an appeal for ``account`` and run its re-check: it lands in the queue."""
    portal.sign_in(account)
    file_appeal_form(portal, ["never_been_there"])
    run_rechecks(portal)
    portal.client.cookies.clear()
    with portal.session() as s:
        appeal = s.scalars(select(Appeal).order_by(Appeal.id.desc())).first()
        assert appeal.state == AppealState.QUEUED
        return int(appeal.id)


def test_sign_in_roles_and_csrf(console: Any) -> None:
    _users(console)
    c = console.client
    assert c.get("/console/queue", follow_redirects=False).headers["location"] == "/console/login"
    assert _login(c, "rita", "wrong password!").status_code == 401
    assert _login(c, "nobody").status_code == 401
    r = _login(c, "rita")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/queue"
    assert c.get("/console/audit").status_code == 403  # a reviewer does not read the log
    assert c.get("/console/stats").status_code == 403
    # a form without the session's CSRF token
    assert c.post("/console/appeals/1/claim", data={"csrf": "x"}).status_code == 403
    c.cookies.clear()
    page = c.get("/console/login")
    r = c.post("/console/login", data={"name": "rita", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 401
    del page


def test_reviewer_works_a_queued_appeal_and_a_senior_approves_the_lift(console: Any) -> None:
    _users(console)
    appeal_id = _queued(console, F1)
    rita = TestClient(console.client.app)
    _login(rita, "rita")
    queue = rita.get("/console/queue")
    assert console.seeded.numbers[F1] in queue.text
    page = rita.get(f"/console/appeals/{appeal_id}")
    assert "<svg" in page.text  # the map of observations against the areas
    assert "Interactions" in page.text
    csrf = csrf_of(page.text)
    assert (
        rita.post(
            f"/console/appeals/{appeal_id}/claim", data={"csrf": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    # a second reviewer cannot claim it
    sam = TestClient(console.client.app)
    _login(sam, "sam")
    page = sam.get(f"/console/appeals/{appeal_id}")
    assert "Claim" not in page.text or "rita" in page.text
    # no reason: refused with a message
    r = rita.post(
        f"/console/appeals/{appeal_id}/decide",
        data={"csrf": csrf, "action": "lift", "reason": "ok"},
    )
    assert "reason" in r.text
    # lifting a high-risk suspension needs four eyes
    r = rita.post(
        f"/console/appeals/{appeal_id}/decide",
        follow_redirects=False,
        data={
            "csrf": csrf,
            "action": "lift",
            "reason": "The phone was sold in July; receipt and police report attached.",
        },
    )
    assert r.status_code == 303
    with console.session() as s:
        case = s.scalars(select(Case).where(Case.account_id == F1)).one()
        assert case.state == CaseState.APPEALED  # not lifted yet
    # the proposer cannot approve their own proposal, nor can a reviewer
    proposals = rita.get("/console/proposals")
    assert "Proposed by" in proposals.text
    with console.session() as s:
        proposal = s.scalars(select(ReviewProposal)).one()
    r = rita.post(f"/console/proposals/{proposal.id}/approve", data={"csrf": csrf})
    assert "senior" in r.text
    sam_csrf = csrf_of(sam.get(f"/console/appeals/{appeal_id}").text)
    r = sam.post(
        f"/console/proposals/{proposal.id}/approve",
        data={"csrf": sam_csrf, "note": "receipt checked"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with console.session() as s:
        case = s.scalars(select(Case).where(Case.account_id == F1)).one()
        assert case.state == CaseState.LIFTED
        assert case.judged_by is not None
        appeal = s.get(Appeal, appeal_id)
        assert appeal.state == AppealState.GRANTED
        assert appeal.decided_by == "user:rita+sam"


def test_upholding_or_downgrading_a_high_risk_suspension_needs_a_senior(console: Any) -> None:
    _users(console)
    appeal_id = _queued(console, F1)
    rita = TestClient(console.client.app)
    _login(rita, "rita")
    csrf = csrf_of(rita.get(f"/console/appeals/{appeal_id}").text)
    rita.post(f"/console/appeals/{appeal_id}/claim", data={"csrf": csrf})
    rita.post(
        f"/console/appeals/{appeal_id}/decide",
        data={"csrf": csrf, "action": "uphold", "reason": "Nights in Laukkai for weeks."},
    )
    with console.session() as s:
        assert s.get(Appeal, appeal_id).state == AppealState.QUEUED
    sue = TestClient(console.client.app)
    _login(sue, "sue")
    with console.session() as s:
        proposal = s.scalars(select(ReviewProposal)).one()
    sue_csrf = csrf_of(sue.get("/console/proposals").text)
    sue.post(
        f"/console/proposals/{proposal.id}/reject",
        data={"csrf": sue_csrf, "note": "Look at the phone receipts first."},
    )
    with console.session() as s:
        appeal = s.get(Appeal, appeal_id)
        assert appeal.state == AppealState.QUEUED
        assert appeal.claimed_by is None
    rita.post(f"/console/appeals/{appeal_id}/claim", data={"csrf": csrf})
    # the form says which choices wait for a senior before the reviewer submits
    form = rita.get(f"/console/appeals/{appeal_id}").text
    assert 'id="downgrade-four-eyes"' in form
    assert "restrict (a senior reviewer must approve)" in form
    r = rita.post(
        f"/console/appeals/{appeal_id}/decide",
        follow_redirects=False,
        data={
            "csrf": csrf,
            "action": "downgrade",
            "to_measure": "restrict",
            "reason": "Presence is certain, fraud behaviour less so.",
        },
    )
    assert r.status_code == 303
    with console.session() as s:
        appeal = s.get(Appeal, appeal_id)
        assert appeal.state == AppealState.QUEUED  # waits for the second pair of eyes
        proposal = s.scalars(
            select(ReviewProposal).where(ReviewProposal.state == ProposalState.PENDING)
        ).one()
    assert "downgrade to restrict" in sue.get(f"/console/appeals/{appeal_id}").text
    sue.post(f"/console/proposals/{proposal.id}/approve", data={"csrf": sue_csrf})
    with console.session() as s:
        appeal = s.get(Appeal, appeal_id)
        assert appeal.state == AppealState.DOWNGRADED
        assert appeal.case.state == CaseState.DOWNGRADED


def test_operator_stats_breaker_alert_and_auditor_log(console: Any) -> None:
    _users(console)
    # two appeals granted by the re-check, then a downgrade: 2 of 3 decided were granted,
    # above the threshold of 50 % with the minimum of 3 decided: the breaker trips
    for account in (P4, P3[0]):
        console.sign_in(account)
        file_appeal_form(console, ["never_been_there"])
        console.client.cookies.clear()
    run_rechecks(console)
    with console.session() as s:
        assert s.scalars(select(Alert)).all() == []  # 2 decided: below the minimum
    appeal_id = _queued(console, F1)
    rita = TestClient(console.client.app)
    _login(rita, "rita")
    csrf = csrf_of(rita.get(f"/console/appeals/{appeal_id}").text)
    rita.post(f"/console/appeals/{appeal_id}/claim", data={"csrf": csrf})
    rita.post(
        f"/console/appeals/{appeal_id}/decide",
        data={
            "csrf": csrf,
            "action": "downgrade",
            "to_measure": "restrict",
            "reason": "Presence is certain, fraud behaviour less so.",
        },
    )
    with console.session() as s:  # a high-risk suspension lowered: a senior approves
        proposal = s.scalars(select(ReviewProposal)).one()
    sam = TestClient(console.client.app)
    _login(sam, "sam")
    sam_csrf = csrf_of(sam.get("/console/proposals").text)
    sam.post(f"/console/proposals/{proposal.id}/approve", data={"csrf": sam_csrf})
    with console.session() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.kind == "circuit_breaker"
        assert s.get(DirectiveRecord, alert.directive_id).paused
    olga = TestClient(console.client.app)
    assert _login(olga, "olga").headers["location"] == "/console/stats"
    stats = olga.get("/console/stats")
    assert stats.status_code == 200
    assert appeal_world_directive(console) in stats.text
    assert "circuit breaker" in stats.text
    assert "66.7%" in stats.text  # the grant rate
    aude = TestClient(console.client.app)
    _login(aude, "aude")
    log = aude.get("/console/audit")
    for action in (
        "appeal:file",
        "appeal:recheck:grant",
        "review:claim",
        "review:decide",
        "console:login",
    ):
        assert action in log.text
    assert aude.get("/console/queue").status_code == 403


def appeal_world_directive(portal: Any) -> str:
    with portal.session() as s:
        return str(s.scalars(select(DirectiveRecord.id)).one())
