"""The flows on a real database (SQLite and PostgreSQL): enforce, idempotency, stages,
the kill switch, amendments, a person's decision outranking the engine, lifting a
person everywhere, expiry, appeals; each with its events, audit entries, notices and
webhooks in the same transaction."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.audit import AuditEntry, verify
from fairban.cases import enforce as enforcement
from fairban.cases import flows, links, plan
from fairban.cases.decisions import stage_limit
from fairban.cases.flows import (
    downgrade_measure,
    expire_due,
    file_appeal,
    lift_measure,
    lift_person,
    uphold_measure,
)
from fairban.cases.links import check_token, issue_token
from fairban.cases.models import Case, CaseEvent, NoticeRecord
from fairban.cases.service import cases_of_person, messages_of, notices_of, timeline
from fairban.cases.transitions import CaseError, CaseState, DeciderKind, TransitionError
from fairban.config import Settings
from fairban.contract import Directive
from fairban.directives.flows import pause_directive, resume_directive
from fairban.directives.models import DirectiveRecord, DirectiveVersion
from fairban.errors import InputError, NotFoundError
from fairban.measures import Measure
from fairban.platforms.models import OutboxMessage
from fairban.platforms.webhooks import MessageKind
from tests.support.cases import NOW, D, Decide, case_of, make_directive, row_counts

ACTOR = "operator:test"
REVIEWER = "reviewer:wang"
SETTINGS = Settings(public_url="https://fb.example", answer_hours=48)

BASIC = [
    D("wechat:f1", "suspend", "p-f1"),
    D("qq:f1", "suspend", "p-f1"),
    D("alipay:mule", "restrict", "p-mule"),
    D("wechat:link", "monitor", "p-link"),
    D("wechat:nobody", "none", "p-nobody"),
]


def run(
    session: Session, directive: Directive, rows: Any, stage: float = 1.0, **kw: Any
) -> enforcement.EnforceReport:
    kw.setdefault("now", NOW)
    kw.setdefault("settings", SETTINGS)
    return enforcement.enforce(session, directive, rows, stage=stage, actor=ACTOR, **kw)


def body(message: OutboxMessage) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(message.payload)
    return loaded


def test_enforce_opens_cases_and_tells_platforms_and_people(
    session: Session, directive: Directive, decide: Decide
) -> None:
    report = run(session, directive, decide(directive, BASIC))
    assert report.steps["open"] == 4
    assert report.steps["enforce"] == 4
    assert dict(report.imposed) == {"suspend": 2, "restrict": 1, "monitor": 1}
    assert report.version == 1
    assert report.new_version
    assert report.amended_from is None
    assert report.notices == 6
    assert report.messages == 3
    assert report.states == {
        ("active", "suspend"): 2,
        ("active", "restrict"): 1,
        ("active", "monitor"): 1,
    }
    assert row_counts(session) == {
        "cases": 4,
        "case_events": 8,  # opened (proposed), then enforced (active)
        "audit_log": 1 + 8 + 1,  # the version, each step, the run's summary
        "notices": 6,
        "outbox": 3,
        "directive_versions": 1,
    }
    f1 = case_of(session, "wechat:f1")
    assert f1.number.startswith("FB-2019-")
    assert f1.state == CaseState.ACTIVE
    assert f1.decided_by == flows.ENGINE
    assert f1.decided_by_kind == DeciderKind.AUTOMATIC
    assert f1.person_id == "p-f1"
    assert f1.directive_version == 1
    assert f1.expires_at is None
    assert [(e.from_state, e.to_state) for e in timeline(session, f1)] == [
        (None, CaseState.PROPOSED),
        (CaseState.PROPOSED, CaseState.ACTIVE),
    ]
    assert session.scalars(select(Case).where(Case.account_id == "wechat:nobody")).first() is None


def test_the_webhook_body(session: Session, directive: Directive, decide: Decide) -> None:
    run(session, directive, decide(directive, BASIC))
    f1, mule = case_of(session, "wechat:f1"), case_of(session, "alipay:mule")
    [message] = messages_of(session, f1)
    assert message.kind == MessageKind.APPLY
    assert message.platform == "wechat"
    assert message.account_id == "wechat:f1"
    assert message.directive_id == directive.id
    sent = body(message)
    assert sent["case_number"] == f1.number
    assert sent["directive_id"] == directive.id
    assert sent["directive_version"] == 1
    assert sent["measure"] == "suspend"
    assert sent["functions"] == ["sign_in"]
    assert sent["keeps"] == ["appeal", "data_export"]
    assert [r["code"] for r in sent["reasons"]] == ["OUTREACH_STRANGERS", "PRESENCE_SUSTAINED"]
    assert all(set(r) == {"code", "text"} and r["text"] for r in sent["reasons"])
    assert sent["expires_at"] is None
    assert sent["person_id"] == "p-f1"
    assert sent["automated"] is True
    assert sent["appeal_url"].startswith(f"https://fb.example/c/{f1.number}?t=")
    assert sent["sms"].endswith(f"https://fb.example/c/{f1.number}")
    restrict = body(messages_of(session, mule)[0])
    assert restrict["measure"] == "restrict"
    assert restrict["functions"] == ["outgoing_payments", "new_contacts"]


def test_the_token_is_stored_only_as_its_hash(
    session: Session, directive: Directive, decide: Decide
) -> None:
    run(session, directive, decide(directive, BASIC))
    f1 = case_of(session, "wechat:f1")
    token = body(messages_of(session, f1)[0])["appeal_url"].split("?t=")[1]
    assert len(token) >= 32
    assert check_token(f1, token)
    assert not check_token(f1, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not check_token(f1, "")
    stored = notices_of(session, f1)
    assert all(token not in n.long_text and token not in n.sms for n in stored)
    assert all(f"/c/{f1.number}?t={links.TOKEN_MASK}" in n.long_text for n in stored)
    assert token not in f1.appeal_token_hash  # type: ignore[operator]
    fresh = issue_token(f1)
    assert check_token(f1, fresh)
    assert not check_token(f1, token)


def test_notices_in_both_languages_say_the_measure_and_why(
    session: Session, directive: Directive, decide: Decide
) -> None:
    run(session, directive, decide(directive, BASIC))
    f1 = case_of(session, "wechat:f1")
    zh, en = notices_of(session, f1, locale="zh-CN"), notices_of(session, f1, locale="en")
    assert [n.measure for n in zh] == ["suspend"]
    assert [n.measure for n in en] == ["suspend"]
    assert f1.number in zh[0].long_text
    assert "暂停使用" in zh[0].sms
    assert len(zh[0].sms) <= 70
    assert "101" in en[0].long_text
    assert "Laukkai" in en[0].long_text
    assert "automated means" in en[0].long_text
    assert directive.title in en[0].long_text
    assert notices_of(session, case_of(session, "wechat:link")) == []  # monitor is invisible


def test_running_it_twice_changes_nothing(
    session: Session, directive: Directive, decide: Decide
) -> None:
    rows = decide(directive, BASIC)
    run(session, directive, rows)
    before = row_counts(session)
    again = run(session, directive, decide(directive, BASIC), now=NOW + timedelta(hours=1))
    assert not again.changed
    assert again.unchanged == 4
    assert sum(again.steps.values()) == 0
    assert again.notices == again.messages == 0
    assert row_counts(session) == before


def test_a_dry_run_writes_nothing_and_says_what_it_would_do(
    session: Session, directive: Directive, decide: Decide
) -> None:
    before = row_counts(session)
    report = run(session, directive, decide(directive, BASIC), dry_run=True)
    assert report.dry_run
    assert report.changed
    assert report.steps["open"] == 4
    assert report.notices == 6
    assert report.states[("active", "suspend")] == 2
    assert row_counts(session) == before
    assert session.get(DirectiveRecord, directive.id) is None


def test_stages_grow_and_stay_stable(
    session: Session, directive: Directive, decide: Decide
) -> None:
    rows = [D(f"wechat:m{n:04d}", "monitor", f"p{n}") for n in range(700)]
    rows += [D(f"qq:s{n:03d}", "suspend", f"ps{n}") for n in range(40)]
    decisions = decide(directive, rows)

    def active() -> set[str]:
        return {
            c.account_id
            for c in session.scalars(select(Case).where(Case.state == CaseState.ACTIVE))
        }

    one = run(session, directive, decisions, stage=0.01)
    at_one = active()
    cases = list(session.scalars(select(Case)))
    assert at_one == {c.account_id for c in cases if c.stage_bucket < stage_limit(0.01)}
    assert 0 < len(at_one) < 30
    assert one.outside_stage == len(cases) - len(at_one)
    assert run(session, directive, decisions, stage=0.01).changed is False  # stable

    run(session, directive, decisions, stage=0.1)
    at_ten = active()
    assert at_one < at_ten
    assert at_ten == {c.account_id for c in cases if c.stage_bucket < stage_limit(0.1)}

    smaller = run(session, directive, decisions, stage=0.01)  # stages only grow
    assert not smaller.changed
    assert active() == at_ten

    run(session, directive, decisions, stage=1.0)
    assert at_ten < active()
    assert len(active()) == 740
    assert {c.state for c in session.scalars(select(Case))} == {CaseState.ACTIVE}


def test_principle_5_preview_then_stages_with_a_kill_switch(
    session: Session, directive: Directive, decide: Decide
) -> None:
    """Principle 5: a dry run first, then stages, and a kill switch that holds new
    measures until it is released."""
    rows = decide(directive, BASIC)
    preview = run(session, directive, rows, dry_run=True)
    assert preview.imposed["suspend"] == 2
    assert row_counts(session)["cases"] == 0

    run(session, directive, rows, stage=0.0001)  # almost nobody yet: the directive is loaded
    pause_directive(session, directive.id, actor=ACTOR, reason="too many appeals")
    record = session.get(DirectiveRecord, directive.id)
    assert record is not None
    assert record.paused
    assert record.pause_reason == "too many appeals"
    held = run(session, directive, rows)
    assert held.paused
    assert held.imposed.total() == 0
    assert held.held_paused == sum(
        1 for c in session.scalars(select(Case)) if c.state == CaseState.PROPOSED
    )
    assert row_counts(session)["outbox"] == 0

    pause_directive(session, directive.id, actor=ACTOR, reason="again")  # already: no-op
    resume_directive(session, directive.id, actor=ACTOR)
    assert not record.paused
    assert record.paused_by is None
    resumed = run(session, directive, rows)
    assert resumed.imposed["suspend"] == 2
    assert row_counts(session)["outbox"] == 3
    actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions.count("directive:pause") == 1
    assert actions.count("directive:resume") == 1
    with pytest.raises(NotFoundError):
        pause_directive(session, "no-such-directive", actor=ACTOR, reason="x")


def test_a_paused_directive_still_lifts_what_no_longer_holds(
    session: Session, directive: Directive, decide: Decide
) -> None:
    run(session, directive, decide(directive, BASIC))
    pause_directive(session, directive.id, actor=ACTOR, reason="review")
    report = run(session, directive, decide(directive, [D("wechat:f1", "suspend", "p-f1")]))
    assert report.lifted["suspend"] == 1
    assert report.lifted["restrict"] == 1
    assert case_of(session, "qq:f1").state == CaseState.LIFTED


def test_an_amendment_lifts_what_no_longer_holds(
    session: Session, tmp_path: Path, directive: Directive, decide: Decide
) -> None:
    run(session, directive, decide(directive, BASIC))
    amended = make_directive(tmp_path / "v2", areas=("Laukkai",))  # Mong La taken out
    new_rows = [
        D("wechat:f1", "suspend", "p-f1"),  # still holds
        D("qq:f1", "none", "p-f1"),  # no longer: lifted
        D("alipay:mule", "monitor", "p-mule"),  # weaker: lift what the person saw
        # wechat:link is not listed at all: none
        D("wechat:new", "restrict", "p-new"),  # new under version 2
    ]
    report = run(session, amended, decide(amended, new_rows), now=NOW + timedelta(days=1))
    assert report.version == 2
    assert report.amended_from == 1
    assert report.new_version
    assert report.lifted == {"suspend": 1, "monitor": 1}
    assert report.downgraded == {"restrict to monitor": 1}
    assert report.imposed == {"restrict": 1}

    versions = list(session.scalars(select(DirectiveVersion).order_by(DirectiveVersion.version)))
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].content_hash != versions[1].content_hash
    assert session.get(DirectiveRecord, directive.id).current_version == 2  # type: ignore[union-attr]

    f1 = case_of(session, "wechat:f1")
    assert f1.state == CaseState.ACTIVE
    assert f1.directive_version == 2
    assert len(messages_of(session, f1)) == 1  # nothing new told to anyone

    qq = case_of(session, "qq:f1")
    assert qq.state == CaseState.LIFTED
    lift = messages_of(session, qq)[-1]
    assert lift.kind == MessageKind.LIFT
    sent = body(lift)
    assert sent["measure"] == "suspend"
    assert sent["lift_reason"] == "directive_amended"
    assert sent["functions"] == ["sign_in"]
    assert sent["reasons"] == []
    notice = notices_of(session, qq, locale="en")[-1]
    assert notice.measure == "lift"
    assert "no longer covers your account" in notice.long_text
    assert "作为措施依据的指令已经修改" in notices_of(session, qq, locale="zh-CN")[-1].long_text

    mule = case_of(session, "alipay:mule")
    assert (mule.state, mule.measure) == (CaseState.DOWNGRADED, Measure.MONITOR)
    assert body(messages_of(session, mule)[-1])["lift_reason"] == "directive_amended"
    link = case_of(session, "wechat:link")
    assert link.state == CaseState.LIFTED
    assert messages_of(session, link) == []

    again = run(session, amended, decide(amended, new_rows), now=NOW + timedelta(days=2))
    assert not again.changed  # the amendment, loaded twice, is one amendment


def test_new_decisions_under_the_same_version_lift_with_their_own_reason(
    session: Session, directive: Directive, decide: Decide
) -> None:
    run(session, directive, decide(directive, BASIC))
    run(session, directive, decide(directive, [D("wechat:f1", "suspend", "p-f1")]))
    qq = case_of(session, "qq:f1")
    assert body(messages_of(session, qq)[-1])["lift_reason"] == plan.EVIDENCE_RECHECKED
    zh = notices_of(session, qq, locale="zh-CN")[-1].long_text
    en = notices_of(session, qq, locale="en")[-1].long_text
    assert "根据最新记录重新核查后" in zh
    assert "A new check of the latest records" in en


def test_principle_7_a_person_outranks_the_engine(
    session: Session, directive: Directive, decide: Decide
) -> None:
    """Principle 7: a person's lift is not undone by the same evidence; new evidence can
    impose the measure again, and the timeline says so."""
    run(session, directive, decide(directive, BASIC))
    f1 = case_of(session, "wechat:f1")
    lift_measure(
        session,
        f1,
        actor=REVIEWER,
        actor_kind=DeciderKind.PERSON,
        reason="appeal_granted",
        now=NOW,
        settings=SETTINGS,
    )
    assert f1.state == CaseState.LIFTED
    assert f1.judged_by == REVIEWER
    assert f1.judged_evidence_hash == f1.evidence_hash
    assert f1.judged_at == NOW

    same = run(session, directive, decide(directive, BASIC), now=NOW + timedelta(days=1))
    assert same.kept_by_person == 1
    assert not same.changed
    assert f1.state == CaseState.LIFTED

    newer = [D("wechat:f1", "suspend", "p-f1", evidence=7), *BASIC[1:]]
    report = run(session, directive, decide(directive, newer), now=NOW + timedelta(days=2))
    assert report.steps["reimpose"] == 1
    assert f1.state == CaseState.ACTIVE
    last = timeline(session, f1)[-1]
    assert (last.from_state, last.to_state) == (CaseState.LIFTED, CaseState.ACTIVE)
    assert last.note.startswith(f"new evidence since {REVIEWER}'s decision of ")
    assert [m.kind for m in messages_of(session, f1)] == [
        MessageKind.APPLY,
        MessageKind.LIFT,
        MessageKind.APPLY,
    ]


def test_a_person_downgrade_is_not_escalated_by_the_same_evidence(
    session: Session, directive: Directive, decide: Decide
) -> None:
    run(session, directive, decide(directive, BASIC))
    f1 = case_of(session, "wechat:f1")
    file_appeal(
        session, f1, actor="appellant:x", note="I was in Kunming", now=NOW, settings=SETTINGS
    )
    downgrade_measure(
        session,
        f1,
        to=Measure.RESTRICT,
        actor=REVIEWER,
        reason="review",
        now=NOW,
        settings=SETTINGS,
    )
    assert (f1.state, f1.measure, f1.decided_by) == (
        CaseState.DOWNGRADED,
        Measure.RESTRICT,
        REVIEWER,
    )
    report = run(session, directive, decide(directive, BASIC), now=NOW + timedelta(days=1))
    assert report.kept_by_person == 1
    assert f1.measure == Measure.RESTRICT
    assert not report.changed


def test_lift_person_lifts_every_account_on_every_platform(
    session: Session, tmp_path: Path, directive: Directive, decide: Decide
) -> None:
    """Principle 7: lifting is total, across accounts, platforms and directives."""
    other = make_directive(
        tmp_path / "other", directive_id="test-2019-other", platforms=("alipay", "wechat")
    )
    run(session, directive, decide(directive, BASIC))
    run(
        session,
        other,
        decide(other, [D("alipay:f1", "restrict", "p-f1"), D("wechat:f1", "monitor", "p-f1")]),
        stage=0.0001,
    )
    assert len(cases_of_person(session, "p-f1")) == 4
    lifted = lift_person(
        session,
        "p-f1",
        actor=REVIEWER,
        actor_kind=DeciderKind.PERSON,
        reason="appeal_granted",
        now=NOW,
        settings=SETTINGS,
    )
    assert {(c.directive_id, c.account_id) for c in lifted} == {
        (directive.id, "wechat:f1"),
        (directive.id, "qq:f1"),
        (other.id, "alipay:f1"),
        (other.id, "wechat:f1"),
    }
    assert {c.state for c in cases_of_person(session, "p-f1")} == {CaseState.LIFTED}
    assert all(c.judged_by == REVIEWER for c in lifted)
    assert cases_of_person(session, "p-f1", in_force=True) == []
    lifts = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == MessageKind.LIFT)
    ).all()
    assert sorted((m.platform, m.account_id) for m in lifts) == [
        ("qq", "qq:f1"),
        ("wechat", "wechat:f1"),
    ]
    assert all(body(m)["lift_reason"] == "appeal_granted" for m in lifts)
    assert case_of(session, "alipay:mule").state == CaseState.ACTIVE  # someone else
    assert (
        lift_person(
            session,
            "p-f1",
            actor=REVIEWER,
            actor_kind=DeciderKind.PERSON,
            reason="again",
            settings=SETTINGS,
        )
        == []
    )
    again = run(
        session,
        other,
        decide(other, [D("alipay:f1", "restrict", "p-f1")]),
        now=NOW + timedelta(days=1),
    )
    assert again.kept_by_person == 1
    assert again.imposed.total() == 0


def test_measures_expire(session: Session, tmp_path: Path, decide: Decide) -> None:
    expiring = make_directive(tmp_path / "x", measure_days=30)
    run(session, expiring, decide(expiring, BASIC))
    f1 = case_of(session, "wechat:f1")
    assert f1.expires_at == NOW + timedelta(days=30)
    assert body(messages_of(session, f1)[0])["expires_at"] == "2019-11-14T04:00:00Z"
    assert "2019年11月14日" in notices_of(session, f1, locale="zh-CN")[0].long_text
    assert expire_due(session, now=NOW + timedelta(days=29), settings=SETTINGS) == 0
    assert expire_due(session, now=NOW + timedelta(days=31), settings=SETTINGS) == 4
    assert f1.state == CaseState.EXPIRED
    sent = body(messages_of(session, f1)[-1])
    assert sent["lift_reason"] == "expired"
    assert sent["measure"] == "suspend"
    assert "reached its end date" in notices_of(session, f1, locale="en")[-1].long_text
    assert expire_due(session, now=NOW + timedelta(days=32), settings=SETTINGS) == 0
    same = run(session, expiring, decide(expiring, BASIC), now=NOW + timedelta(days=33))
    assert not same.changed
    assert same.kept_ended == 4
    newer = [D("wechat:f1", "suspend", "p-f1", evidence=3)]
    report = run(session, expiring, decide(expiring, newer), now=NOW + timedelta(days=34))
    assert report.steps["reimpose"] == 1
    assert f1.expires_at == NOW + timedelta(days=64)


def test_a_directive_past_its_term_ends_every_measure_with_a_notice(
    session: Session, tmp_path: Path, decide: Decide
) -> None:
    standing = make_directive(tmp_path / "u", until="2019-12-31T00:00:00+08:00")
    rows = decide(standing, BASIC)
    first = run(session, standing, rows)
    assert first.imposed == {"suspend": 2, "restrict": 1, "monitor": 1}
    record = session.get(DirectiveRecord, standing.id)
    assert record is not None
    assert record.stage == 1.0  # the stage reached is kept
    after = run(session, standing, rows, now=NOW + timedelta(days=90))
    assert after.lifted == {"suspend": 2, "restrict": 1, "monitor": 1}
    f1 = case_of(session, "wechat:f1")
    assert f1.state == CaseState.LIFTED
    assert body(messages_of(session, f1)[-1])["lift_reason"] == "directive_ended"
    zh = notices_of(session, f1, locale="zh-CN")[-1].long_text
    assert "作为措施依据的指令已到期，不再有效。" in zh
    assert not run(session, standing, rows, now=NOW + timedelta(days=91)).changed


def test_appeal_uphold_and_downgrade(
    session: Session, directive: Directive, decide: Decide
) -> None:
    run(session, directive, decide(directive, BASIC))
    f1, mule = case_of(session, "wechat:f1"), case_of(session, "alipay:mule")
    file_appeal(session, f1, actor="appellant:f1", note="wrong person", now=NOW, settings=SETTINGS)
    assert f1.state == CaseState.APPEALED
    assert f1.measure == Measure.SUSPEND
    uphold_measure(
        session, f1, actor=REVIEWER, reason="the evidence holds", now=NOW, settings=SETTINGS
    )
    assert f1.state == CaseState.UPHELD
    assert f1.judged_evidence_hash == f1.evidence_hash
    downgrade_measure(
        session,
        f1,
        to=Measure.RESTRICT,
        actor=REVIEWER,
        reason="review",
        now=NOW,
        settings=SETTINGS,
    )
    assert [m.kind for m in messages_of(session, f1)] == [MessageKind.APPLY, MessageKind.APPLY]
    sent = body(messages_of(session, f1)[-1])
    assert sent["measure"] == "restrict"
    assert sent["automated"] is False
    assert [n.measure for n in notices_of(session, f1, locale="zh-CN")] == ["suspend", "restrict"]
    assert "a person checked them" in notices_of(session, f1, locale="en")[-1].long_text

    downgrade_measure(
        session,
        mule,
        to=Measure.MONITOR,
        actor=REVIEWER,
        reason="review",
        now=NOW,
        settings=SETTINGS,
    )
    assert mule.state == CaseState.DOWNGRADED
    lift = messages_of(session, mule)[-1]
    assert lift.kind == MessageKind.LIFT
    assert body(lift)["measure"] == "restrict"
    assert notices_of(session, mule, locale="en")[-1].measure == "lift"

    with pytest.raises(CaseError, match="cannot downgrade restrict to suspend"):
        downgrade_measure(
            session, f1, to=Measure.SUSPEND, actor=REVIEWER, reason="x", settings=SETTINGS
        )
    lift_measure(
        session,
        f1,
        actor=REVIEWER,
        actor_kind=DeciderKind.PERSON,
        reason="review",
        now=NOW,
        settings=SETTINGS,
    )
    with pytest.raises(
        TransitionError, match=f"case {f1.number}: cannot appeal a case that is lifted"
    ):
        file_appeal(session, f1, actor="appellant:f1", settings=SETTINGS)
    with pytest.raises(TransitionError):
        uphold_measure(session, mule, actor=REVIEWER, reason="x", settings=SETTINGS)
    with pytest.raises(CaseError, match="needs a reason"):
        lift_measure(
            session,
            mule,
            actor=REVIEWER,
            actor_kind=DeciderKind.PERSON,
            reason=" ",
            settings=SETTINGS,
        )


def test_every_state_change_has_its_audit_entry_and_the_chain_holds(
    session: Session, tmp_path: Path, directive: Directive, decide: Decide
) -> None:
    run(session, directive, decide(directive, BASIC), stage=0.0001)  # all proposed
    lift_person(
        session,
        "p-f1",
        actor=REVIEWER,
        actor_kind=DeciderKind.PERSON,
        reason="appeal_granted",
        settings=SETTINGS,
    )
    run(session, directive, decide(directive, BASIC))
    mule = case_of(session, "alipay:mule")
    file_appeal(session, mule, actor="appellant:mule", now=NOW, settings=SETTINGS)
    amended = make_directive(tmp_path / "v2", areas=("Laukkai",))
    v2 = [D("alipay:mule", "suspend", "p-mule", evidence=2), D("wechat:link", "monitor", "p-link")]
    run(session, amended, decide(amended, v2))
    assert mule.state == CaseState.APPEALED
    assert mule.measure == Measure.SUSPEND
    downgrade_measure(
        session, mule, to=Measure.RESTRICT, actor=REVIEWER, reason="review", settings=SETTINGS
    )
    lift_measure(
        session,
        case_of(session, "wechat:link"),
        actor=REVIEWER,
        actor_kind=DeciderKind.PERSON,
        reason="review",
        settings=SETTINGS,
    )

    events = list(session.scalars(select(CaseEvent).order_by(CaseEvent.id)))
    entries = [
        e
        for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        if e.subject.startswith("case:")
    ]
    assert len(events) == len(entries) > 10
    numbers = {c.id: c.number for c in session.scalars(select(Case))}
    for event, entry in zip(events, entries, strict=True):
        payload = json.loads(entry.payload)
        assert entry.subject == f"case:{numbers[event.case_id]}"
        assert payload["to"] == event.to_state.value
        assert payload.get("from") == (event.from_state.value if event.from_state else None)
        assert entry.actor == event.actor
    assert {e.action for e in entries} == {
        "case:decision:record",
        "case:decision:revise",
        "case:decision:withdraw",
        "case:measure:apply",
        "case:measure:downgrade",
        "case:measure:lift",
        "case:appeal:file",
    }
    report = verify(session)
    assert report.ok, report.problems


def test_principle_3_every_measure_explains_itself(
    session: Session, directive: Directive, decide: Decide
) -> None:
    """Principle 3: every noticed measure states its facts with their weights, the
    directive, the legal basis, automation and the way to appeal, in both languages."""
    run(session, directive, decide(directive, BASIC))
    for case in session.scalars(select(Case).where(Case.measure != Measure.MONITOR)):
        assert json.loads(case.reasons)
        assert json.loads(case.evidence)
        for notice in notices_of(session, case):
            text = notice.long_text
            assert case.number in text
            assert case.account_id in text
            assert "+4.0" in text  # the main fact, with its weight
            assert directive.id in text
            assert "Notice of 14 October 2019" in text
            assert f"/c/{case.number}?t=" in text


def test_principle_4_graded_measures(
    session: Session, directive: Directive, decide: Decide
) -> None:
    """Principle 4: monitor is invisible, restrict limits payments and new contacts,
    suspend blocks sign-in but keeps appeal and data export."""
    run(session, directive, decide(directive, BASIC))
    functions = {
        body(m)["measure"]: (body(m)["functions"], body(m)["keeps"])
        for m in session.scalars(select(OutboxMessage))
    }
    assert functions == {
        "suspend": (["sign_in"], ["appeal", "data_export"]),
        "restrict": (["outgoing_payments", "new_contacts"], ["appeal", "data_export"]),
    }
    link = case_of(session, "wechat:link")
    assert link.state == CaseState.ACTIVE
    assert link.measure == Measure.MONITOR
    assert messages_of(session, link) == []
    assert notices_of(session, link) == []
    assert {n.measure for n in session.scalars(select(NoticeRecord))} == {"suspend", "restrict"}


def test_decisions_for_another_directive_are_refused(
    session: Session, tmp_path: Path, directive: Directive, decide: Decide
) -> None:
    narrow = make_directive(tmp_path / "n", directive_id="narrow", platforms=("wechat",))
    rows = decide(directive, BASIC)
    before = row_counts(session)
    with pytest.raises(InputError) as caught:
        run(session, narrow, rows)
    assert str(caught.value) == (
        "decisions.csv row 4: platform 'alipay' is not one of the directive's platforms (wechat)"
    )
    session.rollback()
    assert row_counts(session) == before
