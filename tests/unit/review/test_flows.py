"""Reviewers' decisions on queued appeals, on a real database (SQLite and PostgreSQL):
uphold, downgrade and lift, each carried out with its notices, webhooks and audit
entries; four eyes where the stakes are high (a suspension upheld, a high-risk
suspension lifted): the proposal waits until a senior reviewer, not its proposer,
approves it, and a rejection puts the appeal back in the queue."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.appeals.models import Appeal, AppealState
from fairban.audit import verify
from fairban.audit.actions import Action
from fairban.cases.models import Case, NoticeRecord
from fairban.cases.service import messages_of, notices_of
from fairban.cases.transitions import CaseState
from fairban.measures import Measure
from fairban.platforms.webhooks import MessageKind
from fairban.review.flows import DecisionError, approve, decide, reject
from fairban.review.models import ConsoleUser, ProposalState, ReviewAction, Role
from fairban.review.queue import CLAIM_TTL, claim
from tests.support.appeals import (
    SETTINGS,
    actions,
    audited,
    console_user,
    file,
    lift_notices,
    lifts,
    queue_for_a_person,
)
from tests.support.cases import NOW

REASON = "the evidence does not show this person in the areas"
F1_ACCOUNTS = ("wechat:f1", "qq:f1", "alipay:f1")


ROLES = {
    "rita": Role.REVIEWER,
    "tom": Role.REVIEWER,
    "sam": Role.SENIOR,
    "sue": Role.SENIOR,
    "olga": Role.OPERATOR,
    "ada": Role.AUDITOR,
}


class People(dict[str, ConsoleUser]):
    """Two reviewers, two seniors, an operator and an auditor, each added (``add_user``:
    an argon2 hash, slow on purpose) when a test first names them."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def __missing__(self, name: str) -> ConsoleUser:
        user = self[name] = console_user(self.session, name, ROLES[name])
        return user


@pytest.fixture
def people(session: Session) -> People:
    return People(session)


@pytest.fixture
def queued(session: Session, enforced: dict[str, Case], blobs: BlobStore) -> dict[str, Appeal]:
    """An appeal waiting for a person on every case a person sees, by account."""
    return {
        a: queue_for_a_person(session, enforced[a], blobs)
        for a in ("wechat:f1", "qq:f1", "alipay:mule", "wechat:low", "wechat:solo")
    }


@pytest.mark.parametrize(
    ("account", "action", "to", "four_eyes"),
    [
        ("wechat:f1", ReviewAction.UPHOLD, None, True),  # a suspension upheld
        ("wechat:f1", ReviewAction.LIFT, None, True),  # a high-risk (0.98) suspension lifted
        ("wechat:low", ReviewAction.LIFT, None, False),  # a suspension of risk 0.6
        ("wechat:low", ReviewAction.UPHOLD, None, True),
        ("alipay:mule", ReviewAction.UPHOLD, None, False),  # a restriction
        ("alipay:mule", ReviewAction.LIFT, None, False),
        ("wechat:f1", ReviewAction.DOWNGRADE, Measure.RESTRICT, True),  # lowers a high one
        ("wechat:f1", ReviewAction.DOWNGRADE, Measure.MONITOR, True),  # ends what is seen
        ("wechat:low", ReviewAction.DOWNGRADE, Measure.MONITOR, False),
        ("alipay:mule", ReviewAction.DOWNGRADE, Measure.MONITOR, False),
    ],
)
def test_which_decisions_need_a_second_reviewer(
    session: Session,
    queued: dict[str, Appeal],
    people: dict[str, ConsoleUser],
    account: str,
    action: ReviewAction,
    to: Measure | None,
    four_eyes: bool,
) -> None:
    appeal = queued[account]
    rita = people["rita"]
    result = decide(session, appeal, rita, action, REASON, SETTINGS, to_measure=to, now=NOW)
    assert result.done is not four_eyes
    assert (result.proposal is not None) is four_eyes
    assert (appeal.state == AppealState.QUEUED) is four_eyes


def test_a_restriction_upheld(
    session: Session, queued: dict[str, Appeal], people: dict[str, ConsoleUser]
) -> None:
    appeal = queued["alipay:mule"]
    case = appeal.case
    decide(session, appeal, people["rita"], ReviewAction.UPHOLD, REASON, SETTINGS, now=NOW)
    assert (case.state, case.measure) == (CaseState.UPHELD, Measure.RESTRICT)
    assert appeal.state == AppealState.UPHELD
    assert (appeal.decided_by, appeal.decision_reason, appeal.decided_at) == (
        "user:rita",
        REASON,
        NOW,
    )
    assert actions(session, f"case:{case.number}")[-2:] == [
        Action.CASE_APPEAL_UPHOLD,
        Action.REVIEW_DECIDE,
    ]
    (decided,) = audited(session, Action.REVIEW_DECIDE)
    assert decided == {"appeal": appeal.id, "decision": "uphold", "reason": REASON, "to": None}
    assert lifts(session) == {}


def test_a_downgrade_to_monitor_lifts_what_the_person_sees(
    session: Session, queued: dict[str, Appeal], people: dict[str, ConsoleUser]
) -> None:
    appeal = queued["alipay:mule"]
    case = appeal.case
    result = decide(
        session,
        appeal,
        people["tom"],
        ReviewAction.DOWNGRADE,
        REASON,
        SETTINGS,
        to_measure=Measure.MONITOR,
        now=NOW,
    )
    assert result.done
    assert (case.state, case.measure) == (CaseState.DOWNGRADED, Measure.MONITOR)
    assert appeal.state == AppealState.DOWNGRADED
    assert lifts(session)["alipay:mule"]["measure"] == "restrict"  # the measure that ends
    assert set(lift_notices(session, case)) == {"zh-CN", "en"}


def test_a_suspension_downgraded_to_a_restriction_is_sent_as_a_new_measure(
    session: Session, queued: dict[str, Appeal], people: dict[str, ConsoleUser]
) -> None:
    appeal = queued["qq:f1"]
    case = appeal.case
    result = decide(
        session,
        appeal,
        people["rita"],
        ReviewAction.DOWNGRADE,
        REASON,
        SETTINGS,
        to_measure=Measure.RESTRICT,
        now=NOW,
    )
    assert result.proposal is not None  # a high-risk suspension lowered: four eyes
    assert (case.state, case.measure) == (CaseState.APPEALED, Measure.SUSPEND)
    assert [m.kind for m in messages_of(session, case)] == [MessageKind.APPLY]
    (proposed,) = audited(session, Action.REVIEW_PROPOSE)
    assert (proposed["decision"], proposed["to"]) == ("downgrade", "restrict")
    approve(session, result.proposal, people["sam"], "", SETTINGS, now=NOW)
    assert (case.state, case.measure) == (CaseState.DOWNGRADED, Measure.RESTRICT)
    assert appeal.decided_by == "user:rita+sam"
    sent = messages_of(session, case)
    assert [m.kind for m in sent] == [MessageKind.APPLY, MessageKind.APPLY]
    body = json.loads(sent[-1].payload)
    assert (body["measure"], body["automated"]) == ("restrict", False)  # a person decided


@pytest.mark.parametrize("to", [None, Measure.SUSPEND, Measure.RESTRICT])
def test_a_downgrade_names_a_weaker_measure(
    session: Session,
    queued: dict[str, Appeal],
    people: dict[str, ConsoleUser],
    to: Measure | None,
) -> None:
    appeal = queued["alipay:mule"]  # a restriction
    with pytest.raises(DecisionError, match="a downgrade names a weaker measure"):
        decide(
            session,
            appeal,
            people["rita"],
            ReviewAction.DOWNGRADE,
            REASON,
            SETTINGS,
            to_measure=to,
            now=NOW,
        )
    assert appeal.state == AppealState.QUEUED
    assert appeal.case.state == CaseState.APPEALED


def test_a_low_risk_suspension_is_lifted_on_every_account_of_the_person(
    session: Session,
    enforced: dict[str, Case],
    queued: dict[str, Appeal],
    people: dict[str, ConsoleUser],
) -> None:
    appeal = queued["wechat:low"]
    decide(session, appeal, people["rita"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    for account in ("wechat:low", "qq:low"):
        case = enforced[account]
        assert case.state == CaseState.LIFTED
        assert case.judged_by == "user:rita"
        assert set(lift_notices(session, case)) == {"zh-CN", "en"}
    assert {a: b["lift_reason"] for a, b in lifts(session).items()} == {
        "wechat:low": "appeal_granted",
        "qq:low": "appeal_granted",
    }
    assert appeal.state == AppealState.GRANTED
    assert appeal.decided_by == "user:rita"
    assert enforced["wechat:f1"].state == CaseState.APPEALED  # someone else's
    assert verify(session).ok


def test_upholding_a_suspension_waits_for_a_senior(
    session: Session, queued: dict[str, Appeal], people: dict[str, ConsoleUser]
) -> None:
    appeal = queued["wechat:f1"]
    case = appeal.case
    result = decide(session, appeal, people["rita"], ReviewAction.UPHOLD, REASON, SETTINGS, now=NOW)
    proposal = result.proposal
    assert proposal is not None
    assert (proposal.state, proposal.proposed_by, proposal.reason) == (
        ProposalState.PENDING,
        "rita",
        REASON,
    )
    assert appeal.state == AppealState.QUEUED  # nothing carried out yet
    assert case.state == CaseState.APPEALED
    assert Action.REVIEW_DECIDE not in actions(session)
    (proposed,) = audited(session, Action.REVIEW_PROPOSE)
    assert proposed["decision"] == "uphold"
    with pytest.raises(DecisionError, match="already waits for a second reviewer"):
        decide(session, appeal, people["tom"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)

    later = NOW + timedelta(hours=1)
    approve(session, proposal, people["sam"], "agreed", SETTINGS, now=later)
    assert (proposal.state, proposal.second_by, proposal.second_at) == (
        ProposalState.APPROVED,
        "sam",
        later,
    )
    assert case.state == CaseState.UPHELD
    assert appeal.state == AppealState.UPHELD
    assert appeal.decided_by == "user:rita+sam"
    assert actions(session, f"case:{case.number}")[-3:] == [
        Action.REVIEW_APPROVE,
        Action.CASE_APPEAL_UPHOLD,
        Action.REVIEW_DECIDE,
    ]
    with pytest.raises(DecisionError, match="already answered"):
        approve(session, proposal, people["sue"], "me too", SETTINGS, now=later)


def test_a_high_risk_lift_is_carried_out_once_a_senior_approves(
    session: Session,
    enforced: dict[str, Case],
    queued: dict[str, Appeal],
    people: dict[str, ConsoleUser],
) -> None:
    appeal = queued["wechat:f1"]
    result = decide(session, appeal, people["tom"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    assert result.proposal is not None
    assert lifts(session) == {}  # still in force everywhere
    assert {enforced[a].state for a in F1_ACCOUNTS} == {CaseState.APPEALED, CaseState.ACTIVE}

    approve(session, result.proposal, people["sue"], "", SETTINGS, now=NOW)
    assert {enforced[a].state for a in F1_ACCOUNTS} == {CaseState.LIFTED}
    assert set(lifts(session)) == set(F1_ACCOUNTS)
    assert all(set(lift_notices(session, enforced[a])) == {"zh-CN", "en"} for a in F1_ACCOUNTS)
    # the person's other appeal is granted with it
    assert queued["qq:f1"].state == AppealState.GRANTED
    assert appeal.state == AppealState.GRANTED
    assert appeal.decided_by == "user:tom+sue"


def test_lifting_a_restriction_that_would_end_a_high_risk_suspension_waits_for_a_senior(
    session: Session,
    enforced: dict[str, Case],
    people: dict[str, ConsoleUser],
    blobs: BlobStore,
) -> None:
    # alipay:f1 is a restriction, but a lift ends every measure of the person (F1)
    appeal = queue_for_a_person(session, enforced["alipay:f1"], blobs)
    result = decide(session, appeal, people["rita"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    assert result.proposal is not None
    assert lifts(session) == {}
    approve(session, result.proposal, people["sam"], "", SETTINGS, now=NOW)
    assert {enforced[a].state for a in F1_ACCOUNTS} == {CaseState.LIFTED}


def test_nobody_approves_their_own_proposal(
    session: Session, queued: dict[str, Appeal], people: dict[str, ConsoleUser]
) -> None:
    appeal = queued["wechat:f1"]
    result = decide(session, appeal, people["sam"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    proposal = result.proposal
    assert proposal is not None
    with pytest.raises(DecisionError, match="must be another person"):
        approve(session, proposal, people["sam"], "", SETTINGS, now=NOW)
    with pytest.raises(DecisionError, match="only a senior reviewer"):
        approve(session, proposal, people["rita"], "", SETTINGS, now=NOW)
    with pytest.raises(DecisionError, match="only a senior reviewer"):
        reject(session, proposal, people["tom"], "I do not agree at all", now=NOW)
    assert proposal.state == ProposalState.PENDING
    assert appeal.case.state == CaseState.APPEALED
    assert Action.REVIEW_APPROVE not in actions(session)


def test_a_rejected_proposal_puts_the_appeal_back_in_the_queue(
    session: Session, queued: dict[str, Appeal], people: dict[str, ConsoleUser]
) -> None:
    appeal = queued["wechat:f1"]
    claim(session, appeal, people["rita"], NOW)
    result = decide(session, appeal, people["rita"], ReviewAction.UPHOLD, REASON, SETTINGS, now=NOW)
    proposal = result.proposal
    assert proposal is not None
    with pytest.raises(DecisionError, match="write why"):
        reject(session, proposal, people["sam"], "  no ", now=NOW)
    reject(session, proposal, people["sam"], "the phone was stolen in 2019", now=NOW)
    assert (proposal.state, proposal.second_by, proposal.second_note) == (
        ProposalState.REJECTED,
        "sam",
        "the phone was stolen in 2019",
    )
    assert appeal.state == AppealState.QUEUED
    assert (appeal.claimed_by, appeal.claimed_at) == (None, None)  # anyone may take it now
    assert appeal.case.state == CaseState.APPEALED
    (rejected,) = audited(session, Action.REVIEW_REJECT)
    assert rejected["note"] == "the phone was stolen in 2019"
    with pytest.raises(DecisionError, match="already answered"):
        approve(session, proposal, people["sue"], "", SETTINGS, now=NOW)
    # another reviewer decides again, from the start
    again = decide(session, appeal, people["tom"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    assert again.proposal is not None
    assert again.proposal.id != proposal.id


def test_a_claimed_appeal_refuses_another_reviewer(
    session: Session, queued: dict[str, Appeal], people: dict[str, ConsoleUser]
) -> None:
    appeal = queued["alipay:mule"]
    claim(session, appeal, people["rita"], NOW)
    with pytest.raises(DecisionError, match="claimed by rita"):
        decide(session, appeal, people["tom"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    assert appeal.state == AppealState.QUEUED
    # a claim left alone too long keeps nobody off
    later = NOW + CLAIM_TTL + timedelta(seconds=1)
    decide(session, appeal, people["tom"], ReviewAction.LIFT, REASON, SETTINGS, now=later)
    assert appeal.state == AppealState.GRANTED
    assert (appeal.claimed_by, appeal.claimed_at) == (None, None)


def test_only_reviewers_decide_and_only_queued_appeals_with_a_reason(
    session: Session,
    enforced: dict[str, Case],
    queued: dict[str, Appeal],
    people: dict[str, ConsoleUser],
    blobs: BlobStore,
) -> None:
    appeal = queued["alipay:mule"]
    for name in ("olga", "ada"):
        with pytest.raises(DecisionError, match="only reviewers decide appeals"):
            decide(session, appeal, people[name], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    with pytest.raises(DecisionError, match="at least 10 characters"):
        decide(session, appeal, people["rita"], ReviewAction.LIFT, "  ok  ", SETTINGS, now=NOW)
    received, _ = file(session, enforced["alipay:f1"], blobs)  # not re-checked yet
    with pytest.raises(DecisionError, match="not waiting for a decision"):
        decide(session, received, people["rita"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    decide(session, appeal, people["rita"], ReviewAction.UPHOLD, REASON, SETTINGS, now=NOW)
    with pytest.raises(DecisionError, match="not waiting for a decision"):
        decide(session, appeal, people["tom"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    assert session.scalars(select(Appeal.state).where(Appeal.id == appeal.id)).one() == (
        AppealState.UPHELD
    )


# --- the decision's notice ----------------------------------------------------------------


def last_notice_id(session: Session) -> int:
    return session.scalar(select(func.max(NoticeRecord.id))) or 0


def test_an_uphold_is_told_once_with_the_reason_the_accounts_and_the_next_steps(
    session: Session, queued: dict[str, Appeal], people: dict[str, ConsoleUser]
) -> None:
    appeal = queued["alipay:mule"]
    case = appeal.case
    since, before = last_notice_id(session), len(messages_of(session, case))
    decide(session, appeal, people["rita"], ReviewAction.UPHOLD, REASON, SETTINGS, now=NOW)
    notices = [n for n in notices_of(session, case) if n.id > since]
    assert sorted(n.locale for n in notices) == ["en", "zh-CN"]  # once, in every language
    assert {n.measure for n in notices} == {"restrict"}  # the measure stands
    by = {n.locale: n for n in notices}
    en, zh = by["en"].long_text, by["zh-CN"].long_text
    assert REASON in en  # the reviewer's words, as written
    assert REASON in zh
    assert "upheld the measure" in en
    assert "维持原措施" in zh
    assert "alipay:mule: restricted" in en  # the account as it is now
    assert "What you can do next" in en
    assert "people's court" in en
    assert "您接下来可以" in zh
    assert "人民法院" in zh
    assert "appeal again" not in en  # an upheld case is not appealed again
    assert "?t=…" in en  # the stored copy masks the token
    sent = messages_of(session, case)[before:]
    assert len(sent) == 1  # one webhook
    assert sent[0].kind == MessageKind.APPLY
    body = json.loads(sent[0].payload)
    assert (body["measure"], body["decision"], body["automated"]) == ("restrict", "upheld", False)
    assert body["sms"] == by["zh-CN"].sms
    assert "维持原措施" in body["sms"]
    assert "?t=" in body["appeal_url"]  # a fresh token
    assert "…" not in body["appeal_url"]
    assert lifts(session) == {}


def test_a_downgrade_is_told_once_as_the_new_measure_with_a_further_review(
    session: Session, queued: dict[str, Appeal], people: dict[str, ConsoleUser]
) -> None:
    appeal = queued["wechat:solo"]  # a suspension, no person
    case = appeal.case
    result = decide(
        session,
        appeal,
        people["rita"],
        ReviewAction.DOWNGRADE,
        REASON,
        SETTINGS,
        to_measure=Measure.RESTRICT,
        now=NOW,
    )
    if result.proposal is not None:
        approve(session, result.proposal, people["sam"], "", SETTINGS, now=NOW)
    restricts = [n for n in notices_of(session, case) if n.measure == "restrict"]
    assert sorted(n.locale for n in restricts) == ["en", "zh-CN"]
    en = next(n.long_text for n in restricts if n.locale == "en")
    assert REASON in en
    assert "reduced the measure to a restriction" in en
    assert "Ask for a further review" in en  # a downgraded case can be appealed again
    last = json.loads(messages_of(session, case)[-1].payload)
    assert (last["measure"], last["decision"]) == ("restrict", "downgraded")


def test_a_grant_tells_the_appeals_case_the_decision_and_the_others_their_lift(
    session: Session,
    enforced: dict[str, Case],
    queued: dict[str, Appeal],
    people: dict[str, ConsoleUser],
) -> None:
    appeal = queued["wechat:low"]
    decide(session, appeal, people["rita"], ReviewAction.LIFT, REASON, SETTINGS, now=NOW)
    own = lift_notices(session, enforced["wechat:low"])
    other = lift_notices(session, enforced["qq:low"])
    assert set(own) == set(other) == {"zh-CN", "en"}  # one lift notice each
    assert REASON in own["en"]
    assert "granted it" in own["en"]
    assert "QQ qq:low: no measure" in own["en"]  # every account as it is now
    assert REASON not in other["en"]
    bodies = lifts(session)
    assert (bodies["wechat:low"]["decision"], bodies["qq:low"]["decision"]) == ("granted", None)
