"""The reviewer console over HTTP: sign-in, roles, the queue, claim, decisions with
four eyes, operators' statistics and the circuit breaker's alert, the audit log."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from fairban.appeals.models import Alert, Appeal, AppealState
from fairban.audit.models import AuditEntry
from fairban.cases.models import Case
from fairban.cases.transitions import CaseState
from fairban.clock import BEIJING
from fairban.directives.models import DirectiveRecord
from fairban.review.models import ProposalState, ReviewProposal, Role
from fairban.review.queue import page
from fairban.review.users import add_user
from tests.support.appeal_world import (
    F1,
    P3,
    P4,
    csrf_of,
    field_of,
    file_appeal_form,
    run_rechecks,
)

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


def _login(client: TestClient, name: str, password: str = PASSWORD, lang: str = "en") -> Any:
    client.cookies.set("fb_lang", lang)  # the console's language: the portal's cookie
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
        # the browser sends the downgrade's choice too: an uphold keeps the measure
        data={
            "csrf": csrf,
            "action": "uphold",
            "to_measure": "restrict",
            "reason": "Nights in Laukkai for weeks.",
        },
    )
    with console.session() as s:
        assert s.get(Appeal, appeal_id).state == AppealState.QUEUED
    sue = TestClient(console.client.app)
    _login(sue, "sue")
    with console.session() as s:
        proposal = s.scalars(select(ReviewProposal)).one()
        assert proposal.to_measure is None
    listed = sue.get("/console/proposals").text
    assert "uphold suspend" in listed
    assert "uphold to" not in listed
    sue_csrf = csrf_of(listed)
    sue.cookies.set("fb_lang", "zh-CN")
    assert "维持暂停使用" in sue.get("/console/proposals").text
    sue.cookies.set("fb_lang", "en")
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
    assert _login(olga, "olga").headers["location"] == "/console/dashboard"
    stats = olga.get("/console/stats")
    assert stats.status_code == 200
    assert appeal_world_directive(console) in stats.text
    assert "circuit breaker" in stats.text
    assert "66.7%" in stats.text  # the grant rate
    _operator_steps_from_the_dashboard(console, olga, appeal_world_directive(console))
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


def _operator_steps_from_the_dashboard(console: Any, olga: TestClient, directive: str) -> None:
    """The breaker's pause on the dashboard; the operator resumes, pauses and asks for
    the next stage, each with a reason that the audit log keeps."""
    page = olga.get("/console/dashboard")
    assert page.status_code == 200
    assert "circuit breaker" in page.text
    assert "paused" in page.text
    assert "<svg" in page.text
    assert 'id="by-day"' in page.text
    csrf = csrf_of(page.text)
    step = {"csrf": csrf, "directive": directive}
    # no reason: refused, nothing changes
    r = olga.post("/console/dashboard/step", data={**step, "step": "resume", "reason": "ok"})
    assert "write the reason" in r.text
    with console.session() as s:
        assert s.get(DirectiveRecord, directive).paused
    # a forged form
    forged = {**step, "csrf": "x", "step": "resume", "reason": "the grants were a test run"}
    assert olga.post("/console/dashboard/step", data=forged).status_code == 403
    r = olga.post(
        "/console/dashboard/step",
        data={**step, "step": "resume", "reason": "the grants were a test run"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with console.session() as s:
        assert not s.get(DirectiveRecord, directive).paused
        entry = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "directive:resume")
            .order_by(AuditEntry.id.desc())
        ).first()
        assert entry is not None
        assert entry.actor == "user:olga"
        assert json.loads(entry.payload)["resume_reason"] == "the grants were a test run"
    assert "The directive is resumed." in olga.get(r.headers["location"]).text
    olga.post(
        "/console/dashboard/step",
        data={**step, "step": "pause", "reason": "complaints from a county office"},
    )
    with console.session() as s:
        record = s.get(DirectiveRecord, directive)
        assert record.paused
        assert record.pause_reason == "complaints from a county office"
        assert record.paused_by == "user:olga"
    # the next stage needs the directive running, then an evidence store
    r = olga.post(
        "/console/dashboard/step",
        data={**step, "step": "stage", "reason": "ten per cent after a clean week"},
    )
    assert "resume it first" in r.text
    # a senior sees the dashboard but takes no step
    sam = TestClient(console.client.app)
    _login(sam, "sam", lang="zh-CN")
    page = sam.get("/console/dashboard")
    assert "仪表盘" in page.text
    assert "按平台" in page.text
    assert "北京时间" in page.text
    assert 'name="step"' not in page.text
    r = sam.post("/console/dashboard/step", data={**step, "csrf": csrf_of(page.text)})
    assert r.status_code == 403


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_the_console_in_chinese_with_beijing_time_and_uploads_by_their_name(
    console: Any,
) -> None:
    _users(console)
    console.sign_in(F1)
    r, _ = file_appeal_form(
        console, ["never_been_there"], files=[("files", ("租房合同 1.png", _png(), "image/png"))]
    )
    assert r.status_code == 303, r.text[:500]
    run_rechecks(console)
    console.client.cookies.clear()
    with console.session() as s:
        appeal = s.scalars(select(Appeal).order_by(Appeal.id.desc())).first()
        appeal_id, upload_id, answer_by = appeal.id, appeal.uploads[0].id, appeal.answer_by
    rita = TestClient(console.client.app)
    _login(rita, "rita", lang="zh-CN")
    queue = rita.get("/console/queue").text
    assert '<html lang="zh-Hans">' in queue
    assert "申诉队列" in queue
    assert "从未去过这些地区" in queue
    beijing = answer_by.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    assert f"{beijing} 北京时间" in queue
    assert " UTC" not in queue
    page = rita.get(f"/console/appeals/{appeal_id}").text
    assert "认领" in page
    assert "自动复核" in page
    assert "证据" in page
    # the switch: English, the zone named
    rita.cookies.set("fb_lang", "en")
    page = rita.get(f"/console/appeals/{appeal_id}").text
    assert f"{beijing} Beijing time (UTC+8)" in page
    assert "Claim" in page
    got = rita.get(f"/console/uploads/{upload_id}")
    assert got.status_code == 200
    assert got.content.startswith(b"\x89PNG")
    assert got.headers["content-type"] == "image/png"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E7%A7%9F%E6%88%BF%E5%90%88%E5%90%8C%201.png" in disposition
    assert 'filename="____ 1.png"' in disposition  # the ASCII fallback


def test_time_to_decision_median_and_p90_in_order_and_unit(console: Any) -> None:
    from fairban.appeals.service import directive_stats

    for account in (P4, P3[0]):
        console.sign_in(account)
        file_appeal_form(console, ["never_been_there"])
        console.client.cookies.clear()
    run_rechecks(console)
    with console.session() as s:
        (stats,) = directive_stats(s)
    assert stats.decided == 2
    assert stats.p90_hours_to_decision >= stats.median_hours_to_decision
    _users(console)
    olga = TestClient(console.client.app)
    _login(olga, "olga")
    page = olga.get("/console/stats").text
    assert " h / " not in page
    median = re.search(r'<td class="median">([^<]+)</td><td class="p90">([^<]+)</td>', page)
    assert median is not None
    assert median.group(1).endswith(" min")
    assert median.group(2).endswith(" min")


def test_a_missed_deadline_is_an_alert_on_the_queue_and_the_dashboard(console: Any) -> None:
    _users(console)
    appeal_id = _queued(console, F1)
    rita = TestClient(console.client.app)
    _login(rita, "rita")
    assert 'id="overdue-alert"' not in rita.get("/console/queue").text
    olga = TestClient(console.client.app)
    _login(olga, "olga")
    board = olga.get("/console/dashboard").text
    assert 'id="overdue-alert"' not in board
    with console.session() as s, s.begin():
        appeal = s.get(Appeal, appeal_id)
        appeal.answer_by = datetime.now(UTC) - timedelta(hours=2)
    queue = rita.get("/console/queue").text
    assert 'id="overdue-alert"' in queue
    assert "1 appeals are past their deadline." in queue
    board = olga.get("/console/dashboard").text
    assert 'id="overdue-alert"' in board
    assert console.seeded.numbers[F1] in board.split('id="overdue-alert"')[1].split("</div>")[0]
    assert "2.0 h overdue" in board


def _pair(portal: Any, measure: str) -> tuple[str, str]:
    """The two accounts of a person (not Mr Duan, whom the re-check frees) whose cases
    both hold ``measure``."""
    with portal.session() as s:
        cases = s.scalars(select(Case).where(Case.person_id.is_not(None))).all()
    by_person: dict[str, list[Case]] = {}
    for c in cases:
        by_person.setdefault(str(c.person_id), []).append(c)
    pairs = sorted(
        tuple(sorted(c.account_id for c in cs))
        for cs in by_person.values()
        if len(cs) == 2
        and all(c.measure.value == measure for c in cs)
        and not {c.account_id for c in cs} & set(P3)
    )
    return pairs[0]  # type: ignore[return-value]


def test_a_group_is_walked_case_by_case_with_a_shared_draft(console: Any) -> None:
    """A person's two restricted accounts, appealed on the same grounds, are one group;
    the reviewer decides each in turn, the first reason the draft of the second, each
    case with its own reason and audit entries; four eyes still apply in a group (a
    suspended person's); the queue says how many reviewers the deadlines need."""
    _users(console)
    mule = _pair(console, "restrict")
    first, second = (_queued(console, a) for a in mule)
    _queued(console, F1)  # another person: alone in the queue
    rita = TestClient(console.client.app)
    _login(rita, "rita")
    queue = rita.get("/console/queue").text
    assert "One person&#39;s accounts" in queue
    assert "a default: no person decided an appeal in the last 8 hours" in queue
    # 3 due within 48 h at the default 6 an hour: one reviewer; nobody active yet
    assert re.search(r'id="reviewers-needed">Reviewers needed [^<]*: 1;', queue)
    assert "0 active in the last hour" in queue
    [group_id] = re.findall(r'href="/console/groups/([0-9a-f]{16})\?at=\d+"', queue)
    page = rita.get(f"/console/groups/{group_id}")
    assert page.status_code == 200
    numbers = [console.seeded.numbers[a] for a in mule]
    assert all(n in page.text for n in numbers)
    # no link writes the reason for the reviewer
    crafted = rita.get(f"/console/groups/{group_id}?draft=Lifted+as+agreed+by+phone")
    assert "Lifted as agreed" not in crafted.text
    assert console.seeded.numbers[F1] not in page.text
    csrf = csrf_of(page.text)
    now_at = int(field_of(page.text, "appeal_id"))
    assert now_at in (first, second)
    # the form's token is checked as everywhere in the console
    forged = rita.post(f"/console/groups/{group_id}/decide", data={"csrf": "x"})
    assert forged.status_code == 403
    # a reason too short is refused, the typed text kept
    r = rita.post(
        f"/console/groups/{group_id}/decide",
        data={"csrf": csrf, "appeal_id": now_at, "action": "uphold", "reason": "ok"},
    )
    assert r.status_code == 400
    assert "write the reason" in r.text
    draft = "One-off transfers from strangers are forwarded within the hour."
    r = rita.post(
        f"/console/groups/{group_id}/decide",
        data={"csrf": csrf, "appeal_id": now_at, "action": "uphold", "reason": draft},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/groups/{group_id}?after={now_at}"
    page = rita.get(r.headers["location"])
    other = second if now_at == first else first
    assert int(field_of(page.text, "appeal_id")) == other
    assert f">{draft}</textarea>" in page.text  # the draft, to adapt
    adapted = draft.replace("strangers", "strangers to the second account")
    r = rita.post(
        f"/console/groups/{group_id}/decide",
        data={"csrf": csrf, "appeal_id": other, "action": "uphold", "reason": adapted},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = rita.get(r.headers["location"])
    assert 'id="group-done"' in page.text  # none of it waits any more
    with console.session() as s:
        appeals = {a.id: a for a in s.scalars(select(Appeal))}
        assert (appeals[now_at].decision_reason, appeals[other].decision_reason) == (
            draft,
            adapted,
        )
        assert appeals[now_at].state == appeals[other].state == AppealState.UPHELD
        for n in numbers:
            actions = s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.subject == f"case:{n}", AuditEntry.action.like("review:%")
                )
            ).all()
            assert list(actions) == ["review:claim", "review:decide"]
    # four eyes in a group: a suspended person's two accounts
    suspended = _pair(console, "suspend")
    held = [_queued(console, a) for a in suspended]
    queue = rita.get("/console/queue").text
    [group_id] = re.findall(r'href="/console/groups/([0-9a-f]{16})\?at=\d+"', queue)
    page = rita.get(f"/console/groups/{group_id}")
    at = int(field_of(page.text, "appeal_id"))
    r = rita.post(
        f"/console/groups/{group_id}/decide",
        data={"csrf": csrf, "appeal_id": at, "action": "uphold", "reason": draft},
        follow_redirects=False,
    )
    page = rita.get(r.headers["location"])
    assert "waits for a second reviewer" in page.text
    with console.session() as s:
        [proposal] = s.scalars(select(ReviewProposal)).all()
        assert proposal.appeal_id == at
        assert proposal.appeal_id in held
        assert s.get(Appeal, at).state == AppealState.QUEUED
    # in Chinese, the rate now measured: three decisions by rita within one hour
    sam = TestClient(console.client.app)
    _login(sam, "sam", lang="zh-CN")
    queue = sam.get("/console/queue").text
    assert "同一人的账号" in queue
    assert "按过去8小时实测（1个审核人时内3项决定）" in queue
    assert "过去一小时内有1名在工作" in queue
    page = sam.get(f"/console/groups/{group_id}")
    assert "等待第二位审核人员" in page.text
    dashboard = sam.get("/console/dashboard").text
    assert 'id="reviewers-needed"' in dashboard
    assert "所需审核人员" in dashboard
    # a group none of whose appeals waits any more
    gone = sam.get("/console/groups/0123456789abcdef")
    assert gone.status_code == 200
    assert "这一组已没有等待决定的申诉" in gone.text


def test_the_queue_pages_keep_the_filters_and_refuse_bad_links(console: Any) -> None:
    """Keyset pages, the highest priority first; next/previous links keep the filter
    and the size; a link made up or cut short is a 400 in the reader's language, and a
    page size past any sense is clamped."""
    _users(console)
    ids = [_queued(console, a) for a in (*_pair(console, "restrict"), F1)]
    rita = TestClient(console.client.app)
    _login(rita, "rita")
    first = rita.get("/console/queue?size=2")
    assert first.status_code == 200
    assert "3 appeals wait for a person." in first.text
    assert "2 of 3 queued appeals on this page." in first.text
    [nxt] = set(re.findall(r'rel="next" href="([^"]+)"', first.text))  # above and below
    assert "size=2" in nxt
    assert "after=" in nxt
    assert 'rel="prev"' not in first.text
    second = rita.get(nxt.replace("&amp;", "&"))
    assert "1 of 3 queued appeals on this page." in second.text
    [prev] = set(re.findall(r'rel="prev" href="([^"]+)"', second.text))
    assert "before=" in rita.get(prev.replace("&amp;", "&")).url.query.decode()
    shown = [int(n) for n in re.findall(r'href="/console/appeals/(\d+)"', first.text + second.text)]
    assert sorted(set(shown)) == sorted(ids)
    # the priority column falls from the first page's first row to the last page's last
    column = [float(p) for p in re.findall(r"<td>(\d+\.\d)</td>", first.text + second.text)]
    assert len(column) == 3
    assert column == sorted(column, reverse=True)
    with console.session() as s:
        measure = s.get(Appeal, ids[0]).case.measure.value
    filtered = rita.get(f"/console/queue?measure={measure}&size=1")
    assert filtered.status_code == 200
    for link in re.findall(r'rel="next" href="([^"]+)"', filtered.text):
        assert f"measure={measure}" in link
    assert rita.get("/console/queue?size=1000000000").status_code == 200  # clamped
    assert rita.get("/console/queue?size=-5").status_code == 200
    for bad in (
        "size=lots",
        "after=abc",
        "after=-3",
        "after=99999999999999999999",
        "before=2147483646",
        "measure=ban",
        "size=²",
        f"directive={'x' * 300}",
        f"after={'9' * 40}",
    ):
        r = rita.get(f"/console/queue?{bad}")
        assert r.status_code == 400, bad
        assert "Traceback" not in r.text
        assert 'id="queue-error"' in r.text
    rita.cookies.set("fb_lang", "zh-CN")
    assert "页面链接无效" in rita.get("/console/queue?after=abc").text
    assert "认领下一件申诉" in rita.get("/console/queue").text


def test_claim_next_takes_the_highest_priority_no_one_else_holds(console: Any) -> None:
    _users(console)
    with console.session() as s, s.begin():
        add_user(s, "tom", Role.REVIEWER, PASSWORD, datetime.now(UTC))
    ids = [_queued(console, a) for a in (*_pair(console, "restrict"), F1)]
    taken = []
    for name in ("rita", "sam", "sue", "rita", "tom"):
        client = TestClient(console.client.app)
        _login(client, name)
        queue = client.get("/console/queue").text
        assert 'id="claim-next"' in queue
        assert client.post("/console/queue/next", data={"csrf": "x"}).status_code == 403
        r = client.post(
            "/console/queue/next", data={"csrf": csrf_of(queue)}, follow_redirects=False
        )
        assert r.status_code == 303
        taken.append(r.headers["location"])
    assert taken[3] == taken[0]  # rita's own claim: still hers to work
    assert taken[4] == "/console/queue"  # every one held by another
    claimed = [int(t.rsplit("/", 1)[1]) for t in taken[:3]]
    assert sorted(claimed) == sorted(ids)
    with console.session() as s:
        appeals = [s.get(Appeal, i) for i in claimed]
        assert [a.claimed_by for a in appeals] == ["rita", "sam", "sue"]
        first = page(s, datetime.now(UTC), size=3)
    assert [i.appeal.id for i in first.items] == claimed
